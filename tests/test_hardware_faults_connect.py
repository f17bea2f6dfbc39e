"""Faults at start-up, as a person meets them on a real rig: a servo that misses its first status
packets or powers up late, a wrong baud rate, a missing, unreadable or wrong port, a missing camera.

Everything runs on the real dynamixel_sdk and pyserial against the emulator on a real pty; the
commands run as real processes and must say what is wrong in one line, without a traceback.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from teleop.cameras import CameraConfig, CameraError, CameraStream, cameras_found
from teleop.devices.leader_arm import LeaderCalibration
from teleop.dynamixel import control_table as ct
from teleop.dynamixel.bus import BusError, DynamixelBus, open_port
from teleop.dynamixel.config import ARMS, ArmConfig, BusConfig, GripperConfig, JointConfig
from teleop.dynamixel.dynamixel_leader import DynamixelLeader
from teleop.dynamixel.emulator import Faults, PtyBus, chain_for
from teleop.dynamixel.follower import DynamixelFollower

ROOT = Path(__file__).resolve().parents[1]
N = 6  # arm joints; + a gripper = 7 servos
SDK_TEXT = ("[TxRxResult]", "There is no status packet", "[RxPacketError]")


def arm_config(port: str, *, leader: bool = False, baudrate: int = 1_000_000, timeout_s: float = 1.0,
               retries: int = 2) -> ArmConfig:
    model = "XL330-M077" if leader else "XL330-M288"
    joints = [JointConfig(f"j{i}", i, model, lower=-2.0, upper=2.0) for i in range(1, N + 1)]
    bus = BusConfig(port=port, baudrate=baudrate, latency_ms=4.0, retries=retries, connect_timeout_s=timeout_s)
    return ArmConfig("test_arm", bus, joints, GripperConfig(N + 1, model), torque_on_connect=not leader)


def connect(config: ArmConfig):
    """The arm the config describes (leader or follower), connected; and the seconds it took."""
    t0 = time.monotonic()
    arm = DynamixelFollower(config) if config.torque_on_connect else DynamixelLeader(config)
    return arm, time.monotonic() - t0


def refused(config: ArmConfig) -> tuple[str, float]:
    """The message connecting gives up with, and the seconds it took."""
    t0 = time.monotonic()
    with pytest.raises(BusError) as info:
        connect(config)
    message = str(info.value)
    assert "\n" not in message and not any(text in message for text in SDK_TEXT), message
    return message, time.monotonic() - t0


# ----------------------------------------------------------------------------- retries at start
def test_status_packets_missed_at_start_are_retried_within_the_bound():
    # Each instruction packet is ignored with probability 0.05, and no transfer is retried on its own
    # (retries=0): one pass of open/identify/configure/first read (~90 transfers) usually loses one.
    def bus():
        return PtyBus(chain_for(arm_config("unused"), faults=Faults(drop_rate=0.05, seed=0)))

    with bus() as emulator:  # one try only (the behaviour before retries): a plain-words failure
        message, _ = refused(arm_config(emulator.port, timeout_s=0.0, retries=0))
        assert message.startswith("test_arm: ") and "(1 try)" in message
        assert emulator.chain.stats["dropped"] >= 1
    with bus() as emulator:
        arm, took = connect(arm_config(emulator.port, timeout_s=5.0, retries=0))
        try:
            assert emulator.chain.stats["dropped"] >= 1 and took < 5.0
            assert arm.ticks is not None and arm.health.ok  # the first read came with the connection
            assert all(s.get(ct.TORQUE_ENABLE) == 1 for s in emulator.chain.servos.values())
        finally:
            arm.close()


@pytest.mark.parametrize("leader", [False, True], ids=["follower", "leader"])
def test_servos_that_power_up_late_are_waited_for(leader):
    chain = chain_for(arm_config("unused", leader=leader))
    chain.faults.vanished = set(chain.servos)  # no servo answers for the first 0.5 s
    back = threading.Timer(0.5, lambda: setattr(chain.faults, "vanished", set()))
    with PtyBus(chain) as emulator:
        back.start()
        arm, took = connect(arm_config(emulator.port, leader=leader, timeout_s=3.0))
        try:
            assert 0.5 <= took < 3.0
            reading = arm.read() if leader else arm.observe()["joint_pos"]
            assert len(reading) == (N + 1 if leader else N) and arm.health.ok
        finally:
            arm.close()
            back.cancel()


def test_a_servo_silent_past_the_bound_is_named_with_the_fix():
    chain = chain_for(arm_config("unused"))
    chain.faults.vanished = {5}
    with PtyBus(chain) as emulator:
        message, took = refused(arm_config(emulator.port, timeout_s=0.3))
    assert message.startswith(f"test_arm: servo 5 (j5) did not answer a ping at 1000000 baud on {emulator.port} "
                              f"(nor at any other standard rate) in "), message
    assert message.endswith(": check its cable and power, and that its ID is 5 (Dynamixel Wizard can scan for it)")
    assert 0.3 <= took < 3.0  # the bound, plus one scan of the other baud rates


def test_an_arm_where_nothing_answers_asks_about_power_and_the_first_cable():
    chain = chain_for(arm_config("unused", leader=True))
    chain.faults.vanished = set(chain.servos)
    with PtyBus(chain) as emulator:
        message, took = refused(arm_config(emulator.port, leader=True, timeout_s=0.2))
    assert "no servo answered a ping at 1000000 baud" in message and "(nor at any other standard rate)" in message
    assert "power supply on" in message and "IDs 1, 2, 3, 4, 5, 6, 7" in message
    assert took < 3.0


def test_replies_that_keep_going_missing_are_reported_in_plain_words():
    # every servo answers pings, but half the status packets carry a bad CRC
    with PtyBus(chain_for(arm_config("unused"), faults=Faults(corrupt_rate=0.5, seed=3))) as emulator:
        message, _ = refused(arm_config(emulator.port, timeout_s=0.0, retries=0))
    assert "no reply" in message or "garbled" in message or "did not answer" in message, message


# ----------------------------------------------------------------------------- baud rate
def test_the_emulator_answers_only_at_the_servos_baud_rate_when_given_one():
    config = arm_config("unused")
    with PtyBus(chain_for(config), servo_baud=57_600) as emulator:
        assert all(s.get(ct.BAUD_RATE) == 1 for s in emulator.chain.servos.values())  # register value for 57600
        for baud, answers in ((1_000_000, False), (57_600, True)):
            bus = DynamixelBus(BusConfig(port=emulator.port, baudrate=baud, latency_ms=4.0), config.models())
            bus.open()
            try:
                assert emulator.host_baud() == baud  # pyserial set the tty's speed; the pty kept it
                assert (bus.missing(retries=1) == []) is answers
            finally:
                bus.close()
        assert emulator.chain.stats["wrong_baud"] >= 2
    with PtyBus(chain_for(config)) as emulator:  # the default: any rate is heard
        bus = DynamixelBus(BusConfig(port=emulator.port, baudrate=57_600, latency_ms=4.0), config.models())
        bus.open()
        try:
            assert bus.missing() == [] and emulator.chain.stats["wrong_baud"] == 0
        finally:
            bus.close()


@pytest.mark.parametrize("leader", [False, True], ids=["follower", "leader"])
def test_a_wrong_baud_rate_names_the_rate_the_servos_answer_at_without_waiting_out_the_bound(leader):
    with PtyBus(chain_for(arm_config("unused", leader=leader)), servo_baud=57_600) as emulator:
        message, took = refused(arm_config(emulator.port, leader=leader, timeout_s=10.0))
        assert message == ("test_arm: servos answer at 57600 baud but the config says 1000000: set bus.baudrate to 57600 "
                           "(or change the servos' baud rate with Dynamixel Wizard)")
        assert took < 5.0  # found on the first silence, not after the 10 s bound
        arm, _ = connect(arm_config(emulator.port, leader=leader, baudrate=57_600))  # the fix works
        arm.close()


def test_one_servo_at_its_own_baud_rate_is_named():
    chain = chain_for(arm_config("unused"))
    with PtyBus(chain, servo_baud=1_000_000) as emulator:
        chain.servos[5]._put(ct.BAUD_RATE, 1)  # someone set servo 5 to 57600 with Dynamixel Wizard
        message, _ = refused(arm_config(emulator.port, timeout_s=5.0))
    assert message == ("test_arm: servo 5 (j5) answers at 57600 baud, not the bus's 1000000: "
                       "set its baud rate to 1000000 with Dynamixel Wizard")


# ----------------------------------------------------------------------------- the port itself
def test_a_missing_port_fails_at_once_with_how_to_find_the_adapter(tmp_path):
    message, took = refused(arm_config(str(tmp_path / "ttyUSB9"), timeout_s=5.0))
    assert message == (f"serial port {tmp_path / 'ttyUSB9'} does not exist: is the USB adapter plugged in and powered? "
                       f"(list adapters with: ls -l /dev/serial/by-id/)")
    assert took < 1.0  # waiting does not plug an adapter in: no retries


def test_a_file_that_is_not_a_serial_port_is_named_as_such(tmp_path):
    not_a_tty = tmp_path / "notes.txt"
    not_a_tty.write_text("hello")
    message, _ = refused(arm_config(str(not_a_tty)))
    assert message.startswith(f"{not_a_tty} is not a serial port: give the USB adapter's device, e.g. /dev/ttyUSB0")


def test_permission_denied_says_to_join_dialout():
    # A real pty with mode 000, opened by a process that is not root (as root: a forked child that
    # drops to the 'nobody' user after Python and pyserial are loaded, since the venv is root's).
    master, slave = os.openpty()
    path = os.ttyname(slave)
    os.chmod(path, 0)
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: only system calls and the function under test, then _exit
        code = 0
        try:
            os.close(read_end)
            if os.geteuid() == 0:
                try:
                    os.setgroups([])
                    os.setgid(65534)
                    os.setuid(65534)
                except OSError as exc:
                    os.write(write_end, f"SKIP cannot drop root here: {exc}".encode())
                    os._exit(0)
            try:
                open_port(BusConfig(port=path))
                os.write(write_end, b"OPENED")
            except BusError as exc:
                os.write(write_end, str(exc).encode())
        except BaseException:  # noqa: BLE001 (never let the child run on into pytest)
            code = 1
        os._exit(code)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as fh:
        said = fh.read().decode()
    os.waitpid(pid, 0)
    for fd in (master, slave):
        os.close(fd)
    if said.startswith("SKIP"):
        pytest.skip(said[5:] + " (as root the open would succeed, so there is nothing to test)")
    assert said == (f"no permission to open {path}: add yourself to the 'dialout' group "
                    f"(sudo usermod -aG dialout $USER), then log in again")


# ----------------------------------------------------------------------------- the commands
def leader_files(tmp_path: Path, port: str, **bus) -> tuple[Path, Path]:
    raw = json.loads((ARMS / "koch_leader.json").read_text())
    raw["bus"].update(port=port, latency_ms=4.0, connect_timeout_s=0.3, **bus)
    config, cal = tmp_path / "leader.json", tmp_path / "cal.json"
    config.write_text(json.dumps(raw))
    LeaderCalibration((1.0,) * 5, (0,) * 5, -0.5, 0.5).save(cal)
    return config, cal


def one_line_error(command: list[str], prog: str) -> str:
    out = subprocess.run([sys.executable, "-m", *command], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 2, out.stderr
    lines = out.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"{prog}: error: "), out.stderr
    assert not any(text in lines[0] for text in SDK_TEXT), lines[0]
    return lines[0]


def test_hgd_leader_says_in_one_line_what_is_wrong(tmp_path):
    config, cal = leader_files(tmp_path, str(tmp_path / "ttyUSB9"))
    line = one_line_error(["hgdagger.cli.leader_device", "--leader", str(config), "--calibration", str(cal)], "leader_device.py")
    assert f"serial port {tmp_path / 'ttyUSB9'} does not exist" in line

    leader = ArmConfig.load(ARMS / "koch_leader.json")
    with PtyBus(chain_for(leader), servo_baud=57_600) as emulator:  # the servos are at 57600, the config says 1000000
        config, cal = leader_files(tmp_path, emulator.port)
        line = one_line_error(["hgdagger.cli.leader_device", "--leader", str(config), "--calibration", str(cal)],
                              "leader_device.py")
    assert line.endswith("koch_leader: servos answer at 57600 baud but the config says 1000000: set bus.baudrate to "
                         "57600 (or change the servos' baud rate with Dynamixel Wizard)")

    chain = chain_for(leader)
    chain.faults.vanished = {3}
    with PtyBus(chain) as emulator:
        config, cal = leader_files(tmp_path, emulator.port)
        line = one_line_error(["hgdagger.cli.leader_device", "--leader", str(config), "--calibration", str(cal)],
                              "leader_device.py")
    assert "koch_leader: servo 3 (elbow_flex) did not answer a ping at 1000000 baud" in line


def test_hgd_puppet_names_the_arm_whose_port_is_wrong(tmp_path):
    leader_config, _ = leader_files(tmp_path, str(tmp_path / "notes.txt"))
    (tmp_path / "notes.txt").write_text("not a tty")
    follower = json.loads((ARMS / "koch_follower.json").read_text())
    follower["bus"].update(port=str(tmp_path / "ttyUSB9"), connect_timeout_s=0.3)
    (tmp_path / "follower.json").write_text(json.dumps(follower))
    (tmp_path / "robot.json").write_text(json.dumps({"name": "koch_here", "driver": {"type": "dynamixel", "follower": "follower.json"},
                                                      "leader": {"arm": str(leader_config)}}))
    command = ["hgdagger.cli.puppet", "--robot", str(tmp_path / "robot.json")]
    line = one_line_error(command, "puppet.py")
    assert f"follower arm: serial port {tmp_path / 'ttyUSB9'} does not exist" in line

    follower_chain = chain_for(ArmConfig.from_dict(follower))
    with PtyBus(follower_chain) as emulator:
        follower["bus"]["port"] = emulator.port
        (tmp_path / "follower.json").write_text(json.dumps(follower))
        line = one_line_error(command, "puppet.py")
    assert f"leader arm: {tmp_path / 'notes.txt'} is not a serial port" in line


# ----------------------------------------------------------------------------- cameras
def test_a_missing_camera_is_named_with_the_cameras_there_are():
    there = cameras_found()
    for source in (97, "/dev/video98"):
        with pytest.raises(CameraError) as info:
            CameraStream(CameraConfig("wrist", source))
        message = str(info.value)
        assert message.startswith(f"camera 'wrist': /dev/video{97 if source == 97 else 98} does not exist")
        if there:
            assert f"cameras found: {', '.join(there)}: set its source to one of them" in message
        else:
            assert "no cameras were found (no /dev/video*): is it plugged in?" in message


def test_the_camera_list_is_in_device_order_with_the_kernels_names(tmp_path):
    dev, sysfs = tmp_path / "dev", tmp_path / "sys"
    dev.mkdir()
    for node, name in (("video0", "HD Webcam"), ("video1", None), ("video10", "Arducam"), ("video2", "HD Webcam")):
        (dev / node).touch()
        if name:
            (sysfs / node).mkdir(parents=True)
            (sysfs / node / "name").write_text(name + "\n")
    (dev / "videoX").touch()
    (dev / "ttyUSB0").touch()
    assert cameras_found(str(dev), str(sysfs)) == [f"{dev}/video0 (HD Webcam)", f"{dev}/video1",
                                                   f"{dev}/video2 (HD Webcam)", f"{dev}/video10 (Arducam)"]
    assert cameras_found(str(tmp_path / "nothing"), str(sysfs)) == []


def test_a_late_reply_to_an_earlier_request_is_dropped_and_the_read_asked_again():
    """Under load a status packet can arrive after its request timed out; the SDK then takes it as the
    reply to the next read and indexes past its end. The bus drops it and asks again."""
    from teleop.dynamixel.emulator import ServoChain
    from teleop.dynamixel.protocol import Instruction, from_le, status_packet

    class LateChain(ServoChain):
        stale_left = 0

        def handle(self, packet, now):
            reply = super().handle(packet, now)
            if (packet.instruction == Instruction.READ and from_le(packet.params[0:2]) == ct.PRESENT_POSITION.address
                    and self.stale_left):
                self.stale_left -= 1
                return status_packet(packet.servo_id, 0, b"\x01\x02") + reply  # a 2-byte answer to an old request
            return reply

    follower = ArmConfig.load("koch_follower")
    base = chain_for(follower)
    chain = LateChain(list(base.servos.values()))
    with PtyBus(chain) as emulator:
        follower.bus.port = emulator.port
        arm = DynamixelFollower(follower)
        chain.stale_left = 1
        assert arm.bus.read(1, ct.PRESENT_POSITION) == 2048  # the right value, not the late packet's bytes
        assert arm.bus.packets.refused == 1 and arm.health.ok
        arm.close()
