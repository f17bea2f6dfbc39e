"""Every action inside the action box before it is compared, executed, recorded or trained on, even
from an expert that overshoots it (a high-gain closed-loop controller; issue 22)."""

from __future__ import annotations

import numpy as np

import examples.point_reach  # noqa: F401  (registers point_reach)
import sim
from hgdagger.common import wire
from hgdagger.common.record_queue import RecordQueue
from sim.demos import collect_demos
from sim.plugin import register_gym_task
from sim.supervisor import SupervisorConfig
from teleop.gate import GateConfig, TakeoverGate, TakeoverMode
from teleop.human_side import HumanSide, ScriptedInput
from teleop.runtime import RobotRuntime, RuntimeConfig


def overshooting(obs):
    """A high-gain target: past the goal by five times the way left, outside the [-1, 1] box at first."""
    return obs["goal"] + 5.0 * (obs["goal"] - obs["pos"])


register_gym_task("point_overshoot", "examples/PointReach-v0", expert=overshooting)


def test_an_overshooting_expert_is_clipped_and_keeps_its_raw_action_beside():
    driver = sim.make_driver("point_overshoot", seed=1)
    expert = sim.make_expert("point_overshoot")
    action = expert.act(driver.observe())
    assert np.all(np.abs(action) <= 1.0) and np.abs(expert.last_raw).max() > 1.0
    np.testing.assert_array_equal(action, np.clip(expert.last_raw, -1, 1))


def test_the_supervisor_compares_the_actions_the_robot_would_run_not_the_raw_ones():
    supervisor = sim.make_supervisor("point_overshoot", SupervisorConfig())
    obs = {"pos": np.array([0.0, 0.0]), "goal": np.array([0.9, -0.9])}  # the expert asks for (5.4, -5.4)
    assert supervisor.judge(obs, np.array([1.5, -1.39]), np.array([9.0, -9.0])) == 0.0  # both run as (1, -1)
    decision = supervisor.step(obs, np.array([1.0, -1.0]))
    assert decision.divergence == 0.0 and np.array_equal(decision.command, [1.0, -1.0])


def test_demonstrations_through_the_runtime_record_only_in_box_actions():
    driver = sim.make_driver("point_overshoot", seed=2)
    human = HumanSide(TakeoverGate(GateConfig(mode=TakeoverMode.DEADMAN, start_in_human=True)),
                      ScriptedInput(expert=sim.make_expert("point_overshoot"), always=True))
    records = RecordQueue()
    runtime = RobotRuntime(driver, None, RuntimeConfig(realtime=False, lockstep=True), records, human)
    runtime.start()
    report = runtime.run_episode(driver.max_steps)
    steps = [m for m in records.drain() if isinstance(m, wire.StepRecord)]
    assert report.human_steps > 0
    for s in steps:
        assert np.all(np.abs(s.action) <= 1.0)
        assert not np.isfinite(s.human_action).all() or np.all(np.abs(s.human_action) <= 1.0)


def test_scripted_demonstrations_label_what_the_environment_runs():
    demos = collect_demos("point_overshoot", 2, progress=False)
    assert all(np.abs(d.actions).max() <= 1.0 for d in demos)
    assert max(np.abs(d.actions).max() for d in demos) == 1.0  # the expert did overshoot
