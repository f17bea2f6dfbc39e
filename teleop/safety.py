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
from teleop import chunking


class Verdict(enum.IntFlag):
    OK = 0
    REJECTED = 1  # NaN/inf/wrong shape: held instead
    RANGE_CLIPPED = 2
    RATE_LIMITED = 4
    NO_BASIS = 8  # the previous command was not finite: the rate limit had nothing to start from


@dataclass(frozen=True)
class SafetyLimits:
    lower: np.ndarray  # (A,)
    upper: np.ndarray  # (A,)
    max_step: np.ndarray  # (A,) largest change per control step
    # (A,) bool: components that are displacements or velocities (a plugged-in task's deltas), not
    # targets. Holding sends no motion there and ramps do not scale them. None: all targets.
    relative: np.ndarray | None = None

    def still(self, last: np.ndarray) -> np.ndarray:
        """The command that keeps the robot still after `last`: `last` for targets, no motion
        (0, clipped to the range) for displacements and velocities."""
        last = np.asarray(last, np.float64)
        if self.relative is None or not self.relative.any():
            return last.copy()
        return np.where(self.relative, np.clip(0.0, self.lower, self.upper), last)

    def blend(self, start: np.ndarray, target: np.ndarray, step: int, total: int) -> np.ndarray:
        """Step `step` of `total` of a smooth ramp from `start` to `target` for targets; displacements
        and velocities are the target's at once (a ramp would shrink them toward standing still)."""
        ramped = chunking.ramp(start, target, step, total)
        return ramped if self.relative is None else np.where(self.relative, np.asarray(target, np.float64), ramped)

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
        relative = spec.relative_mask
        return cls(lo, hi, step, relative if relative.any() else None)


def filter_command(target: np.ndarray | None, last: np.ndarray, limits: SafetyLimits) -> tuple[np.ndarray, Verdict]:
    """The command to send for ``target`` given the ``last`` command sent, and what was changed.
    Whatever the inputs, the output is finite and in range."""
    last = np.asarray(last, np.float64)
    verdict = Verdict.OK
    middle = (limits.lower + limits.upper) / 2
    if last.shape != middle.shape:  # a driver that reported nonsense: start again from the middle
        last, verdict = middle.copy(), verdict | Verdict.NO_BASIS
    elif not np.isfinite(last).all():
        # A driver reported a non-finite command: the joints it left undefined are rate-limited
        # from the middle of their range (never NaN passed on, never an unlimited jump), and the
        # verdict says so.
        last, verdict = np.where(np.isfinite(last), last, middle), verdict | Verdict.NO_BASIS
    if target is None:
        return np.clip(last, limits.lower, limits.upper), verdict | Verdict.REJECTED
    t = np.asarray(target, np.float64)
    if t.shape != last.shape or not np.isfinite(t).all():
        return np.clip(last, limits.lower, limits.upper), verdict | Verdict.REJECTED
    stepped = np.clip(t, last - limits.max_step, last + limits.max_step)
    if not np.array_equal(stepped, t):
        verdict |= Verdict.RATE_LIMITED
    out = np.clip(stepped, limits.lower, limits.upper)
    if not np.array_equal(out, stepped):
        verdict |= Verdict.RANGE_CLIPPED
    return out, verdict
