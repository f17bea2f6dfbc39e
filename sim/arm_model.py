"""The sim arm's kinematics behind teleop's `CartesianArm` seam: forward kinematics of the MJCF
and one damped least-squares step, so a gamepad or keyboard can drive the simulated Panda."""

from __future__ import annotations

import numpy as np

from sim import arm
from sim.experts.base import gripper_yaw
from sim.kinematics import ArmKinematics, IKParams, yaw_down_quat
from sim.scene import load_model
from sim.tasks.base import canonical_gripper_quat


class SimArmModel:
    joint_names: tuple[str, ...] = arm.JOINT_NAMES
    workspace: tuple[tuple[float, float, float], tuple[float, float, float]] = ((0.20, -0.45, 0.02), (0.80, 0.45, 0.60))
    teleop_speed: float = 0.25  # m/s at full stick: the 60 cm workspace in a little over two seconds

    def __init__(self) -> None:
        self.kinematics = ArmKinematics(load_model(), arm.TCP_SITE, arm.JOINT_NAMES)
        self.max_joint_velocity = float(np.min(arm.MAX_JOINT_VELOCITY))

    def gripper_pose(self, joint_pos: np.ndarray) -> tuple[np.ndarray, float]:
        pos, quat = self.kinematics.site_pose(np.asarray(joint_pos, dtype=float))
        return pos, gripper_yaw(canonical_gripper_quat(quat))

    def solve(self, joint_pos: np.ndarray, target_pos: np.ndarray, target_yaw: float,
              max_joint_step: float) -> np.ndarray:
        return self.kinematics.step_towards(np.asarray(joint_pos, dtype=float), target_pos, yaw_down_quat(target_yaw),
                                            arm.HOME_QPOS, IKParams(max_joint_step=max_joint_step))
