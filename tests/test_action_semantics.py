"""Action semantics declared by the task (issue 22): a displacement or velocity component holds at no
motion and is never ramped toward standing still; targets (the arm's joints) hold and ramp as before."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

import examples.point_reach  # noqa: F401  (registers point_reach)
import sim
from hgdagger.common.types import RobotSpec, Source
from sim.plugin import register_gym_task
from teleop.command_shaper import CommandShaper
from teleop.gate import GateConfig, GatePhase, HumanIntent, TakeoverGate, TakeoverMode
from teleop.safety import SafetyLimits

# Three displacements and an absolute gripper in [-1, 1], as a plugged-in manipulation benchmark has.
SPEC = RobotSpec("delta", ("dx", "dy", "dz"), -np.ones(3), np.ones(3), np.full(3, 2.0 * 20), 1 / 20,
                 gripper_range=(-1.0, 1.0), relative_action=(True, True, True, False))
LIMITS = SafetyLimits.from_spec(SPEC)


def test_the_spec_says_which_components_are_motions():
    assert LIMITS.relative.tolist() == [True, True, True, False]
    np.testing.assert_array_equal(SPEC.still_action(np.array([0.7, -0.2, 0.4, 0.9])), [0, 0, 0, 0.9])
    assert SafetyLimits.from_spec(sim.make_driver("reach").spec).relative is None  # the arm: targets, as before


def test_a_hold_of_a_delta_task_commands_no_motion_and_keeps_the_gripper():
    shaper = CommandShaper(LIMITS, resume_ramp_steps=10)
    shaper.last_sent = np.array([0.8, -0.5, 0.3, 1.0])
    held = shaper.shape(Source.HOLD, None)
    np.testing.assert_array_equal(held.command, [0.0, 0.0, 0.0, 1.0])


def test_resuming_after_a_hold_runs_the_policys_deltas_unscaled_and_ramps_only_the_gripper():
    shaper = CommandShaper(LIMITS, resume_ramp_steps=10)
    shaper.last_sent = np.array([0.0, 0.0, 0.0, -1.0])
    shaper.sent(shaper.shape(Source.HOLD, None).command)
    proposed = np.array([1.13, 0.81, -0.4, 1.0])  # the 1.13 and 0.81 were sent as 0.11 and 0.16
    out = shaper.shape(Source.POLICY, proposed)
    np.testing.assert_array_equal(out.command[:3], [1.0, 0.81, -0.4])  # clipped to the box, not ramped
    assert out.command[3] < 0.0  # the gripper target still ramps in from where it was


@given(st.lists(st.one_of(st.none(), st.lists(st.floats(-3, 3), min_size=4, max_size=4)), min_size=1, max_size=40))
def test_deltas_are_either_no_motion_or_exactly_the_clipped_command(commands):
    """Whatever mix of holds and commands, a delta is never shrunk toward standing still."""
    shaper = CommandShaper(LIMITS, resume_ramp_steps=10)
    shaper.last_sent = np.zeros(4)
    for c in commands:
        out = shaper.shape(Source.HOLD if c is None else Source.POLICY, None if c is None else np.array(c))
        shaper.sent(out.command)
        expected = np.zeros(3) if c is None else np.clip(c[:3], -1, 1)
        np.testing.assert_array_equal(out.command[:3], expected)
        assert np.all(np.abs(out.command) <= 1.0)


def test_a_handover_switches_deltas_at_once_and_ramps_the_gripper():
    gate = TakeoverGate(GateConfig(mode=TakeoverMode.DEADMAN, ramp_steps=5))
    gate.bound_ramps(LIMITS.max_step, LIMITS.relative)
    human = np.array([-0.9, 0.5, 0.2, 1.0])
    out = gate.step(HumanIntent(deadman_held=True, command=human), np.array([0.9, 0.0, 0.0, -1.0]),
                    last_sent=np.array([0.9, 0.0, 0.0, -1.0]))
    np.testing.assert_array_equal(out.command[:3], human[:3])
    assert -1.0 < out.command[3] < 1.0 and out.phase is GatePhase.TO_HUMAN
    all_deltas = TakeoverGate(GateConfig(mode=TakeoverMode.DEADMAN, ramp_steps=5))
    all_deltas.bound_ramps(np.ones(2), np.array([True, True]))
    out = all_deltas.step(HumanIntent(deadman_held=True, command=np.array([0.5, -0.5])), np.zeros(2), np.zeros(2))
    assert out.phase is GatePhase.HUMAN and np.array_equal(out.command, [0.5, -0.5])  # no ramp at all


register_gym_task("point_deltas", "examples/PointReach-v0", expert=examples.point_reach.expert, action_kinds="delta")


def test_the_gym_driver_holds_a_delta_task_still():
    driver = sim.make_driver("point_deltas", seed=0)
    assert driver.spec.relative_action == (True, True)
    np.testing.assert_array_equal(driver.rest_command(driver.observe()), [0.0, 0.0])
    driver.command(np.array([0.6, -0.3]))
    driver.hold()
    np.testing.assert_array_equal(driver.rest_command(driver.observe()), [0.0, 0.0])  # it last sent no motion
