"""In-process evaluation executes a policy exactly as the runtime does: the same executor, hold,
ramp and safety filter, only without the network."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from policy_server.client import ClientConfig
from sim.driver import SimArmDriver
from sim.expert_policy import ExpertChunkPolicy
from teleop.executor import ExecConfig, Mode
from teleop.fetcher import ChunkFetcher
from teleop.local_rollout import run_policy_episodes
from teleop.runtime import RobotRuntime, RuntimeConfig


def _serve(endpoint: str, policy: str) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-m", "hgdagger.cli.serve", "--endpoint", endpoint, "--policy", policy,
                             "--log-level", "WARNING"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    line = proc.stdout.readline()
    assert "serving" in line, line + proc.stdout.read()
    return proc


@pytest.mark.slow
@pytest.mark.parametrize("mode, latency", [(Mode.SYNC, 1), (Mode.RTC, 1), (Mode.SYNC, 0)])
def test_local_rollout_sends_the_same_actions_as_the_runtime_with_a_served_policy(tmp_path, mode, latency):
    """The served expert through RobotRuntime (lockstep, real ZeroMQ) and the same expert called
    in-process with the runtime's timing send identical commands, step for step. Latency 0 is the
    loop's: its supervised rollouts run the controller its evaluation runs."""
    endpoint = f"ipc://{tmp_path}/srv"
    server = _serve(endpoint, "expert:pick_place")
    execution = ExecConfig(mode=mode, execute_steps=8)
    served: list[np.ndarray] = []
    driver = SimArmDriver("pick_place", seed=3)
    runtime = RobotRuntime(driver, ChunkFetcher(ClientConfig(endpoint=endpoint, request_timeout_s=30.0)),
                           RuntimeConfig(execution=execution, lockstep=True, realtime=False,
                                         lockstep_latency_steps=latency))
    runtime.on_step = lambda step, source, sent: served.append(sent.copy())
    try:
        runtime.start()
        runtime.run_episode(120, task="pick_place")
    finally:
        runtime.close()
        server.kill()
    local = run_policy_episodes(ExpertChunkPolicy("pick_place"), [SimArmDriver("pick_place", seed=3)], execution,
                                max_steps=len(served), keep_actions=True, latency_steps=latency)
    assert len(served) > 60 and len(local.sent[0]) == len(served)
    # Equal up to the wire's float32 (observations and chunks cross it as float32 buffers).
    np.testing.assert_allclose(np.array(local.sent[0]), np.array(served), rtol=0, atol=1e-6)
    assert np.ptp(np.array(served)[:, :7], axis=0).max() > 0.05  # the arm really moved: not a held pose compared


def test_evaluation_timing_starts_each_chunk_at_its_own_observation():
    """Latency 0 (evaluation): the first step already runs the policy's first action, and the
    safety filter still limits what is sent."""
    policy = ExpertChunkPolicy("reach", chunk_length=4)
    drivers = [SimArmDriver("reach", seed=s) for s in (0, 1)]
    first = [policy.predict_chunks({k: v[None] for k, v in d.observe().items()})[0, 0] for d in drivers]
    policy = ExpertChunkPolicy("reach", chunk_length=4)
    out = run_policy_episodes(policy, drivers, ExecConfig(mode=Mode.SYNC, execute_steps=4), max_steps=6, keep_actions=True)
    for f, sent in zip(first, out.sent):
        np.testing.assert_allclose(sent[0][:7], f[:7], atol=1e-9)
    assert out.steps == [6, 6]
    with pytest.raises(ValueError, match="latency_steps"):
        run_policy_episodes(policy, drivers, ExecConfig(), max_steps=1, latency_steps=2)
