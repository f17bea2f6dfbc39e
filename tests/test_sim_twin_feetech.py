"""The SO-101's physics twin behind the Feetech protocol: the real Feetech follower driver (through
feetech-servo-sdk) on a real pty, MuJoCo physics of the SO-101 behind the STS registers; the twin as
its own emulator process; the so101_twin robot's rendered cameras; the scripted expert on so101_reach."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import sim
from hgdagger.robots.config import RobotConfigError
from hgdagger.robots.registry import DriverOptions, build_driver, resolve_robot
from sim.so101_scene import SO101_REST, SO101_SCENE
from sim.twin import PhysicsTwin, twin_bus
from sim.twin_feetech import FeetechTwinChain
from teleop.feetech import control_table as ct
from teleop.feetech.config import FeetechArmConfig
from teleop.feetech.emulator import PtyBus
from teleop.feetech.follower import FeetechFollower

ROOT = Path(__file__).resolve().parents[1]
REST = np.append(SO101_REST, 0.0)


def so101(port: str = "unused", hz: float = 50.0) -> FeetechArmConfig:
    arm = FeetechArmConfig.load("so101_follower")
    arm.bus.port, arm.control_hz = port, hz
    return arm


def twin_on_pty(clock: str, hz: float = 50.0):
    twin = PhysicsTwin(SO101_SCENE.load_model(), so101(hz=hz), clock=clock)
    twin.place_arm(REST)
    return twin, PtyBus(FeetechTwinChain(twin)).start()


def test_the_arm_files_protocol_picks_the_feetech_chain():
    assert twin_bus(so101()).chain is FeetechTwinChain


def test_goal_positions_move_the_physics_and_present_positions_follow_it():
    twin, bus = twin_on_pty("wall")
    try:
        arm = FeetechFollower(so101(bus.port))
        start = arm.observe()
        with twin.lock:  # what the physics holds: limp at power-up, the arm sags until the driver turns torque on
            assert np.allclose(start["joint_pos"], twin.joint_angles()[:5], atol=0.01)
        assert np.allclose(start["joint_pos"], SO101_REST, atol=0.15)
        chain = bus.chain
        # The follower wrote its joint limits into the servos' position limits, as on the real arm.
        assert chain.servos[2].get(ct.MIN_POSITION_LIMIT) < 2048 < chain.servos[2].get(ct.MAX_POSITION_LIMIT)
        target = REST + np.array([0.4, 0.3, -0.3, -0.2, 0.5, 0.6])
        for _ in range(40):  # 0.8 s at 50 Hz, through the runtime's own driver calls
            arm.command(target)
            obs = arm.observe()
            time.sleep(0.02)
        assert np.abs(obs["joint_pos"] - target[:5]).max() < 0.05, obs["joint_pos"] - target[:5]
        assert abs(obs["gripper_pos"][0] - 0.6) < 0.1
        with twin.lock:  # the registers are the physics: the model's joints are where the driver says
            assert np.allclose(twin.joint_angles()[:5], obs["joint_pos"], atol=0.01)
        assert arm.current is not None and np.abs(arm.current[1:3]).max() > 10  # the shoulder and elbow hold the arm up
        arm.close()  # torque off: the arm goes limp and sags under gravity
        with twin.lock:
            before = twin.joint_angles()
        for _ in range(25):
            with twin.lock:
                twin.advance(0.02)
        with twin.lock:
            assert np.abs(twin.joint_angles()[1:4] - before[1:4]).max() > 0.05
    finally:
        bus.stop()


def test_on_the_command_clock_each_goal_write_advances_exactly_one_control_period():
    twin, bus = twin_on_pty("commands", hz=30.0)
    try:
        arm = FeetechFollower(so101(bus.port, hz=30.0))
        t0 = twin.data.time
        for _ in range(12):
            arm.observe()
            arm.command(REST)
        arm.observe()  # the bus answers in order: the last write has been applied before this read returns
        assert twin.data.time - t0 == pytest.approx(12 / 30.0, abs=0.001)  # to within half a 2 ms physics step
        arm.close()
    finally:
        bus.stop()


def test_the_emulator_command_runs_the_twin_in_its_own_process(tmp_path):
    link = tmp_path / "ttyTwin"
    proc = subprocess.Popen([sys.executable, "-m", "hgdagger.cli.feetech_emulator", "--config", "so101_follower",
                             "--twin", "so101", "--link", str(link)], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert "the so101 twin's" in proc.stdout.readline()
        assert proc.stdout.readline().startswith("PORT ")
        arm = FeetechFollower(so101(str(link)))
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
    bad = subprocess.run([sys.executable, "-m", "hgdagger.cli.feetech_emulator", "--config", "so101_follower",
                          "--twin", "ur5"], cwd=ROOT, capture_output=True, text=True, timeout=60, check=False)
    assert bad.returncode == 2 and "no twin of that arm; twins: koch_v1_1, so101" in bad.stderr


def test_so101_twin_cameras_render_the_scene_through_the_camera_class():
    driver = build_driver(resolve_robot("so101_twin"), DriverOptions(seed=4))
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and driver.follower.cameras.streams["front"].frames < 3:
            time.sleep(0.05)
        obs = driver.observe()
        assert obs["front_rgb"].shape == (96, 128, 3) and obs["front_rgb"].std() > 10  # a scene, not a black frame
        assert obs["wrist_rgb"].shape == (96, 128, 3)
        red = (obs["front_rgb"][..., 0] > 150) & (obs["front_rgb"][..., 1] < 80)
        assert red.sum() > 5  # the red cube is in view
        assert obs["cube_pos"].shape == (3,) and driver.spec.name == "so101_follower"
    finally:
        driver.close()


def test_a_twin_whose_follower_speaks_another_protocol_is_refused(tmp_path):
    robot = json.loads((ROOT / "hgdagger/robots/builtin/so101_twin.json").read_text())
    robot["driver"]["follower"] = "koch_follower"
    path = tmp_path / "mixed.json"
    path.write_text(json.dumps(robot))
    with pytest.raises(RobotConfigError, match="koch_follower is a dynamixel arm: set driver.type to 'dynamixel_twin'"):
        build_driver(resolve_robot(str(path)), DriverOptions(cameras=False))


def test_the_scripted_expert_reaches_the_cube_through_the_feetech_protocol():
    """so101_reach as the unattended loop runs it: the command clock, the real driver over the pty."""
    assert sim.get_task("so101_reach").kinematics == "so101"
    successes = 0
    for seed in range(10):
        driver = sim.make_driver("so101_reach", seed=seed, control_hz=20.0)
        expert = sim.make_expert("so101_reach", control_hz=20.0)
        try:
            obs = driver.observe()
            for _ in range(driver.max_steps):
                driver.command(expert.act(obs))
                obs = driver.observe()
                if driver.terminated or driver.truncated:
                    break
            successes += driver.outcome.success
            assert driver.info["is_success"] == driver.outcome.success
        finally:
            driver.close()
    assert successes == 10
