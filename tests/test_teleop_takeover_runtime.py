"""Takeover through the gate inside the real runtime, against a real policy server process."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import sim
from hgdagger.common import wire
from hgdagger.common.types import Source
from policy_server.client import ClientConfig
from sim.driver import SimArmDriver
from sim.supervisor import SimulatedSupervisor, SupervisorConfig
from teleop.executor import ExecConfig, Mode
from teleop.fetcher import ChunkFetcher
from teleop.gate import GateConfig, TakeoverGate, TakeoverMode
from teleop.human_side import HumanSide, ScriptedInput
from hgdagger.common.record_queue import RecordQueue
from teleop.runtime import RobotRuntime, RuntimeConfig

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def server(tmp_path, request):
    endpoint = f"ipc://{tmp_path}/srv"
    proc = subprocess.Popen([sys.executable, "-m", "hgdagger.cli.serve", "--endpoint", endpoint, "--log-level", "WARNING",
                             "--policy", *request.param.split()], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    line = proc.stdout.readline()
    assert "serving" in line, line + proc.stdout.read()
    yield endpoint
    proc.kill()
    proc.wait()


def lockstep_runtime(endpoint, task, human, mode=Mode.SYNC):
    driver = SimArmDriver(task=task, seed=0)
    fetcher = ChunkFetcher(ClientConfig(endpoint=endpoint, request_timeout_s=5.0))
    records = RecordQueue(8192)
    cfg = RuntimeConfig(execution=ExecConfig(mode=mode, execute_steps=8), lockstep=True, realtime=False)
    return RobotRuntime(driver, fetcher, cfg, records, human=human), records


def steps_of(records):
    return [m for m in records.drain() if isinstance(m, wire.StepRecord)]


@pytest.mark.slow
@pytest.mark.parametrize("server", ["toy"], indirect=True)
def test_supervisor_takes_over_a_bad_policy_and_every_handover_stays_within_the_safety_limit(server):
    task = "reach"
    supervisor = SimulatedSupervisor(sim.make_expert(task), SupervisorConfig(max_control_s=2.0, reaction_delay_s=0.2))
    human = HumanSide(TakeoverGate(GateConfig(mode=TakeoverMode.DEADMAN, ramp_steps=5)), ScriptedInput(supervisor=supervisor))
    rt, records = lockstep_runtime(server, task, human)
    try:
        rt.start()
        report = rt.run_episode(100, task=task, seed=3)
    finally:
        rt.close()
    steps = steps_of(records)
    sources = np.array([s.source for s in steps])
    assert report.takeovers >= 1 and (sources == Source.HUMAN).sum() > 10
    human_steps = [s for s in steps if s.source == Source.HUMAN]
    # While the person drives, the policy keeps proposing, and both are recorded.
    assert all(np.isfinite(s.human_action).all() for s in human_steps)
    assert sum(np.isfinite(s.policy_action).all() for s in human_steps) > 0.5 * len(human_steps)
    assert all(s.intervention for s in human_steps)
    sent = np.stack([s.action for s in steps])
    assert np.abs(np.diff(sent, axis=0)).max(axis=0)[:7].max() <= rt.limits.max_step[:7].max() + 1e-9


@pytest.mark.slow
@pytest.mark.parametrize("server", ["expert:pick_place"], indirect=True)
def test_demonstrator_drives_from_the_first_step_and_the_episode_is_labelled_by_the_task(server):
    task = "pick_place"
    human = HumanSide(TakeoverGate(GateConfig(mode=TakeoverMode.DEADMAN, start_in_human=True)),
                      ScriptedInput(expert=sim.make_expert(task), always=True))
    rt, records = lockstep_runtime(server, task, human)
    try:
        rt.start()
        report = rt.run_episode(300, task=task, kind="demo", seed=4)
    finally:
        rt.close()
    steps = steps_of(records)
    assert report.label == "success"
    assert all(s.source == Source.HUMAN for s in steps)
    assert report.takeovers == 0  # it never had to take over: it held control all along


@pytest.mark.parametrize("server", ["toy --toy-noise 0.2 --doubt-samples 4"], indirect=True)
def test_the_servers_doubt_reaches_the_console(server):
    rt, _ = lockstep_runtime(server, "reach", human=None)
    try:
        rt.start()
        # The server samples doubt after each chunk, in a worker: it reaches a later reply.
        rt.run_episode(400, task="reach", stop=lambda: rt.console_status().doubt is not None)
        status = rt.console_status()
    finally:
        rt.close()
    assert status.doubt is not None and status.doubt > 0.05
    assert status.doubt_alarm  # 0.2 rad of noise between samples is far past the 0.05 rad line
