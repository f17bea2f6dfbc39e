"""The bus disappears for real: the emulator runs as its own process and is killed with signals."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from teleop.dynamixel.config import ArmConfig, BusConfig, GripperConfig, JointConfig
from teleop.dynamixel.follower import DynamixelFollower

ROOT = Path(__file__).resolve().parents[1]
N = 6


def arm_config(port: str) -> ArmConfig:
    joints = [JointConfig(f"j{i}", i, "XL330-M288", lower=-2.0, upper=2.0) for i in range(1, N + 1)]
    return ArmConfig("proc_arm", BusConfig(port=port, latency_ms=4.0, hold_after=3, reconnect_every_s=0.05), joints,
                     GripperConfig(N + 1, "XL330-M288", open_ticks=2048, closed_ticks=2848))


def start_emulator(link: Path, *extra: str) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-m", "hgdagger.cli.dxl_emulator", "--servos", str(N + 1), "--link", str(link),
                             "--tau", "0.03", *extra], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    for _ in range(5):
        line = proc.stdout.readline()
        if line.startswith("PORT "):
            return proc
    proc.kill()
    raise AssertionError("emulator did not start: " + line + proc.stdout.read())


def steps(driver, target, n, period=0.02):
    for _ in range(n):
        obs = driver.observe()
        driver.command(target)
        time.sleep(period)
    return obs


@pytest.mark.slow
def test_killed_bus_holds_the_arm_and_a_restarted_bus_is_picked_up(tmp_path):
    link = tmp_path / "ttyDXL"
    proc = start_emulator(link)
    driver = DynamixelFollower(arm_config(str(link)))
    try:
        target = np.append(np.full(N, 0.3), 0.0)
        assert np.allclose(steps(driver, target, 25)["joint_pos"], 0.3, atol=0.01)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        sent = None
        for _ in range(5):
            driver.observe()
            sent = driver.command(np.append(np.full(N, -0.5), 0.0))  # must not raise, must not pretend
        assert not driver.health.ok and "serial port" in driver.health.fault
        assert np.allclose(sent[:N], 0.3)  # what the arm is still tracking
        proc = start_emulator(link)  # re-plugged: fresh servos, torque off, at 2048
        t0 = time.monotonic()
        while not driver.health.ok and time.monotonic() - t0 < 5:
            driver.observe()
            time.sleep(0.02)
        assert driver.health.ok and driver.health.recoveries == 1
        assert "bus back" in driver.health.events[-1]
        # torque is on again (the arm moves when commanded) and it starts from where it is
        assert np.allclose(driver.observe()["joint_pos"], 0.0, atol=0.01)
        assert np.allclose(steps(driver, np.append(np.full(N, -0.2), 0.0), 30)["joint_pos"], -0.2, atol=0.01)
    finally:
        driver.close()
        proc.terminate()
        proc.wait(5)


@pytest.mark.slow
def test_a_servo_unplugged_by_signal_is_named_and_its_return_recovers_the_arm(tmp_path):
    link = tmp_path / "ttyDXL"
    proc = start_emulator(link, "--vanish-ids", "4")
    driver = DynamixelFollower(arm_config(str(link)))
    try:
        steps(driver, np.append(np.full(N, 0.1), 0.0), 5)
        os.kill(proc.pid, signal.SIGUSR1)
        assert "gone" in proc.stdout.readline()
        for _ in range(4):
            driver.observe()
        # The unplugged servo is named first; on a loaded machine the servos read after it in the
        # same sync read may time out too and be named after it.
        assert not driver.health.ok and driver.health.fault.startswith("servo 4 (j4)")
        assert driver.health.fault.endswith("not answering") and "servo 3 " not in driver.health.fault
        os.kill(proc.pid, signal.SIGUSR1)
        assert "back" in proc.stdout.readline()
        driver.observe()
        assert driver.health.ok and driver.health.last_recovery_s is not None
    finally:
        driver.close()
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=5)
        assert "stopped" in out and not link.exists()  # a clean stop removes the link
