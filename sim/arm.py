"""Facts about the simulated arm: joint names, limits, home pose, and how its state is read."""

from __future__ import annotations

import numpy as np

from hgdagger.common.types import RobotSpec

JOINT_NAMES: tuple[str, ...] = tuple(f"joint{i}" for i in range(1, 8))
FINGER_JOINTS: tuple[str, ...] = ("finger_left", "finger_right")
TCP_SITE = "tcp"
CAMERAS: tuple[str, ...] = ("front", "wrist")

# Franka Emika Panda datasheet limits (rad, rad/s).
JOINT_LOWER = np.array([-2.8973, -1.7628, -2.8973, -3.0718, -2.8973, -0.0175, -2.8973])
JOINT_UPPER = np.array([2.8973, 1.7628, 2.8973, -0.0698, 2.8973, 3.7525, 2.8973])
MAX_JOINT_VELOCITY = np.array([2.175, 2.175, 2.175, 2.175, 2.61, 2.61, 2.61])
HOME_QPOS = np.array([0.0, -0.785, 0.0, -2.356, 0.0, 1.571, 0.785])

FINGER_OPEN = 0.04  # metres of travel per finger
ACTION_DIM = len(JOINT_NAMES) + 1


def gripper_command_to_ctrl(gripper: float) -> float:
    """Action gripper value (0 open .. 1 closed) to the finger actuator's opening in metres."""
    return FINGER_OPEN * (1.0 - float(np.clip(gripper, 0.0, 1.0)))


def finger_opening_to_gripper(opening: float) -> float:
    """Measured per-finger opening (m) to the same 0 open .. 1 closed scale as the action."""
    return float(np.clip(1.0 - opening / FINGER_OPEN, 0.0, 1.0))


def arm_robot_spec(
    control_hz: float,
    cameras: tuple[str, ...] = (),
    observation_shapes: dict[str, tuple[int, ...]] | None = None,
    name: str = "hgd_sim_arm",
) -> RobotSpec:
    """The RobotSpec of the simulated arm at a given control rate."""
    return RobotSpec(
        name=name,
        joint_names=JOINT_NAMES,
        joint_lower=JOINT_LOWER.copy(),
        joint_upper=JOINT_UPPER.copy(),
        max_joint_velocity=MAX_JOINT_VELOCITY.copy(),
        control_period=1.0 / control_hz,
        cameras=cameras,
        observation_shapes=dict(observation_shapes or {}),
    )
