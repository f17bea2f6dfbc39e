"""End to end on the emulated SO-101: the emulator as its own process, hgd-run --robot so101 driving it
from a policy server through the runtime, and a servo unplugged by signal while the runtime holds."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from hgdagger.common import wire
from hgdagger.common.record_queue import RecordQueue
from hgdagger.common.types import Source
from hgdagger.robots.registry import DriverOptions, build_driver, resolve_robot
from policy_server.server import PolicyServer, ServerConfig
from policy_server.toy_policy import ToyConfig, ToyPolicy
from teleop.gate import GateConfig, TakeoverGate, TakeoverMode
from teleop.human_side import FunctionInput, HumanSide
from teleop.runtime import RobotRuntime, RuntimeConfig

ROOT = Path(__file__).resolve().parents[1]


def start_emulator(link: Path, *extra: str) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-m", "hgdagger.cli.feetech_emulator", "--config", "so101_follower",
                             "--link", str(link), "--tau", "0.03", *extra], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    first = proc.stdout.readline()
    assert "STS3215" in first, first + proc.stdout.read()
    assert proc.stdout.readline().startswith("PORT ")
    return proc


def stop(proc: subprocess.Popen) -> str:
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=5)
    return out


@pytest.mark.slow
def test_hgd_run_drives_the_emulated_so101_from_a_policy_server(tmp_path):
    link = tmp_path / "ttySO101"
    emulator = start_emulator(link)
    server = PolicyServer(ToyPolicy(ToyConfig(num_joints=5, control_period=1 / 30)), ServerConfig(endpoint=f"ipc://{tmp_path}/srv"))
    serving = threading.Thread(target=server.serve_forever, daemon=True)
    serving.start()
    try:
        out = subprocess.run([sys.executable, "-m", "hgdagger.cli.run_robot", "--robot", "so101", "--port", str(link),
                              "--no-cameras", "--server", server.bound_endpoint, "--max-steps", "90", "--no-record",
                              "--report", str(tmp_path / "run.json")], cwd=ROOT, capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stderr
        assert "hgd-run: so101: toy" in out.stdout and "30 Hz" in out.stdout
        (run,) = json.loads((tmp_path / "run.json").read_text())
        assert run["steps"] == 90 and run["policy_steps"] >= 60 and run["rejected"] == 0
        # the arm went where the policy sent it: read it back with the same driver, through the registry
        driver = build_driver(resolve_robot("so101"), DriverOptions(port=str(link), cameras=False))
        try:
            q = driver.observe()["joint_pos"]
        finally:
            driver.close()
        assert np.abs(q).max() > 0.3  # 90 steps of 0.02 rad toward the toy's sine targets
    finally:
        server.stop()
        serving.join(5)
        said = stop(emulator)
    assert "stopped" in said and not link.exists()


@pytest.mark.slow
def test_a_servo_unplugged_by_signal_is_held_through_and_control_resumes(tmp_path):
    link = tmp_path / "ttySO101"
    emulator = start_emulator(link, "--vanish-ids", "3")
    follower = build_driver(resolve_robot("so101"), DriverOptions(port=str(link), cameras=False, control_hz=50))
    here = np.append(follower.observe()["joint_pos"], 0.5)

    def person(step, obs):
        if step in (40, 90):  # servo 3 unplugged at step 40, plugged back at 90
            os.kill(emulator.pid, signal.SIGUSR1)
        return here

    human = HumanSide(TakeoverGate(GateConfig(mode=TakeoverMode.DEADMAN, start_in_human=True)), FunctionInput(person))
    records = RecordQueue(4096)
    runtime = RobotRuntime(follower, None, RuntimeConfig(realtime=False, control_hz=50), records, human=human)
    try:
        runtime.start()
        report = runtime.run_episode(150, task="bus_fault", kind="demo")
    finally:
        follower.close()
        out = stop(emulator)
    sources = [m.source for m in records.drain() if isinstance(m, wire.StepRecord)]
    assert "gone" in out and "back" in out
    assert all(s == Source.HUMAN for s in sources[:40])
    assert Source.HOLD in sources[45:95]
    assert all(s == Source.HUMAN for s in sources[120:])
    events = [what for _, what in report.events]
    assert any("driver fault" in e and "servo 3 (elbow_flex)" in e for e in events), events
    assert any("driver recovered" in e for e in events)
    assert follower.health.recoveries == 1 and follower.health.last_recovery_s < 3.0


def test_the_emulator_and_the_feetech_robot_are_listed(tmp_path):
    out = subprocess.run([sys.executable, "-m", "hgdagger.cli.feetech_emulator", "--help"], cwd=ROOT, capture_output=True,
                         text=True, timeout=30)
    assert out.returncode == 0 and "SIGUSR1" in out.stdout and "LeRobot" in out.stdout
    listed = subprocess.run([sys.executable, "-m", "hgdagger.cli.robots"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert listed.returncode == 0 and "so101" in listed.stdout and "feetech" in listed.stdout
    shown = subprocess.run([sys.executable, "-m", "hgdagger.cli.robots", "show", "so101", "--expand"], cwd=ROOT,
                           capture_output=True, text=True, timeout=60)
    (tmp_path / "lab_so101.json").write_text(shown.stdout)
    mine = resolve_robot(str(tmp_path / "lab_so101.json"))  # the copy a lab edits loads as it is, still a Feetech arm
    assert type(mine.load_arm(mine.driver["follower"], "driver.follower")).__name__ == "FeetechArmConfig"
    refused = subprocess.run([sys.executable, "-m", "hgdagger.cli.feetech_emulator", "--config", "koch_follower"], cwd=ROOT,
                             capture_output=True, text=True, timeout=30)
    assert refused.returncode == 2 and "is not a Feetech arm" in refused.stderr


@pytest.mark.slow
def test_a_keyboard_on_an_arm_without_kinematics_is_told_so_in_the_terminal(tmp_path):
    """No console window: what it would warn about is said in the terminal, once, instead of the
    arm silently ignoring the keys (found trying hgd-collect --robot so101 with hgd-device keyboard)."""
    from operator_helpers import Operator, Session

    robot = json.loads((ROOT / "hgdagger/robots/builtin/so101.json").read_text())
    del robot["kinematics"]  # the shipped SO-101 has one now (sim.arm_models "so101"): a lab's arm file may not
    (tmp_path / "bare_so101.json").write_text(json.dumps(robot))
    link = tmp_path / "so101"
    emulator = start_emulator(link)
    intent = f"ipc://{tmp_path}/intent"
    session = Session("hgdagger.cli.collect", "--robot", str(tmp_path / "bare_so101.json"), "--port", str(link),
                      "--no-cameras", "--episodes", "1",
                      "--intent-endpoint", intent, "--out", str(tmp_path / "data"))
    op = Operator(intent)
    try:
        assert "has no kinematic model" in session.expect("devices connect to")
        session.expect("press n / X")
        op.twist[0] = 0.5  # a key held: the keyboard asks to move the tcp
        op.press("start")
        session.expect("warning: this robot has no kinematic model")
        op.twist[0] = 0.0
        op.press("success")
        out = session.finish()
    finally:
        op.close()
        session.kill()
        stop(emulator)
    assert out.count("no kinematic model: a gamepad") == 1, out
