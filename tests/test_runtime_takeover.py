"""HG-DAgger through the runtime: the simulated supervisor takes over from a bad policy via the
takeover gate; human steps carry the human action, the intervention flag, and what the policy
would have done meanwhile; handovers do not jerk the arm."""

from __future__ import annotations

import threading

import numpy as np
import pytest

import sim
from hgdagger.common import wire
from hgdagger.common.types import Source
from policy_server.client import ClientConfig
from policy_server.server import PolicyServer, ServerConfig
from policy_server.toy_policy import ToyConfig, ToyPolicy
from sim.driver import SimArmDriver
from sim.supervisor import SimulatedSupervisor
from teleop.executor import ExecConfig, Mode
from teleop.fetcher import ChunkFetcher
from teleop.gate import GateConfig, TakeoverGate, TakeoverMode
from teleop.human_side import HumanSide, ScriptedInput
from hgdagger.common.record_queue import RecordQueue
from teleop.runtime import RobotRuntime, RuntimeConfig


@pytest.mark.slow
def test_supervisor_takes_over_a_bad_policy_and_every_step_says_who_drove():
    server = PolicyServer(ToyPolicy(ToyConfig(control_period=0.05)), ServerConfig(endpoint="tcp://127.0.0.1:*"))
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    driver = SimArmDriver(task="reach", seed=0, control_hz=20.0, max_steps=200)
    human = HumanSide(TakeoverGate(GateConfig(mode=TakeoverMode.DEADMAN)),
                      ScriptedInput(supervisor=SimulatedSupervisor(sim.make_expert("reach"), control_hz=20.0)))
    q = RecordQueue(1000)
    rt = RobotRuntime(driver, ChunkFetcher(ClientConfig(endpoint=server.bound_endpoint)),
                      RuntimeConfig(execution=ExecConfig(mode=Mode.RTC), realtime=False), q, human=human)
    try:
        rt.start()
        rep = rt.run_episode(200, task="reach", seed=0)
    finally:
        rt.close()
        server.stop()
        t.join(5)
    steps = [m for m in q.drain() if isinstance(m, wire.StepRecord)]
    human_steps = [s for s in steps if s.source == Source.HUMAN]
    assert rep.human_steps > 0 and len(human_steps) == rep.human_steps
    assert all(s.intervention and np.isfinite(s.human_action).all() for s in human_steps)
    assert np.mean([np.isfinite(s.policy_action).all() for s in human_steps]) > 0.8  # the policy kept proposing
    assert rep.takeovers >= 1
    sent = np.stack([s.action for s in steps])
    assert (np.abs(np.diff(sent, axis=0)) <= rt.limits.max_step + 1e-9).all()
