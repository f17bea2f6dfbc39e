"""Ticks <-> physical units for one servo: pure functions, no I/O.

A servo reports its horn angle in ticks (0..resolution-1 per turn; X-series 4096). With the servo
horn mounted at any multiple of a quarter turn, and either way round, the joint angle is

    joint_rad = sign * (ticks - resolution/2) * 2*pi/resolution + offset_quarter_turns * pi/2

so tick resolution/2 (the servo's middle) is 0 rad for an uncalibrated joint. A map with a ``center``
puts 0 rad at that tick instead (a LeRobot calibration: the middle of the joint's recorded range). The gripper is a
linear map from its ``open_ticks`` (0.0) to ``closed_ticks`` (1.0), clipped to [0, 1] on reading.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

QUARTER_TURN = np.pi / 2


@dataclass(frozen=True)
class JointMap:
    """How one joint's ticks map to radians (see the module docstring)."""

    sign: float = 1.0
    offset_quarter_turns: int = 0
    resolution: int = 4096
    center: float | None = None  # the tick that reads 0 rad (before the offset); None: resolution/2

    def __post_init__(self) -> None:
        if self.sign not in (-1.0, 1.0):
            raise ValueError(f"joint sign must be +1 or -1, got {self.sign}")


def _centers(maps) -> np.ndarray:
    return np.array([m.resolution / 2 if m.center is None else m.center for m in maps], np.float64)


def ticks_to_rad(ticks: np.ndarray, maps: list[JointMap] | tuple[JointMap, ...]) -> np.ndarray:
    """Present Position ticks -> joint angles (rad)."""
    t = np.asarray(ticks, dtype=np.float64)
    res = np.array([m.resolution for m in maps], np.float64)
    sign = np.array([m.sign for m in maps], np.float64)
    offset = np.array([m.offset_quarter_turns for m in maps], np.float64) * QUARTER_TURN
    return sign * (t - _centers(maps)) * (2 * np.pi / res) + offset


def rad_to_ticks(rad: np.ndarray, maps: list[JointMap] | tuple[JointMap, ...]) -> np.ndarray:
    """Joint angles (rad) -> Goal Position ticks (nearest integer)."""
    q = np.asarray(rad, dtype=np.float64)
    res = np.array([m.resolution for m in maps], np.float64)
    sign = np.array([m.sign for m in maps], np.float64)
    offset = np.array([m.offset_quarter_turns for m in maps], np.float64) * QUARTER_TURN
    return np.rint(_centers(maps) + sign * (q - offset) * res / (2 * np.pi)).astype(np.int64)


def velocity_units_to_rad_s(units: np.ndarray, signs: np.ndarray, rpm_per_unit: float = 0.229) -> np.ndarray:
    """Present Velocity units (0.229 rpm each on X-series) -> rad/s in the joint's sign."""
    return np.asarray(signs, np.float64) * np.asarray(units, np.float64) * rpm_per_unit * 2 * np.pi / 60.0


@dataclass(frozen=True)
class GripperMap:
    """Gripper ticks at fully open (0.0) and fully closed (1.0)."""

    open_ticks: int
    closed_ticks: int

    def __post_init__(self) -> None:
        if self.open_ticks == self.closed_ticks:
            raise ValueError("gripper open_ticks and closed_ticks must differ")

    def to_unit(self, ticks: float) -> float:
        """Ticks -> closedness in [0, 1]."""
        return float(np.clip((ticks - self.open_ticks) / (self.closed_ticks - self.open_ticks), 0.0, 1.0))

    def to_ticks(self, closed: float) -> int:
        """Closedness (clipped to [0, 1]) -> ticks."""
        c = float(np.clip(closed, 0.0, 1.0))
        return int(round(self.open_ticks + c * (self.closed_ticks - self.open_ticks)))


def offset_to_nearest_quarter(measured_rad: float, wanted_rad: float, sign: float) -> int:
    """The quarter-turn offset that makes a joint read closest to ``wanted_rad`` when its
    uncalibrated reading (sign applied, no offset) is ``measured_rad`` (used by calibration)."""
    return int(np.rint((wanted_rad - sign * measured_rad) / QUARTER_TURN))
