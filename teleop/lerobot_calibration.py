"""LeRobot calibration files read in, so an arm calibrated with LeRobot's tools runs here as it is.

LeRobot (``lerobot-calibrate``) writes one JSON object per arm: for each motor, by name,
``{"id", "drive_mode", "homing_offset", "range_min", "range_max"}`` (integers). It writes
``homing_offset`` into the servo's Homing Offset register and records the joint's range of motion in
that frame (Present Position after the offset); ``range_min``/``range_max`` also become the servo's
position limits. Its "degrees" reading of a joint is ``(ticks - mid) * 360 / (resolution - 1)``
with ``mid = (range_min + range_max) / 2``; ``drive_mode`` 1 turns the joint's direction round.

Here the same file becomes our per-joint calibration: 0 rad at ``mid``, sign -1 for drive_mode 1,
lower/upper at the ends of the range, and the homing offset to be written to the servo when it
holds another; the gripper's range becomes its open (0.0, at ``range_min``) and closed (1.0, at
``range_max``) ends, so our 0..1 is LeRobot's 0..100 divided by 100. Our radians use
2*pi/resolution per tick where LeRobot's degrees use 360/(resolution-1): they differ by 1 part in
4096. Pure functions; the arm config classes apply the result (``apply``).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

FIELDS = ("id", "drive_mode", "homing_offset", "range_min", "range_max")


@dataclass(frozen=True)
class MotorCalibration:
    """One motor's entry in a LeRobot calibration file."""

    id: int
    drive_mode: int
    homing_offset: int
    range_min: int
    range_max: int

    @property
    def mid(self) -> float:
        return (self.range_min + self.range_max) / 2

    @property
    def sign(self) -> float:
        return -1.0 if self.drive_mode else 1.0


@dataclass(frozen=True)
class JointCalibration:
    """What one LeRobot motor entry means for one of our joints."""

    sign: float
    center_ticks: float
    lower: float  # rad
    upper: float
    homing_offset: int


class CalibrationError(ValueError):
    """A LeRobot calibration file that cannot be used; the message is one line naming the file."""


def parse(raw: Any, origin: str) -> dict[str, MotorCalibration]:
    """A parsed LeRobot calibration JSON to motor entries; every problem is one CalibrationError line."""
    if not isinstance(raw, dict) or not raw:
        raise CalibrationError(f"LeRobot calibration {origin}: expected an object of motors by name "
                               f"(each {{{', '.join(FIELDS)}}}), got {type(raw).__name__ if raw else 'nothing'}")
    out = {}
    for name, entry in raw.items():
        if not isinstance(entry, dict):
            raise CalibrationError(f"LeRobot calibration {origin}: motor {name!r} must be an object with {', '.join(FIELDS)}")
        if missing := [f for f in FIELDS if f not in entry]:
            raise CalibrationError(f"LeRobot calibration {origin}: motor {name!r} lacks {', '.join(missing)} "
                                   f"(is this a LeRobot calibration file?)")
        if bad := [f for f in FIELDS if isinstance(entry[f], bool) or not isinstance(entry[f], int)]:
            raise CalibrationError(f"LeRobot calibration {origin}: motor {name!r}: {', '.join(bad)} must be integers")
        motor = MotorCalibration(**{f: entry[f] for f in FIELDS})
        if motor.drive_mode not in (0, 1):
            raise CalibrationError(f"LeRobot calibration {origin}: motor {name!r}: drive_mode must be 0 or 1, got {motor.drive_mode}")
        if motor.range_min >= motor.range_max:
            raise CalibrationError(f"LeRobot calibration {origin}: motor {name!r}: range_min {motor.range_min} must be "
                                   f"below range_max {motor.range_max} (was the joint moved through its range?)")
        out[str(name)] = motor
    return out


def read(path: str | Path) -> dict[str, MotorCalibration]:
    """Read a LeRobot calibration file (one line for a missing, unreadable or malformed file)."""
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise CalibrationError(f"LeRobot calibration {path}: cannot read it: {exc.strerror or exc}") from None
    try:
        raw = json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CalibrationError(f"LeRobot calibration {path} is not valid JSON: {exc}") from None
    return parse(raw, str(path))


def joint(motor: MotorCalibration, resolution: int) -> JointCalibration:
    """One motor entry as a joint's sign, zero tick, limits (rad) and homing offset."""
    ends = [motor.sign * (t - motor.mid) * 2 * math.pi / resolution for t in (motor.range_min, motor.range_max)]
    return JointCalibration(motor.sign, motor.mid, min(ends), max(ends), motor.homing_offset)


def lerobot_degrees(ticks: float, motor: MotorCalibration, resolution: int) -> float:
    """What LeRobot's "degrees" mode reads at ``ticks`` (for comparison; drive_mode as a sign)."""
    return motor.sign * (ticks - motor.mid) * 360.0 / (resolution - 1)


def match(calibration: dict[str, MotorCalibration], arm_name: str, servos: dict[str, int], resolution: dict[str, int],
          origin: str) -> None:
    """Refuse a file whose motors are not the arm's (names, ids) or whose ranges do not fit its servos."""
    if set(calibration) != set(servos):
        extra, lacking = sorted(set(calibration) - set(servos)), sorted(set(servos) - set(calibration))
        what = "; ".join(part for part in (f"the file has {extra} the arm has not" if extra else "",
                                           f"it lacks {lacking}" if lacking else "") if part)
        raise CalibrationError(f"LeRobot calibration {origin} does not fit arm {arm_name}: {what} (motors in the file: "
                               f"{sorted(calibration)}; a calibration of another robot?)")
    for name, servo_id in servos.items():
        motor = calibration[name]
        if motor.id != servo_id:
            raise CalibrationError(f"LeRobot calibration {origin} does not fit arm {arm_name}: motor {name!r} has id "
                                   f"{motor.id} in the file, {servo_id} in the arm config")
        if motor.range_min < 0 or motor.range_max >= resolution[name]:
            raise CalibrationError(f"LeRobot calibration {origin}: motor {name!r}: range {motor.range_min}..{motor.range_max} "
                                   f"is outside its servo's 0..{resolution[name] - 1}")


def apply(arm, calibration: dict[str, MotorCalibration], origin: str):
    """Set an arm config's joints and gripper from a LeRobot calibration (checked first with ``match``).

    ``arm`` is any arm config with ``joints`` (name, id, sign, offset_quarter_turns, center_ticks,
    homing_offset, lower, upper), an optional ``gripper`` (id, open_ticks, closed_ticks,
    homing_offset) and ``models()`` (servo id -> model with ``resolution``)."""
    models = arm.models()
    servos = {j.name: j.id for j in arm.joints} | ({"gripper": arm.gripper.id} if arm.gripper else {})
    match(calibration, arm.name, servos, {n: models[i].resolution for n, i in servos.items()}, origin)
    for j in arm.joints:
        c = joint(calibration[j.name], models[j.id].resolution)
        j.sign, j.offset_quarter_turns, j.center_ticks, j.homing_offset = c.sign, 0, c.center_ticks, c.homing_offset
        j.lower, j.upper = c.lower, c.upper
    if arm.gripper:
        g = calibration["gripper"]
        ends = (g.range_max, g.range_min) if g.drive_mode else (g.range_min, g.range_max)
        arm.gripper.open_ticks, arm.gripper.closed_ticks = ends
        arm.gripper.homing_offset = g.homing_offset
    return arm


def write(path: str | Path, motors: dict[str, MotorCalibration]) -> None:
    """Write a file in LeRobot's format (what ``lerobot-calibrate`` writes; tests and emulators use it)."""
    Path(path).write_text(json.dumps({n: {f: getattr(m, f) for f in FIELDS} for n, m in motors.items()}, indent=4))
