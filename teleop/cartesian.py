"""Cartesian teleoperation: a velocity command for the gripper becomes joint targets through IK.

A gamepad or keyboard moves a target pose for the gripper's centre; each tick the target is
integrated, kept inside the workspace, and turned into absolute joint targets by one damped
least-squares step from the arm's measured joints. On takeover the target restarts at the arm's
current pose, so control continues from where the arm is.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np


class CartesianArm(Protocol):
    """An arm's kinematics as Cartesian teleop needs them: the gripper's pose from the joints, and
    one inverse-kinematics step towards a pose. The sim arm's is `sim.arm_model.SimArmModel`; a real
    arm brings its own (its joints, its link lengths), so teleop never assumes which arm it drives."""

    max_joint_velocity: float  # rad/s of the slowest joint
    workspace: tuple[tuple[float, float, float], tuple[float, float, float]]  # box the gripper centre may go (m)
    teleop_speed: float  # m/s of the gripper centre at full stick: a pace that suits the arm's size

    def gripper_pose(self, joint_pos: np.ndarray) -> tuple[np.ndarray, float]:
        """The gripper centre (m, world frame) and its yaw about the vertical (rad)."""
        ...

    def solve(self, joint_pos: np.ndarray, target_pos: np.ndarray, target_yaw: float,
              max_joint_step: float) -> np.ndarray:
        """Joint targets one bounded step from `joint_pos` towards the gripper pointing down at `target_pos`."""
        ...


class LazyArm:
    """A CartesianArm built on first use (``factory()``), so that a session that never moves the arm
    in Cartesian space (a leader arm drives it) never loads the model or its dependencies."""

    def __init__(self, name: str, factory):
        self.name, self._factory, self._arm = name, factory, None

    def _get(self) -> CartesianArm:
        if self._arm is None:
            self._arm = self._factory()
        return self._arm

    @property
    def max_joint_velocity(self) -> float:
        return self._get().max_joint_velocity

    @property
    def workspace(self):
        return self._get().workspace

    @property
    def teleop_speed(self) -> float:
        return self._get().teleop_speed

    def gripper_pose(self, joint_pos: np.ndarray) -> tuple[np.ndarray, float]:
        return self._get().gripper_pose(joint_pos)

    def solve(self, joint_pos, target_pos, target_yaw, max_joint_step) -> np.ndarray:
        return self._get().solve(joint_pos, target_pos, target_yaw, max_joint_step)


@dataclass(frozen=True)
class Twist:
    """A normalised velocity command: each component in [-1, 1] of the configured top speed."""

    linear: np.ndarray = field(default_factory=lambda: np.zeros(3))  # x, y, z in the world frame
    yaw: float = 0.0
    gripper: float | None = None  # absolute gripper command (0 open .. 1 closed), None: unchanged


@dataclass(frozen=True)
class CartesianConfig:
    max_linear_speed: float | None = None  # m/s at full stick (None: the arm model's teleop_speed)
    max_yaw_rate: float = 1.5  # rad/s at full stick
    speed_scale: float = 1.0  # operator's fine/coarse switch multiplies the speeds
    workspace_low: tuple[float, float, float] | None = None  # None: the arm model's own workspace
    workspace_high: tuple[float, float, float] | None = None
    max_lead: float = 0.05  # how far the target may run ahead of the arm (m): no wind-up


def apply_dead_zone(value: float, dead_zone: float) -> float:
    """Zero inside the dead zone, rescaled so the output still spans [-1, 1] outside it."""
    if abs(value) <= dead_zone:
        return 0.0
    return float(np.sign(value) * (abs(value) - dead_zone) / (1.0 - dead_zone))


class CartesianMapper:
    """Integrates twists into a gripper pose target and solves joint targets for it."""

    def __init__(self, arm: CartesianArm, config: CartesianConfig = CartesianConfig()):
        self.config = config
        self.arm = arm
        self.target_pos: np.ndarray | None = None
        self._start: tuple[np.ndarray, float] | None = None
        self.target_yaw = 0.0
        self.gripper = 0.0

    def start_from(self, joint_pos: np.ndarray, gripper: float) -> None:
        """Restart the target at the arm's pose (called on takeover). The pose is worked out at the
        next ``step``: a takeover by a leader arm never needs the kinematic model."""
        self._start = (np.asarray(joint_pos, dtype=float).copy(), float(gripper))
        self.target_pos = None

    def step(self, twist: Twist, joint_pos: np.ndarray, dt: float) -> np.ndarray:
        """Integrate ``twist`` over ``dt`` seconds and return the action (joint targets + gripper)."""
        q = np.asarray(joint_pos, dtype=float)
        if self.target_pos is None:
            start_q, self.gripper = self._start if self._start is not None else (q, self.gripper)
            self.target_pos, self.target_yaw = self.arm.gripper_pose(start_q)
            self._start = None
        cfg = self.config
        here, _ = self.arm.gripper_pose(q)
        speed = cfg.max_linear_speed if cfg.max_linear_speed is not None else self.arm.teleop_speed
        move = np.clip(np.asarray(twist.linear, dtype=float), -1.0, 1.0) * speed * cfg.speed_scale * dt
        low = cfg.workspace_low if cfg.workspace_low is not None else self.arm.workspace[0]
        high = cfg.workspace_high if cfg.workspace_high is not None else self.arm.workspace[1]
        target = np.clip(self.target_pos + move, low, high)
        lead = target - here
        if np.linalg.norm(lead) > cfg.max_lead:  # the arm is lagging or blocked: don't wind up
            target = here + lead * (cfg.max_lead / np.linalg.norm(lead))
        self.target_pos = target
        self.target_yaw += float(np.clip(twist.yaw, -1.0, 1.0)) * cfg.max_yaw_rate * cfg.speed_scale * dt
        if twist.gripper is not None:
            self.gripper = float(np.clip(twist.gripper, 0.0, 1.0))
        # Never ask a joint for more than 90% of its rated velocity over this tick.
        q_next = self.arm.solve(q, self.target_pos, self.target_yaw, 0.9 * self.arm.max_joint_velocity * dt)
        return np.append(q_next, self.gripper)
