"""The hardware commands as a user runs them: emulator, leader device and calibration processes."""

from __future__ import annotations

from teleop.dynamixel.config import ARMS

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from teleop.devices.leader_arm import LeaderCalibration
from teleop.intent import IntentMerger

ROOT = Path(__file__).resolve().parents[1]


def leader_config(tmp_path: Path, port: Path) -> Path:
    raw = json.loads((ARMS / "koch_leader.json").read_text())
    raw["bus"]["port"] = str(port)
    path = tmp_path / "leader.json"
    path.write_text(json.dumps(raw))
    return path


def start_emulator(tmp_path: Path, *extra: str) -> tuple[subprocess.Popen, Path]:
    link = tmp_path / "ttyLeader"
    proc = subprocess.Popen([sys.executable, "-m", "hgdagger.cli.dxl_emulator", "--config", str(ARMS / "koch_leader.json"),
                             "--link", str(link), *extra], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    first = proc.stdout.readline()
    assert "XL330-M077" in first, first
    assert proc.stdout.readline().startswith("PORT ")
    return proc, link


def stop(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGINT)
    proc.wait(5)


def test_help_texts_teach_the_commands():
    for module, words in (("hgdagger.cli.dxl_emulator", "SIGUSR1"), ("hgdagger.cli.calibrate_leader", "quarter"),
                          ("hgdagger.cli.leader_device", "calibration")):
        out = subprocess.run([sys.executable, "-m", module, "--help"], cwd=ROOT, capture_output=True, text=True)
        assert out.returncode == 0 and words in out.stdout


@pytest.mark.slow
def test_leader_device_process_streams_calibrated_follower_commands_over_zeromq(tmp_path):
    emulator, link = start_emulator(tmp_path, "--hand-motion", "sine")
    cal = tmp_path / "cal.json"
    LeaderCalibration((1.0,) * 5, (0, 1, 0, 0, 0), -0.5, 0.5).save(cal)
    endpoint = f"ipc://{tmp_path}/intent"
    merger = IntentMerger(endpoint)
    device = subprocess.Popen([sys.executable, "-m", "hgdagger.cli.leader_device", "--leader", str(leader_config(tmp_path, link)),
                               "--calibration", str(cal), "--endpoint", endpoint, "--rate", "50"], cwd=ROOT,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        commands = []
        t0 = time.monotonic()
        while len(commands) < 20 and time.monotonic() - t0 < 15:
            merged = merger.poll()
            if merged.command is not None:
                commands.append(merged.command)
            time.sleep(0.05)
        assert len(commands) >= 20, device.stdout.read() if device.poll() is not None else "no commands"
        c = np.array(commands)
        assert c.shape[1] == 6 and np.all(np.abs(c[:, [0, 2, 3, 4]]) <= 0.51)
        assert np.all(np.abs(c[:, 1] - np.pi / 2) <= 0.51)  # the quarter-turn offset of joint 2
        assert np.ptp(c[:, 0]) > 0.05 and np.all((c[:, 5] >= 0) & (c[:, 5] <= 1))  # the hand moves it
    finally:
        device.send_signal(signal.SIGTERM)
        device.wait(5)
        merger.close()
        stop(emulator)


def test_calibration_refuses_a_trigger_that_did_not_move_and_a_missing_port(tmp_path):
    emulator, link = start_emulator(tmp_path)
    try:
        out = subprocess.run([sys.executable, "-m", "hgdagger.cli.calibrate_leader", "--leader", str(leader_config(tmp_path, link)),
                              "--out", str(tmp_path / "cal.json")], cwd=ROOT, input="\n\n\n", capture_output=True, text=True,
                             timeout=30)
        assert out.returncode == 2 and "trigger barely moved" in out.stderr
        assert not (tmp_path / "cal.json").exists()
    finally:
        stop(emulator)
    out = subprocess.run([sys.executable, "-m", "hgdagger.cli.calibrate_leader", "--leader", "koch_leader",
                          "--port", str(tmp_path / "ttyNone")], cwd=ROOT, capture_output=True, text=True, timeout=30)
    assert out.returncode == 2 and "does not exist" in out.stderr


@pytest.mark.slow
def test_puppet_runs_the_runtime_on_an_emulated_follower_from_an_emulated_leader(tmp_path):
    follower_link = tmp_path / "ttyFollower"
    follower = subprocess.Popen([sys.executable, "-m", "hgdagger.cli.dxl_emulator", "--config", "koch_follower",
                                 "--link", str(follower_link)], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    leader, leader_link = start_emulator(tmp_path, "--hand-motion", "sine")
    try:
        follower.stdout.readline()
        assert follower.stdout.readline().startswith("PORT ")
        report = tmp_path / "puppet.json"
        out = subprocess.run([sys.executable, "-m", "hgdagger.cli.puppet", "--robot", "koch",
                              "--port", str(follower_link),
                              "--leader-port", str(leader_link), "--seconds", "2", "--report", str(report)],
                             cwd=ROOT, capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        r = json.loads(report.read_text())
        assert r["steps"] == 100 and r["human_steps"] == 100 and r["follower_bus"]["faults"] == 0
        assert r["timing"]["rate_hz"] > 40
    finally:
        stop(follower)
        stop(leader)
