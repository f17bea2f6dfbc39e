"""Kinematic models behind teleop's `CartesianArm` seam, chosen by name (a robot config's
``kinematics``): the simulated Panda, the Koch v1.1 follower and the SO-101 follower.

The Koch and the SO-101 have 5 joints, so "tcp at a point, pointing down, at a yaw" (5 constraints)
has one elbow-up solution, solved in closed form (``sim.down_ik``) and approached by a bounded joint
step. Damped least squares on the 6-D pose error (``ArmKinematics.step_towards``) was tried on the
Koch: from random start poses it stalled short of a reachable target about one time in four (joint
limits, roll wrapping the wrong way); the closed form never did. Link lengths, zero-pose tilts and
joint directions are read from the MJCF and checked, so the solution cannot drift from the model
that renders and simulates the arm.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from sim.arm_model import SimArmModel
from sim.arm_scene import ArmScene
from sim.down_ik import DownArmGeometry, down_ik
from sim.kinematics import ArmKinematics
from sim.koch_scene import KOCH_SCENE
from sim.so101_scene import SO101_SCENE
from teleop.cartesian import CartesianArm

LIMIT_MARGIN = 0.02  # rad kept clear of every joint limit, as the Panda's IK does


class DownArmModel:
    """A 5-joint arm's kinematics: MuJoCo forward kinematics of its scene's MJCF and the closed-form
    pointing-down solve, stepped towards with a bounded joint move."""

    scene: ArmScene
    teleop_speed: float  # m/s at full stick

    def __init__(self) -> None:
        model = self.scene.load_model(with_cube=False)
        self.joint_names: tuple[str, ...] = self.scene.joints
        self.workspace = self.scene.workspace
        self.max_joint_velocity: float = self.scene.max_joint_velocity
        self.kinematics = ArmKinematics(model, self.scene.tcp_site, self.scene.joints)
        self.geometry = DownArmGeometry.from_model(model, self.scene.joints, self.scene.tcp_site)
        self._lower = self.kinematics.q_lower + LIMIT_MARGIN
        self._upper = self.kinematics.q_upper - LIMIT_MARGIN

    def gripper_pose(self, joint_pos: np.ndarray) -> tuple[np.ndarray, float]:
        """The tcp (m) and the yaw of the jaws' x axis projected on the table (rad)."""
        pos, _ = self.kinematics.site_pose(np.asarray(joint_pos, dtype=float))
        x_axis = self.kinematics.data.site_xmat[self.kinematics.site_id].reshape(3, 3)[:, 0]
        return pos, float(np.arctan2(x_axis[1], x_axis[0]))

    def solve(self, joint_pos: np.ndarray, target_pos: np.ndarray, target_yaw: float,
              max_joint_step: float) -> np.ndarray:
        """Joint targets one straight joint-space step (no joint moving more than ``max_joint_step``)
        towards the pointing-down solution, kept inside the limits."""
        q = np.asarray(joint_pos, dtype=float)
        goal = down_ik(self.geometry, np.asarray(target_pos, dtype=float), target_yaw, q,
                       (self._lower[4], self._upper[4]))
        goal = np.clip(goal, self._lower, self._upper)
        step = goal - q
        largest = float(np.max(np.abs(step)))
        if largest > max_joint_step:
            step *= max_joint_step / largest
        return np.clip(q + step, self._lower, self._upper)


class KochArmModel(DownArmModel):
    """The Koch v1.1 follower (``assets/koch_v1_1.xml``)."""

    scene = KOCH_SCENE
    teleop_speed = 0.06  # m/s at full stick: the 8 cm workspace in a little over a second


class SO101ArmModel(DownArmModel):
    """The SO-101 follower (``assets/so101.xml``)."""

    scene = SO101_SCENE
    teleop_speed = 0.09  # m/s at full stick: the 12 cm workspace in a little over a second; pointing down in the
    # workspace the joints turn at most 10.8 rad per metre (measured), so 0.09 m/s asks under a third of their 3 rad/s


ARM_MODELS: dict[str, Callable[[], CartesianArm]] = {"panda": SimArmModel, "koch_v1_1": KochArmModel,
                                                     "so101": SO101ArmModel}


def arm_model(name: str) -> CartesianArm:
    """The kinematic model registered under ``name``, built fresh."""
    try:
        factory = ARM_MODELS[name]
    except KeyError:
        raise ValueError(f"unknown arm model {name!r}; known: {', '.join(ARM_MODELS)}") from None
    return factory()
