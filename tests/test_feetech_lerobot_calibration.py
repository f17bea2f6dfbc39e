"""An arm calibrated with LeRobot's tools runs here without recalibrating: its calibration JSON (per
motor: id, drive_mode, homing_offset, range_min, range_max) becomes our joints' zero, direction,
limits and the servos' homing offsets; a malformed or mismatched file is one line naming the problem."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from teleop import lerobot_calibration as lc
from teleop.dynamixel.calibration import JointMap, rad_to_ticks, ticks_to_rad
from teleop.feetech import control_table as ct
from teleop.feetech.config import FeetechArmConfig
from teleop.feetech.emulator import EmulatedServo, PtyBus, ServoChain
from teleop.feetech.follower import FeetechFollower, FeetechLeader

ROOT = Path(__file__).resolve().parents[1]
SO101 = ("shoulder_pan", "shoulder_lift", "elbow_flex", "wrist_flex", "wrist_roll", "gripper")
# What lerobot-calibrate wrote for one SO-101 follower (values of the kind it writes: homing offsets
# put each joint's middle pose at 2047; wrist_roll is a full-turn motor, 0..4095).
FOLLOWER_FILE = {
    "shoulder_pan": {"id": 1, "drive_mode": 0, "homing_offset": -1470, "range_min": 758, "range_max": 3292},
    "shoulder_lift": {"id": 2, "drive_mode": 0, "homing_offset": 154, "range_min": 812, "range_max": 3210},
    "elbow_flex": {"id": 3, "drive_mode": 0, "homing_offset": 1042, "range_min": 880, "range_max": 3085},
    "wrist_flex": {"id": 4, "drive_mode": 1, "homing_offset": -1020, "range_min": 861, "range_max": 3254},
    "wrist_roll": {"id": 5, "drive_mode": 0, "homing_offset": 73, "range_min": 0, "range_max": 4095},
    "gripper": {"id": 6, "drive_mode": 0, "homing_offset": 1137, "range_min": 2029, "range_max": 3474},
}

motors = st.builds(lambda lo, span, mode, off: lc.MotorCalibration(1, mode, off, lo, min(4095, lo + span)),
                   st.integers(0, 4000), st.integers(1, 4095), st.integers(0, 1), st.integers(-2047, 2047))


@given(motors, st.integers(0, 4095))
def test_our_radians_are_lerobots_degrees_within_one_part_in_4096(motor, ticks):
    j = lc.joint(motor, 4096)
    ours = ticks_to_rad([ticks], [JointMap(j.sign, 0, 4096, j.center_ticks)])[0]
    assert np.degrees(ours) * 4096 / 4095 == pytest.approx(lc.lerobot_degrees(ticks, motor, 4096), abs=1e-9)


@given(motors)
def test_the_limits_are_the_ends_of_the_recorded_range_and_map_back_to_them(motor):
    j = lc.joint(motor, 4096)
    jmap = JointMap(j.sign, 0, 4096, j.center_ticks)
    assert j.lower < j.upper
    assert sorted(rad_to_ticks([j.lower, j.upper], [jmap, jmap])) == [motor.range_min, motor.range_max]
    assert ticks_to_rad([motor.mid], [jmap])[0] == 0.0


def lerobot_servos(file: dict, actual_mid: bool = True, holding: bool = True) -> ServoChain:
    """Servos as lerobot-calibrate leaves them: Homing Offset and limits in flash (``holding``), each
    horn in the middle of its range; fresh servos (offset 0) when not ``holding``."""
    servos = []
    for name, m in file.items():
        mid = (m["range_min"] + m["range_max"]) / 2
        s = EmulatedServo(m["id"], ct.model("STS3215"), position=round(mid + m["homing_offset"]) if actual_mid else 2048)
        if holding:
            s.put(ct.HOMING_OFFSET, m["homing_offset"])
            s.put(ct.MIN_POSITION_LIMIT, m["range_min"])
            s.put(ct.MAX_POSITION_LIMIT, m["range_max"])
            s.flash = bytes(s.table[: ct.EEPROM_END])
        servos.append(s)
    return ServoChain(servos)


def so101(tmp_path: Path, port: str, leader: bool = False, file: dict = FOLLOWER_FILE) -> FeetechArmConfig:
    raw = json.loads((ROOT / f"teleop/feetech/arms/so101_{'leader' if leader else 'follower'}.json").read_text())
    (tmp_path / "cal.json").write_text(json.dumps(file, indent=4))
    raw["bus"].update(port=port, latency_ms=4.0)
    raw["lerobot_calibration"] = "cal.json"  # relative to the arm file
    (tmp_path / "arm.json").write_text(json.dumps(raw))
    return FeetechArmConfig.load(tmp_path / "arm.json")


def test_a_lerobot_calibrated_so101_reads_zero_in_its_middle_pose_and_keeps_its_servos_as_they_are(tmp_path):
    chain = lerobot_servos(FOLLOWER_FILE)
    with PtyBus(chain) as bus:
        arm = so101(tmp_path, bus.port)
        assert arm.joints[3].sign == -1.0 and arm.joints[0].center_ticks == (758 + 3292) / 2
        flash = {i: s.flash for i, s in chain.servos.items()}
        drv = FeetechFollower(arm)
        try:
            obs = drv.observe()
            assert np.allclose(obs["joint_pos"], 0.0, atol=2 * np.pi / 4096)  # the middle of every range
            assert {i: s.get(ct.HOMING_OFFSET) for i, s in chain.servos.items()} == \
                {m["id"]: m["homing_offset"] for m in FOLLOWER_FILE.values()}
            for name, m in FOLLOWER_FILE.items():  # LeRobot's limits are what our limits write: nothing changes
                s = chain.servos[m["id"]]
                assert (s.get(ct.MIN_POSITION_LIMIT), s.get(ct.MAX_POSITION_LIMIT)) == (m["range_min"], m["range_max"])
            kept = [*range(9, 13), 31, 32]  # limits and offset bytes: not rewritten
            assert all(chain.servos[i].flash[k] == flash[i][k] for i in chain.servos for k in kept)
            assert drv.spec.joint_upper[0] == pytest.approx((3292 - 758) / 2 * 2 * np.pi / 4096)
            drv.command(np.array([0.3, 0.0, 0.0, 0.5, 0.0, 1.0]))  # wrist_flex drive_mode 1: turns the other way
            drv.observe()  # a round trip: the emulator has taken the goals
            assert chain.servos[4].get(ct.GOAL_POSITION) == round((861 + 3254) / 2 - 0.5 * 4096 / (2 * np.pi))
            assert chain.servos[6].get(ct.GOAL_POSITION) == 3474  # gripper 1.0 = range_max (LeRobot's 100)
        finally:
            drv.close()


def test_fresh_servos_get_the_calibrations_homing_offsets_written_to_flash(tmp_path):
    chain = lerobot_servos(FOLLOWER_FILE, holding=False)  # e.g. a replaced servo: offset 0
    with PtyBus(chain) as bus:
        drv = FeetechFollower(so101(tmp_path, bus.port))
        drv.close()
    for m in FOLLOWER_FILE.values():
        s = chain.servos[m["id"]]
        s.power_cycle()
        assert s.get(ct.HOMING_OFFSET) == m["homing_offset"] and s.get(ct.MAX_POSITION_LIMIT) == m["range_max"]


def test_a_lerobot_calibrated_leader_drives_the_follower_in_the_same_frame(tmp_path):
    from hgdagger.robots.leader import calibration_from_lerobot

    leader_file = {n: dict(m, homing_offset=m["homing_offset"] + 17 * m["id"]) for n, m in FOLLOWER_FILE.items()}
    leader_file["wrist_flex"]["drive_mode"] = 0
    chain = lerobot_servos(leader_file)
    with PtyBus(chain) as bus:
        leader = FeetechLeader(so101(tmp_path, bus.port, leader=True, file=leader_file))
        try:
            reading = leader.read()
            follower_target = calibration_from_lerobot(leader.config).to_follower(reading)
            assert np.allclose(follower_target[:5], 0.0, atol=2 * np.pi / 4096)  # middle pose -> follower's middle pose
            grip = chain.servos[6]
            grip.hand = lambda t: 3474 + grip.get(ct.HOMING_OFFSET)  # trigger squeezed to its range_max
            assert calibration_from_lerobot(leader.config).to_follower(leader.read())[-1] == pytest.approx(1.0)
        finally:
            leader.close()


@pytest.mark.parametrize("change, says", [
    (lambda f: f.update(elbow=f.pop("elbow_flex")), "does not fit arm so101_follower: the file has ['elbow'] the arm has not; "
                                                     "it lacks ['elbow_flex']"),
    (lambda f: f["gripper"].update(id=7), "motor 'gripper' has id 7 in the file, 6 in the arm config"),
    (lambda f: f["shoulder_pan"].pop("range_max"), "motor 'shoulder_pan' lacks range_max (is this a LeRobot calibration file?)"),
    (lambda f: f["shoulder_pan"].update(range_min=3300), "range_min 3300 must be below range_max 3292"),
    (lambda f: f["elbow_flex"].update(drive_mode=2), "drive_mode must be 0 or 1"),
    (lambda f: f["elbow_flex"].update(homing_offset="12"), "homing_offset must be integers"),
    (lambda f: f["wrist_roll"].update(range_max=4096), "range 0..4096 is outside its servo's 0..4095"),
])
def test_a_malformed_or_mismatched_file_is_one_line_naming_what_does_not_match(tmp_path, change, says):
    file = json.loads(json.dumps(FOLLOWER_FILE))
    change(file)
    with pytest.raises(lc.CalibrationError) as info:
        so101(tmp_path, "/dev/null", file=file)
    message = str(info.value)
    assert says in message and str(tmp_path / "cal.json") in message and "\n" not in message, message


def test_hgd_run_refuses_a_bad_calibration_file_in_one_line_before_touching_the_arm(tmp_path):
    (tmp_path / "koch_cal.json").write_text(json.dumps({n: {"id": i + 1, "drive_mode": 0, "homing_offset": 0,
                                                            "range_min": 100, "range_max": 200} for i, n in enumerate(
        ["shoulder_pan", "shoulder_lift", "elbow_flex", "wrist_flex", "wrist_roll", "gripper", "extra"])}))
    (tmp_path / "broken.json").write_text("{not json")
    for file, says in (("koch_cal.json", "does not fit arm so101_follower: the file has ['extra'] the arm has not"),
                       ("broken.json", "is not valid JSON")):
        out = subprocess.run([sys.executable, "-m", "hgdagger.cli.run_robot", "--robot", "so101", "--port",
                              str(tmp_path / "ttyACM9"), "--no-cameras", "--lerobot-calibration", str(tmp_path / file)],
                             cwd=ROOT, capture_output=True, text=True, timeout=60)
        lines = out.stderr.strip().splitlines()
        assert out.returncode == 2 and len(lines) == 1 and says in lines[0], out.stderr


def test_a_lerobot_calibrated_koch_reads_zero_in_its_middle_pose_on_dynamixel_servos(tmp_path):
    from teleop.dynamixel import control_table as dct
    from teleop.dynamixel.config import ARMS, ArmConfig
    from teleop.dynamixel.emulator import EmulatedServo as DxlServo, PtyBus as DxlBus, ServoChain as DxlChain
    from teleop.dynamixel.follower import DynamixelFollower

    koch = json.loads((ARMS / "koch_follower.json").read_text())
    file = {j["name"]: {"id": j["id"], "drive_mode": int(j["id"] == 2), "homing_offset": 1024 * (j["id"] % 3 - 1),
                        "range_min": 1000 + 10 * j["id"], "range_max": 3000 + 30 * j["id"]} for j in koch["joints"]}
    file["gripper"] = {"id": 6, "drive_mode": 0, "homing_offset": 0, "range_min": 2000, "range_max": 2900}
    lc.write(tmp_path / "koch_cal.json", {n: lc.MotorCalibration(**m) for n, m in file.items()})
    # servos with offset 0, each reading the file's middle pose (the Dynamixel emulator reports Present
    # Position without its Homing Offset, so the horn is placed at the reading the offset would give)
    servos = [DxlServo(m["id"], dct.model(j["model"]), round((m["range_min"] + m["range_max"]) / 2))
              for j, m in zip(koch["joints"] + [koch["gripper"] | {"name": "gripper"}], file.values())]
    with DxlBus(DxlChain(servos)) as bus:
        koch["bus"]["port"] = bus.port
        koch["lerobot_calibration"] = "koch_cal.json"
        (tmp_path / "koch.json").write_text(json.dumps(koch))
        drv = DynamixelFollower(ArmConfig.load(tmp_path / "koch.json"))
        try:
            assert all(s.get(dct.HOMING_OFFSET) == file_m["homing_offset"] for s, file_m in zip(servos, file.values()))
            assert np.allclose(drv.observe()["joint_pos"], 0.0, atol=2 * np.pi / 4096)
            assert drv.spec.joint_lower[1] == pytest.approx(-(3060 - 1020) / 2 * 2 * np.pi / 4096)
        finally:
            drv.close()
