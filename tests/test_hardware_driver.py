"""The follower and leader drivers on the real dynamixel_sdk, against the emulator on a real pty."""

from __future__ import annotations

import time

import numpy as np
import pytest

from hgdagger.common.types import RobotDriver
from teleop.dynamixel import control_table as ct
from teleop.dynamixel.bus import BusError
from teleop.dynamixel.config import ArmConfig, BusConfig, GripperConfig, JointConfig
from teleop.dynamixel.emulator import EmulatedServo, PtyBus, ServoChain, chain_for
from teleop.dynamixel.follower import DynamixelFollower
from teleop.dynamixel.dynamixel_leader import DynamixelLeader, DynamixelLeaderDevice, calibrate

N = 6  # arm joints; + a gripper = 7 servos


def arm_config(port: str, torque: bool = True, model: str = "XL330-M288", latency_ms: float = 4.0) -> ArmConfig:
    joints = [JointConfig(f"j{i}", i, model, lower=-2.0, upper=2.0) for i in range(1, N + 1)]
    return ArmConfig("test_arm", BusConfig(port=port, latency_ms=latency_ms, retries=2, hold_after=3, reconnect_every_s=0.05),
                     joints, GripperConfig(N + 1, model, open_ticks=2048, closed_ticks=2848), control_hz=50.0,
                     torque_on_connect=torque)


@pytest.fixture
def emulator():
    chain = chain_for(arm_config("unused"), tau_s=0.03)
    with PtyBus(chain) as bus:
        yield bus


@pytest.fixture
def follower(emulator):
    drv = DynamixelFollower(arm_config(emulator.port))
    yield drv
    drv.close()


def run_steps(driver, target, steps, period=0.02):
    for _ in range(steps):
        obs = driver.observe()
        driver.command(target)
        time.sleep(period)
    return obs


def test_follower_is_a_robot_driver_with_its_own_spec(follower):
    assert isinstance(follower, RobotDriver)
    assert follower.spec.action_dim == N + 1 and follower.spec.joint_names[0] == "j1"
    obs = follower.observe()
    assert set(obs) == {"joint_pos", "joint_vel", "gripper_pos"}
    assert obs["joint_pos"].shape == (N,) and np.allclose(obs["joint_pos"], 0.0, atol=2e-3)


def test_connect_enables_torque_without_moving_the_arm(emulator, follower):
    for s in emulator.chain.servos.values():
        assert s.get(ct.TORQUE_ENABLE) == 1 and s.get(ct.GOAL_POSITION) == 2048
        assert s.get(ct.OPERATING_MODE) in (ct.MODE_EXTENDED_POSITION, ct.MODE_CURRENT_BASED_POSITION)


def test_servos_reach_commanded_radians_and_command_returns_the_clipped_target(emulator, follower):
    target = np.array([0.5, -0.5, 1.0, 3.0, -0.2, 0.1, 1.4])
    sent = follower.command(target)
    assert np.allclose(sent, [0.5, -0.5, 1.0, 2.0, -0.2, 0.1, 1.0])  # joint 4 and gripper clipped
    obs = run_steps(follower, target, 25)
    assert np.allclose(obs["joint_pos"], sent[:N], atol=0.01)
    assert obs["gripper_pos"][0] == pytest.approx(1.0, abs=0.01)
    assert emulator.chain.servos[1].get(ct.GOAL_POSITION) == 2048 + round(0.5 * 4096 / (2 * np.pi))


def test_hold_stops_the_arm_where_it_is(emulator, follower):
    follower.command(np.append(np.full(N, 1.5), 0.0))
    time.sleep(0.02)
    obs = follower.observe()
    follower.hold()
    held = obs["joint_pos"]
    time.sleep(0.2)
    after = follower.observe()["joint_pos"]
    assert np.all(held < 1.4) and np.allclose(after, held, atol=0.05)


def test_dropped_and_corrupt_status_packets_are_retried_without_holding(emulator, follower):
    emulator.chain.faults.drop_rate = 0.15
    emulator.chain.faults.corrupt_rate = 0.1
    target = np.append(np.full(N, 0.3), 0.5)
    run_steps(follower, target, 60, period=0.005)
    h = follower.health
    assert h.retries > 0 and h.faults == 0 and h.ok
    emulator.chain.faults.drop_rate = emulator.chain.faults.corrupt_rate = 0.0
    assert np.allclose(run_steps(follower, target, 10)["joint_pos"], 0.3, atol=0.01)


def test_a_vanished_servo_holds_the_arm_names_it_and_recovers(emulator, follower):
    target = np.append(np.full(N, 0.2), 0.0)
    run_steps(follower, target, 5)
    emulator.chain.faults.vanished = {3}
    sent = [follower.command(np.append(np.full(N, 0.8), 0.0)) for _ in range(1) if follower.observe() is not None]
    for _ in range(4):
        follower.observe()
    assert not follower.health.ok and "servo 3 (j3)" in follower.health.fault
    goal_before = emulator.chain.servos[1].get(ct.GOAL_POSITION)
    frozen = follower.command(np.append(np.full(N, -1.0), 0.0))  # not sent while holding
    assert emulator.chain.servos[1].get(ct.GOAL_POSITION) == goal_before
    assert np.allclose(frozen, sent[0])
    emulator.chain.faults.vanished = set()
    follower.observe()
    assert follower.health.ok and follower.health.recoveries == 1
    assert np.allclose(run_steps(follower, target, 20)["joint_pos"], 0.2, atol=0.01)


def test_slow_replies_beyond_the_timeout_hold_then_recover(emulator, follower):
    emulator.chain.faults.delay_s = 0.05
    for _ in range(4):
        follower.observe()
    assert not follower.health.ok
    emulator.chain.faults.delay_s = 0.0
    time.sleep(0.1)
    for _ in range(3):
        follower.observe()
    assert follower.health.ok


def test_a_power_blip_is_recovered_with_torque_back_on_and_no_jump(emulator, follower):
    run_steps(follower, np.append(np.full(N, 0.4), 0.0), 20)
    emulator.chain.faults.vanished = set(emulator.chain.servos)
    for _ in range(4):
        follower.observe()
    servo = emulator.chain.servos[2]
    servo.table[ct.TORQUE_ENABLE.address] = 0  # the servo rebooted
    servo.table[ct.GOAL_POSITION.address: ct.GOAL_POSITION.address + 4] = (0).to_bytes(4, "little")
    emulator.chain.faults.vanished = set()
    follower.observe()
    assert follower.health.ok and servo.get(ct.TORQUE_ENABLE) == 1
    assert abs(servo.get(ct.GOAL_POSITION) - servo.get(ct.PRESENT_POSITION)) <= 1


def test_missing_port_is_a_clear_error(tmp_path):
    with pytest.raises(BusError, match="does not exist"):
        DynamixelFollower(arm_config(str(tmp_path / "ttyUSB9")))


def test_busy_port_is_a_clear_error(emulator, follower):
    with pytest.raises(BusError, match="busy"):
        DynamixelFollower(arm_config(emulator.port))


def test_wrong_model_is_a_clear_error(emulator):
    with pytest.raises(BusError, match=r"servo 1 \(j1\) is a XL330-M288, but the config says XL430-W250"):
        DynamixelFollower(arm_config(emulator.port, model="XL430-W250"))


def test_missing_servo_at_connect_is_a_clear_error(emulator):
    emulator.chain.faults.vanished = {5}
    with pytest.raises(BusError, match=r"servo 5 \(j5\) did not answer a ping"):
        DynamixelFollower(arm_config(emulator.port))


def test_eeprom_writes_with_torque_on_are_refused_as_the_servo_would(emulator, follower):
    with pytest.raises(BusError, match="EEPROM registers need torque off"):
        follower.bus.write(1, ct.OPERATING_MODE, ct.MODE_POSITION)


def test_leader_reads_raw_angles_with_torque_off_and_calibrates():
    model = ct.model("XL330-M077")
    servos = [EmulatedServo(i, model) for i in range(1, N + 2)]
    pose = {i: 2048 + 1024 * (i % 2) + 30 for i in range(1, N + 1)}  # horns a quarter turn out on odd joints
    pose[N + 1] = 2100
    for s in servos:
        s.hand = lambda t, i=s.id: pose[i]
    with PtyBus(ServoChain(servos)) as bus:
        leader = DynamixelLeader(arm_config(bus.port, torque=False, model="XL330-M077"))
        try:
            assert all(s.get(ct.TORQUE_ENABLE) == 0 for s in servos)
            raw = leader.read()
            assert raw[0] == pytest.approx((1024 + 30) * 2 * np.pi / 4096)

            steps = iter([None, 1500, 2700])  # reference pose, trigger open, trigger closed

            def ask(prompt):
                grip = next(steps)
                if grip is not None:
                    pose[N + 1] = grip

            cal = calibrate(leader, [0.0] * N, [1.0] * N, ask)
            assert cal.offset_quarter_turns == tuple(-1 if i % 2 else 0 for i in range(1, N + 1))
            device = DynamixelLeaderDevice(leader, cal)
            intent = device.read()
            assert np.allclose(intent.command[:N], 30 * 2 * np.pi / 4096) and intent.command[-1] == 1.0
            bus.chain.faults.vanished = {2}
            for _ in range(3):
                intent = device.read()
            assert intent.command is None and not intent.connected and "servo 2" in intent.status
        finally:
            leader.close()


def test_leader_config_must_leave_torque_off(emulator):
    with pytest.raises(ValueError, match="torque_on_connect"):
        DynamixelLeader(arm_config(emulator.port, torque=True))


def test_follower_with_cameras_observes_images_and_states_their_shapes(emulator):
    from teleop.cameras import CameraConfig, CameraSet

    cams = CameraSet([CameraConfig("wrist", "pattern", height=24, width=32, fps=60)])
    drv = DynamixelFollower(arm_config(emulator.port), cameras=cams)
    try:
        assert drv.spec.cameras == ("wrist",) and drv.spec.observation_shapes["wrist_rgb"] == (24, 32, 3)
        obs = drv.observe()
        assert obs["wrist_rgb"].shape == (24, 32, 3) and obs["wrist_rgb"].dtype == np.uint8
    finally:
        drv.close()


def test_leader_gripper_spring_current_is_the_only_torque_on_a_leader(emulator):
    cfg = arm_config(emulator.port, torque=False)
    cfg.leader_gripper_current = 40
    leader = DynamixelLeader(cfg)
    try:
        grip = emulator.chain.servos[N + 1]
        assert grip.get(ct.TORQUE_ENABLE) == 1 and grip.get(ct.OPERATING_MODE) == ct.MODE_CURRENT
        assert grip.get(ct.GOAL_CURRENT) == 40
        assert all(emulator.chain.servos[i].get(ct.TORQUE_ENABLE) == 0 for i in range(1, N + 1))
    finally:
        leader.close()


def test_position_mode_writes_the_joint_limits_into_the_servos(emulator):
    cfg = arm_config(emulator.port)
    cfg.operating_mode = "position"
    cfg.joints[0].sign = -1.0
    drv = DynamixelFollower(cfg)
    try:
        s1, s2 = emulator.chain.servos[1], emulator.chain.servos[2]
        span = round(2.0 * 4096 / (2 * np.pi))
        assert s2.get(ct.OPERATING_MODE) == ct.MODE_POSITION
        assert (s2.get(ct.MIN_POSITION_LIMIT), s2.get(ct.MAX_POSITION_LIMIT)) == (2048 - span, 2048 + span)
        assert (s1.get(ct.MIN_POSITION_LIMIT), s1.get(ct.MAX_POSITION_LIMIT)) == (2048 - span, 2048 + span)  # sign flips ends
    finally:
        drv.close()
