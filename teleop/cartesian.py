"""Cartesian teleoperation: a velocity command for the gripper becomes joint targets through IK.

A gamepad or keyboard moves a target pose for the gripper's centre; each tick the target is
integrated, kept inside the workspace, and turned into absolute joint targets by one damped
least-squares step from the arm's measured joints. On takeover the target restarts at the arm's
current pose, so control continues from where the arm is.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from sim import arm
from sim.experts.base import gripper_yaw
from sim.kinematics import ArmKinematics, IKParams, yaw_down_quat
from sim.tasks.base import canonical_gripper_quat
from sim.scene import load_model


@dataclass(frozen=True)
class Twist:
    """A normalised velocity command: each component in [-1, 1] of the configured top speed."""

    linear: np.ndarray = field(default_factory=lambda: np.zeros(3))  # x, y, z in the world frame
    yaw: float = 0.0
    gripper: float | None = None  # absolute gripper command (0 open .. 1 closed), None: unchanged


@dataclass(frozen=True)
class CartesianConfig:
    max_linear_speed: float = 0.25  # m/s at full stick
    max_yaw_rate: float = 1.5  # rad/s at full stick
    speed_scale: float = 1.0  # operator's fine/coarse switch multiplies the speeds
    workspace_low: tuple[float, float, float] = (0.20, -0.45, 0.02)
    workspace_high: tuple[float, float, float] = (0.80, 0.45, 0.60)
    max_lead: float = 0.05  # how far the target may run ahead of the arm (m): no wind-up


def apply_dead_zone(value: float, dead_zone: float) -> float:
    """Zero inside the dead zone, rescaled so the output still spans [-1, 1] outside it."""
    if abs(value) <= dead_zone:
        return 0.0
    return float(np.sign(value) * (abs(value) - dead_zone) / (1.0 - dead_zone))


class CartesianMapper:
    """Integrates twists into a gripper pose target and solves joint targets for it."""

    def __init__(self, config: CartesianConfig = CartesianConfig(), kinematics: ArmKinematics | None = None):
        self.config = config
        self.kinematics = kinematics or ArmKinematics(load_model(), arm.TCP_SITE, arm.JOINT_NAMES)
        self.target_pos: np.ndarray | None = None
        self.target_yaw = 0.0
        self.gripper = 0.0

    def start_from(self, joint_pos: np.ndarray, gripper: float) -> None:
        """Restart the target at the arm's current pose (called on takeover)."""
        pos, quat = self.kinematics.site_pose(np.asarray(joint_pos, dtype=float))
        self.target_pos = pos
        self.target_yaw = gripper_yaw(canonical_gripper_quat(quat))
        self.gripper = float(gripper)

    def step(self, twist: Twist, joint_pos: np.ndarray, dt: float) -> np.ndarray:
        """Integrate ``twist`` over ``dt`` seconds and return the action (joint targets + gripper)."""
        q = np.asarray(joint_pos, dtype=float)
        if self.target_pos is None:
            self.start_from(q, self.gripper)
        cfg = self.config
        here, _ = self.kinematics.site_pose(q)
        move = np.clip(np.asarray(twist.linear, dtype=float), -1.0, 1.0) * cfg.max_linear_speed * cfg.speed_scale * dt
        target = np.clip(self.target_pos + move, cfg.workspace_low, cfg.workspace_high)
        lead = target - here
        if np.linalg.norm(lead) > cfg.max_lead:  # the arm is lagging or blocked: don't wind up
            target = here + lead * (cfg.max_lead / np.linalg.norm(lead))
        self.target_pos = target
        self.target_yaw += float(np.clip(twist.yaw, -1.0, 1.0)) * cfg.max_yaw_rate * cfg.speed_scale * dt
        if twist.gripper is not None:
            self.gripper = float(np.clip(twist.gripper, 0.0, 1.0))
        # Never ask a joint for more than 90% of its rated velocity over this tick.
        ik = IKParams(max_joint_step=0.9 * float(np.min(arm.MAX_JOINT_VELOCITY)) * dt)
        q_next = self.kinematics.step_towards(q, self.target_pos, yaw_down_quat(self.target_yaw), arm.HOME_QPOS, ik)
        return np.append(q_next, self.gripper)
