"""The Feetech follower and leader on the real feetech-servo-sdk, against the emulator on a real pty:
configuring, reading, commanding, and the Dynamixel drivers' fault handling and messages."""

from __future__ import annotations

import time

import numpy as np
import pytest

from hgdagger.common.types import RobotDriver
from teleop.devices.leader_arm import LeaderCalibration
from teleop.dynamixel.bus import BusError
from teleop.dynamixel.config import BusConfig
from teleop.dynamixel.dynamixel_leader import DynamixelLeaderDevice
from teleop.feetech import control_table as ct
from teleop.feetech.config import FeetechArmConfig, GripperConfig, JointConfig
from teleop.feetech.emulator import EmulatedServo, PtyBus, ServoChain, chain_for
from teleop.feetech.follower import FeetechFollower, FeetechLeader

N = 5  # arm joints; + a gripper = 6 servos, as on an SO-101
SDK_TEXT = ("[TxRxResult]", "There is no status packet", "[RxPacketError]")


def arm_config(port: str, torque: bool = True, timeout_s: float = 1.0, baudrate: int = 1_000_000) -> FeetechArmConfig:
    joints = [JointConfig(f"j{i}", i, lower=-2.0, upper=2.0) for i in range(1, N + 1)]
    bus = BusConfig(port=port, baudrate=baudrate, latency_ms=4.0, retries=2, hold_after=3, reconnect_every_s=0.05,
                    connect_timeout_s=timeout_s)
    return FeetechArmConfig("test_arm", bus, joints, GripperConfig(N + 1, open_ticks=2048, closed_ticks=2848),
                            control_hz=50.0, torque_on_connect=torque, p_coefficient=16 if torque else None)


@pytest.fixture
def emulator():
    with PtyBus(chain_for(arm_config("unused"), tau_s=0.03)) as bus:
        yield bus


@pytest.fixture
def follower(emulator):
    drv = FeetechFollower(arm_config(emulator.port))
    yield drv
    drv.close()


def run_steps(driver, target, steps, period=0.02):
    for _ in range(steps):
        obs = driver.observe()
        driver.command(target)
        time.sleep(period)
    return obs


def refused(config: FeetechArmConfig) -> str:
    with pytest.raises(BusError) as info:
        (FeetechFollower if config.torque_on_connect else FeetechLeader)(config)
    message = str(info.value)
    assert "\n" not in message and not any(text in message for text in SDK_TEXT), message
    return message


def test_follower_is_a_robot_driver_and_connect_configures_the_servos(emulator, follower):
    assert isinstance(follower, RobotDriver) and follower.spec.action_dim == N + 1
    obs = follower.observe()
    assert set(obs) == {"joint_pos", "joint_vel", "gripper_pos"} and np.allclose(obs["joint_pos"], 0.0, atol=2e-3)
    span = round(2.0 * 4096 / (2 * np.pi))
    for i, s in emulator.chain.servos.items():
        assert s.get(ct.TORQUE_ENABLE) == 1 and s.get(ct.LOCK) == 1 and s.get(ct.GOAL_POSITION) == 2048
        assert s.get(ct.OPERATING_MODE) == ct.MODE_POSITION and s.get(ct.P_COEFFICIENT) == 16
        assert s.get(ct.RETURN_DELAY_TIME) == 0
        limits = (s.get(ct.MIN_POSITION_LIMIT), s.get(ct.MAX_POSITION_LIMIT))
        assert limits == ((2048 - span, 2048 + span) if i <= N else (2048, 2848))
        assert s.flash[ct.P_COEFFICIENT.address] == 16  # written while unlocked: survives a power cycle


def test_servos_reach_commanded_radians_and_command_returns_the_clipped_target(emulator, follower):
    target = np.array([0.5, -0.5, 1.0, 3.0, -0.2, 1.4])
    sent = follower.command(target)
    assert np.allclose(sent, [0.5, -0.5, 1.0, 2.0, -0.2, 1.0])
    obs = run_steps(follower, target, 25)
    assert np.allclose(obs["joint_pos"], sent[:N], atol=0.01) and obs["gripper_pos"][0] == pytest.approx(1.0, abs=0.01)
    assert emulator.chain.servos[1].get(ct.GOAL_POSITION) == 2048 + round(0.5 * 4096 / (2 * np.pi))
    goal = np.append(np.full(N, 0.0), 0.0)
    follower.command(goal)
    time.sleep(0.01)
    vel, ahead = follower.observe()["joint_vel"], goal[:N] - sent[:N]
    moving = np.abs(ahead) > 0.3
    assert np.all(np.sign(vel[moving]) == np.sign(ahead[moving])) and np.all(np.abs(vel[moving]) > 1.0)  # steps/s as rad/s


def test_a_second_connect_writes_no_eeprom(emulator, follower):
    follower.close()
    flash_before = {i: s.flash for i, s in emulator.chain.servos.items()}
    writes = []
    original = emulator.chain.servos[1].write
    emulator.chain.servos[1].write = lambda address, data: writes.append(address) or original(address, data)
    again = FeetechFollower(arm_config(emulator.port))
    again.close()
    assert not [a for a in writes if a < ct.EEPROM_END and a != ct.LOCK.address]  # values already there: not rewritten
    assert {i: s.flash for i, s in emulator.chain.servos.items()} == flash_before


def test_dropped_and_corrupt_status_packets_are_retried_without_holding(emulator, follower):
    emulator.chain.faults.drop_rate = 0.15
    emulator.chain.faults.corrupt_rate = 0.1
    run_steps(follower, np.append(np.full(N, 0.3), 0.5), 60, period=0.005)
    assert follower.health.retries > 0 and follower.health.faults == 0 and follower.health.ok
    emulator.chain.faults.drop_rate = emulator.chain.faults.corrupt_rate = 0.0
    assert np.allclose(run_steps(follower, np.append(np.full(N, 0.3), 0.5), 10)["joint_pos"], 0.3, atol=0.01)


def test_a_vanished_servo_holds_the_arm_names_it_and_recovers(emulator, follower):
    target = np.append(np.full(N, 0.2), 0.0)
    run_steps(follower, target, 5)
    emulator.chain.faults.vanished = {3}
    follower.observe()
    sent = follower.command(np.append(np.full(N, 0.8), 0.0))
    for _ in range(4):
        follower.observe()
    assert not follower.health.ok and "servo 3 (j3)" in follower.health.fault
    goal_before = emulator.chain.servos[1].get(ct.GOAL_POSITION)
    frozen = follower.command(np.append(np.full(N, -1.0), 0.0))  # not sent while holding
    assert emulator.chain.servos[1].get(ct.GOAL_POSITION) == goal_before and np.allclose(frozen, sent)
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
    servo.power_cycle()  # torque off, RAM cleared, EEPROM from flash
    emulator.chain.faults.vanished = set()
    follower.observe()
    assert follower.health.ok and servo.get(ct.TORQUE_ENABLE) == 1 and servo.get(ct.LOCK) == 1
    assert abs(servo.get(ct.GOAL_POSITION) - servo.get(ct.PRESENT_POSITION)) <= 1
    assert follower.observe()["joint_pos"][1] == pytest.approx(0.4, abs=0.01)


# ------------------------------------------------------------------ the same messages as Dynamixel's
def test_an_arm_where_nothing_answers_asks_about_power_and_the_first_cable():
    chain = chain_for(arm_config("unused"))
    chain.faults.vanished = set(chain.servos)
    with PtyBus(chain) as emulator:
        message = refused(arm_config(emulator.port, timeout_s=0.2))
    assert message.startswith(f"test_arm: no servo answered a ping at 1000000 baud on {emulator.port} "
                              "(nor at any other standard rate) in "), message
    assert "power supply on" in message and "IDs 1, 2, 3, 4, 5, 6 (Feetech's FD software can scan for them)" in message


def test_a_servo_silent_past_the_bound_is_named_with_the_fix():
    chain = chain_for(arm_config("unused"))
    chain.faults.vanished = {4}
    with PtyBus(chain) as emulator:
        message = refused(arm_config(emulator.port, timeout_s=0.3))
    assert message.startswith(f"test_arm: servo 4 (j4) did not answer a ping at 1000000 baud on {emulator.port}")
    assert message.endswith(": check its cable and power, and that its ID is 4 (Feetech's FD software can scan for it)")


@pytest.mark.parametrize("leader", [False, True], ids=["follower", "leader"])
def test_a_wrong_baud_rate_names_the_rate_the_servos_answer_at(leader):
    with PtyBus(chain_for(arm_config("unused")), servo_baud=115_200) as emulator:
        message = refused(arm_config(emulator.port, torque=not leader, timeout_s=10.0))
        assert message == ("test_arm: servos answer at 115200 baud but the config says 1000000: set bus.baudrate to "
                           "115200 (or change the servos' baud rate with Feetech's FD software)")
        arm = (FeetechFollower if not leader else FeetechLeader)(arm_config(emulator.port, torque=not leader, baudrate=115_200))
        arm.close()


def test_a_missing_port_a_busy_port_and_a_wrong_model_are_one_line_each(tmp_path, emulator, follower):
    assert refused(arm_config(str(tmp_path / "ttyACM9"))) == (
        f"serial port {tmp_path / 'ttyACM9'} does not exist: is the USB adapter plugged in and powered? "
        f"(list adapters with: ls -l /dev/serial/by-id/)")
    assert "is busy: another process has it open" in refused(arm_config(emulator.port))
    other = ServoChain([EmulatedServo(i, ct.model("STS3250")) for i in range(1, N + 2)])
    with PtyBus(other) as bus:
        assert "servo 1 (j1) is a STS3250, but the config says STS3215" in refused(arm_config(bus.port))


# ------------------------------------------------------------------ the leader
def test_leader_reads_raw_angles_with_torque_off_and_a_faulted_bus_sends_no_command():
    servos = [EmulatedServo(i, ct.model("STS3215")) for i in range(1, N + 2)]
    pose = {i: 2048 + 100 * i for i in range(1, N + 2)}
    for s in servos:
        s.hand = lambda t, i=s.id: pose[i]
    with PtyBus(ServoChain(servos)) as bus:
        leader = FeetechLeader(arm_config(bus.port, torque=False))
        try:
            assert all(s.get(ct.TORQUE_ENABLE) == 0 for s in servos)
            raw = leader.read()
            assert np.allclose(raw, [100 * i * 2 * np.pi / 4096 for i in range(1, N + 2)])
            device = DynamixelLeaderDevice(leader, LeaderCalibration((1.0,) * N, (0,) * N, 0.0, 1.0))
            assert device.read().command is not None
            bus.chain.faults.vanished = {2}
            for _ in range(3):
                intent = device.read()
            assert intent.command is None and not intent.connected and "servo 2" in intent.status
        finally:
            leader.close()


def test_a_leader_config_must_leave_torque_off(emulator):
    with pytest.raises(ValueError, match="torque_on_connect"):
        FeetechLeader(arm_config(emulator.port, torque=True))
