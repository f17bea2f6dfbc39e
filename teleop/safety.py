"""The safety filter every command passes, whatever its source. Pure: arrays in, arrays out.

Order matters: a non-finite or wrongly shaped target is rejected outright (the arm holds the last
command); otherwise the per-step change is limited first (velocity), then the result is clipped to
the joint range, so nothing out of range is ever sent even if the previous command was.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

import numpy as np

from hgdagger.common.types import RobotSpec


class Verdict(enum.IntFlag):
    OK = 0
    REJECTED = 1  # NaN/inf/wrong shape: held instead
    RANGE_CLIPPED = 2
    RATE_LIMITED = 4


@dataclass(frozen=True)
class SafetyLimits:
    lower: np.ndarray  # (A,)
    upper: np.ndarray  # (A,)
    max_step: np.ndarray  # (A,) largest change per control step

    @classmethod
    def from_spec(cls, spec: RobotSpec, velocity_scale: float = 1.0, gripper_per_s: float = 4.0,
                  range_margin: float = 0.0) -> "SafetyLimits":
        """Joint range shrunk by ``range_margin`` rad, per-step limits from max_joint_velocity x
        control period (scaled), gripper from ``gripper_per_s`` (full strokes per second)."""
        lo = spec.action_lower.copy()
        hi = spec.action_upper.copy()
        lo[:-1] += range_margin
        hi[:-1] -= range_margin
        step = np.append(np.asarray(spec.max_joint_velocity, np.float64) * velocity_scale,
                         gripper_per_s * (spec.gripper_range[1] - spec.gripper_range[0])) * spec.control_period
        return cls(lo, hi, step)


def filter_command(target: np.ndarray | None, last: np.ndarray, limits: SafetyLimits) -> tuple[np.ndarray, Verdict]:
    """The command to send for ``target`` given the ``last`` command sent, and what was changed."""
    last = np.asarray(last, np.float64)
    if target is None:
        return np.clip(last, limits.lower, limits.upper), Verdict.REJECTED
    t = np.asarray(target, np.float64)
    if t.shape != last.shape or not np.isfinite(t).all():
        return np.clip(last, limits.lower, limits.upper), Verdict.REJECTED
    verdict = Verdict.OK
    stepped = np.clip(t, last - limits.max_step, last + limits.max_step)
    if not np.array_equal(stepped, t):
        verdict |= Verdict.RATE_LIMITED
    out = np.clip(stepped, limits.lower, limits.upper)
    if not np.array_equal(out, stepped):
        verdict |= Verdict.RANGE_CLIPPED
    return out, verdict
