"""Leader arms (puppeteering): joint positions mapped to follower targets through a calibration file.

The hardware driver for a real leader arm lives with the Dynamixel code; here is the interface,
the calibration map, the alignment check the takeover gate needs, and a simulated leader arm for
tests and rehearsal.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Protocol, Sequence

import numpy as np


class LeaderArm(Protocol):
    def read(self) -> np.ndarray:
        """Raw leader joint positions (rad, in the leader's own zero and sign) plus its gripper reading."""
        ...


@dataclass(frozen=True)
class LeaderCalibration:
    """follower_joint = sign * leader_joint + offset_quarter_turns * pi/2; gripper rescaled to 0..1."""

    signs: tuple[float, ...]
    offset_quarter_turns: tuple[int, ...]
    gripper_open: float  # leader gripper reading when fully open
    gripper_closed: float  # ... and when fully closed

    def __post_init__(self):
        if len(self.signs) != len(self.offset_quarter_turns):
            raise ValueError(f"calibration has {len(self.signs)} signs but {len(self.offset_quarter_turns)} offsets")
        if any(s not in (-1.0, 1.0) for s in self.signs):
            raise ValueError(f"calibration signs must be +1 or -1, got {list(self.signs)}")
        if self.gripper_open == self.gripper_closed:
            raise ValueError("calibration gripper_open and gripper_closed must differ")

    @classmethod
    def identity(cls, joints: int) -> "LeaderCalibration":
        return cls((1.0,) * joints, (0,) * joints, 0.0, 1.0)

    @classmethod
    def load(cls, path: str | Path) -> "LeaderCalibration":
        try:
            raw = json.loads(Path(path).read_text())
            return cls(tuple(float(s) for s in raw["signs"]), tuple(int(o) for o in raw["offset_quarter_turns"]),
                       float(raw["gripper_open"]), float(raw["gripper_closed"]))
        except FileNotFoundError:
            raise ValueError(f"leader calibration file {path} does not exist (run the calibration command first)") from None
        except (KeyError, TypeError, json.JSONDecodeError) as exc:
            raise ValueError(f"leader calibration file {path} is not valid: {exc!r}") from None

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(asdict(self), indent=2))

    def to_leader(self, follower_action: np.ndarray) -> np.ndarray:
        """The inverse: the leader reading (joints..., gripper) that maps to ``follower_action``."""
        action = np.asarray(follower_action, dtype=float)
        joints = (action[:-1] - np.asarray(self.offset_quarter_turns) * (np.pi / 2)) / np.asarray(self.signs)
        return np.append(joints, self.gripper_open + action[-1] * (self.gripper_closed - self.gripper_open))

    def to_follower(self, leader_reading: np.ndarray) -> np.ndarray:
        """Leader reading (joints..., gripper) -> follower action (joint targets..., gripper 0..1)."""
        reading = np.asarray(leader_reading, dtype=float)
        joints = np.asarray(self.signs) * reading[:-1] + np.asarray(self.offset_quarter_turns) * (np.pi / 2)
        grip = (reading[-1] - self.gripper_open) / (self.gripper_closed - self.gripper_open)
        return np.append(joints, np.clip(grip, 0.0, 1.0))


def misaligned_joints(leader_action: np.ndarray, follower_joints: np.ndarray, tolerance: float) -> list[int]:
    """Indices of joints where the leader is further than ``tolerance`` (rad) from the follower."""
    gap = np.abs(np.asarray(leader_action[: len(follower_joints)], dtype=float) - np.asarray(follower_joints, dtype=float))
    return [int(i) for i in np.flatnonzero(gap > tolerance)]


class SimulatedLeaderArm:
    """A leader arm moved along a trajectory (a function of time), read through a calibration.

    It reports raw readings in its own frame (the inverse of the calibration), so the full mapping
    path is exercised exactly as with hardware.
    """

    def __init__(self, trajectory: Callable[[float], Sequence[float]], calibration: LeaderCalibration):
        self.trajectory = trajectory
        self.calibration = calibration
        self.time = 0.0

    def advance(self, dt: float) -> None:
        self.time += dt

    def read(self) -> np.ndarray:
        return self.calibration.to_leader(self.trajectory(self.time))
