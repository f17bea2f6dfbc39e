"""The physics twin behind the Dynamixel protocol: the real follower driver on a real pty, MuJoCo
physics of the Koch behind the registers."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from sim.koch_scene import KOCH_REST, load_koch_model
from sim.twin import PhysicsTwin, TwinServoChain
from teleop.dynamixel.config import ArmConfig
from teleop.dynamixel.emulator import PtyBus
from teleop.dynamixel.follower import DynamixelFollower

ROOT = Path(__file__).resolve().parents[1]
REST = np.append(KOCH_REST, 0.0)


def koch(port: str = "unused", hz: float = 50.0) -> ArmConfig:
    arm = ArmConfig.load("koch_follower")
    arm.bus.port, arm.control_hz = port, hz
    return arm


def twin_on_pty(clock: str, hz: float = 50.0):
    twin = PhysicsTwin(load_koch_model(), koch(hz=hz), clock=clock)
    twin.place_arm(REST)
    return twin, PtyBus(TwinServoChain(twin)).start()


def test_goal_positions_move_the_physics_and_present_positions_follow_it():
    twin, bus = twin_on_pty("wall")
    try:
        arm = DynamixelFollower(koch(bus.port))
        start = arm.observe()
        assert np.allclose(start["joint_pos"], KOCH_REST, atol=0.05)  # what the physics holds (it sags a little until torque is on)
        target = REST + np.array([0.4, 0.3, 0.3, -0.2, 0.5, 0.6])
        for _ in range(40):  # 0.8 s at 50 Hz, through the runtime's own driver calls
            arm.command(target)
            obs = arm.observe()
            time.sleep(0.02)
        assert np.abs(obs["joint_pos"] - target[:5]).max() < 0.05, obs["joint_pos"] - target[:5]
        assert abs(obs["gripper_pos"][0] - 0.6) < 0.1
        with twin.lock:  # the registers are the physics: the model's joints are where the driver says
            assert np.allclose(twin.joint_angles()[:5], obs["joint_pos"], atol=0.01)
        arm.close()  # torque off: the arm goes limp and sags under gravity
        with twin.lock:
            before = twin.joint_angles()
        for _ in range(25):
            with twin.lock:
                twin.advance(0.02)
        with twin.lock:
            assert np.abs(twin.joint_angles()[:4] - before[:4]).max() > 0.05
    finally:
        bus.stop()


def test_on_the_command_clock_each_goal_write_advances_exactly_one_control_period():
    twin, bus = twin_on_pty("commands", hz=20.0)
    try:
        arm = DynamixelFollower(koch(bus.port, hz=20.0))
        t0 = twin.data.time
        for _ in range(10):
            arm.observe()
            arm.command(REST)
        arm.observe()  # the bus answers in order: the last write has been applied before this read returns
        assert twin.data.time - t0 == pytest.approx(10 * 0.05, abs=1e-9)
        arm.close()
    finally:
        bus.stop()


def test_the_emulator_command_runs_the_twin_in_its_own_process(tmp_path):
    link = tmp_path / "ttyTwin"
    proc = subprocess.Popen([sys.executable, "-m", "hgdagger.cli.dxl_emulator", "--config", "koch_follower", "--twin",
                             "koch_v1_1", "--link", str(link)], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert "the koch_v1_1 twin's" in proc.stdout.readline()
        assert proc.stdout.readline().startswith("PORT ")
        arm = DynamixelFollower(koch(str(link)))
        target = REST + np.array([0.3, 0.0, 0.0, 0.0, 0.0, 0.0])
        for _ in range(40):
            arm.command(target)
            obs = arm.observe()
            time.sleep(0.02)
        assert abs(obs["joint_pos"][0] - target[0]) < 0.05
        arm.close()
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    bad = subprocess.run([sys.executable, "-m", "hgdagger.cli.dxl_emulator", "--config", "koch_follower", "--twin", "ur5"],
                         cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "no twin of that arm; twins: koch_v1_1" in bad.stderr


def test_twin_cameras_render_the_scene_through_the_camera_class():
    from hgdagger.robots.registry import DriverOptions, build_driver, resolve_robot

    driver = build_driver(resolve_robot("koch_twin"), DriverOptions(seed=4))
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and driver.follower.cameras.streams["front"].frames < 3:
            time.sleep(0.05)
        obs = driver.observe()
        assert obs["front_rgb"].shape == (96, 128, 3) and obs["front_rgb"].std() > 10  # a scene, not a black frame
        assert obs["wrist_rgb"].shape == (96, 128, 3)
        red = (obs["front_rgb"][..., 0] > 150) & (obs["front_rgb"][..., 1] < 80)
        assert red.sum() > 5  # the red cube is in view
    finally:
        driver.close()
