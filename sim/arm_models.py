"""Kinematic models behind teleop's `CartesianArm` seam, chosen by name (a robot config's
``kinematics``): the simulated Panda, and the Koch v1.1 follower.

The Koch has 5 joints, so "tcp at a point, pointing down, at a yaw" (5 constraints) has one elbow-up
solution. It is solved in closed form (pan from the target's bearing, a planar two-link solve for the
wrist point, wrist_flex to finish pointing down, roll for the yaw) and approached by a bounded joint
step. Damped least squares on the 6-D pose error (``ArmKinematics.step_towards``) was tried: from
random start poses it stalled short of a reachable target about one time in four (joint limits, roll
wrapping the wrong way); the closed form never did. Link lengths and joint axes are read from the
MJCF and checked, so the solution cannot drift from the model that renders and simulates the arm.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import mujoco
import numpy as np

from sim.arm_model import SimArmModel
from sim.kinematics import ArmKinematics
from sim.koch_scene import (
    KOCH_JOINTS,
    KOCH_MAX_JOINT_VELOCITY,
    KOCH_TCP_SITE,
    KOCH_WORKSPACE,
    load_koch_model,
)
from teleop.cartesian import CartesianArm

LIMIT_MARGIN = 0.02  # rad kept clear of every joint limit, as the Panda's IK does


@dataclass(frozen=True)
class KochGeometry:
    """The planar chain the closed-form solve needs (m): heights and lengths along the zero pose's
    vertical line."""

    shoulder_height: float  # table to the shoulder_lift axis
    upper_arm: float  # shoulder_lift to elbow_flex
    forearm: float  # elbow_flex to wrist_flex
    hand: float  # wrist_flex to the tcp

    @classmethod
    def from_model(cls, model: mujoco.MjModel) -> KochGeometry:
        """Read the chain from the MJCF at the zero pose, refusing a model the closed form does not fit."""
        data = mujoco.MjData(model)
        mujoco.mj_kinematics(model, data)
        expected_axes = {"shoulder_pan": (0, 0, 1), "shoulder_lift": (0, 1, 0), "elbow_flex": (0, -1, 0),
                         "wrist_flex": (0, -1, 0), "wrist_roll": (0, 0, 1)}
        points = []
        for name, axis in expected_axes.items():
            joint = model.joint(name).id
            if not np.allclose(data.xaxis[joint], axis, atol=1e-9):
                raise ValueError(f"koch model: joint {name!r} axis {data.xaxis[joint]} at the zero pose, expected {axis}")
            points.append(data.xanchor[joint].copy())
        points.append(data.site_xpos[model.site(KOCH_TCP_SITE).id].copy())
        if not np.allclose(np.array(points)[:, :2], 0.0, atol=1e-9):
            raise ValueError("koch model: joints and tcp must stand on one vertical line through the origin at the zero pose")
        z = [p[2] for p in points]
        return cls(shoulder_height=float(z[1]), upper_arm=float(z[2] - z[1]), forearm=float(z[3] - z[2]),
                   hand=float(z[5] - z[3]))


def roll_for_yaw(roll: float, roll_now: float, lower: float, upper: float) -> float:
    """The turn of ``roll`` (any multiple of 2*pi added) inside [lower, upper] closest to ``roll_now``;
    when no turn fits, the one closest to that range (the caller clips it)."""
    turns = roll + 2.0 * np.pi * np.arange(-3, 4)
    outside = np.maximum(lower - turns, 0.0) + np.maximum(turns - upper, 0.0)
    return float(turns[np.lexsort((np.abs(turns - roll_now), outside))[0]])


def koch_down_ik(geometry: KochGeometry, target_pos: np.ndarray, target_yaw: float, q_now: np.ndarray,
                 roll_limits: tuple[float, float] = (-np.inf, np.inf)) -> np.ndarray:
    """Joint positions (pan, lift, elbow, wrist_flex, roll) putting the tcp at ``target_pos`` pointing
    down with yaw ``target_yaw``, elbow up. Joint limits are not applied, except that the roll takes
    the turn inside ``roll_limits`` nearest the current roll. A target out of reach is replaced by the
    nearest reachable point on the line from the shoulder to its wrist point; one straight above the
    base keeps the current pan."""
    g = geometry
    x, y, z = np.asarray(target_pos, dtype=float)
    radius = float(np.hypot(x, y))
    pan = float(np.arctan2(y, x)) if radius > 1e-6 else float(q_now[0])
    # The wrist_flex axis sits `hand` straight above the tcp; solve the shoulder-elbow-wrist triangle.
    dr, dz = radius, z + g.hand - g.shoulder_height
    reach = float(np.hypot(dr, dz))
    longest = g.upper_arm + g.forearm
    shortest = abs(g.upper_arm - g.forearm) + 1e-6
    clamped = float(np.clip(reach, shortest, longest - 1e-6))
    if reach > 1e-9:
        dr, dz = dr * clamped / reach, dz * clamped / reach
    else:
        dr, dz = 0.0, clamped
    reach = clamped
    cos_bend = (reach**2 - g.upper_arm**2 - g.forearm**2) / (2.0 * g.upper_arm * g.forearm)
    bend = float(np.arccos(np.clip(cos_bend, -1.0, 1.0)))  # 0 straight
    cos_inner = (g.upper_arm**2 + reach**2 - g.forearm**2) / (2.0 * g.upper_arm * reach)
    lift = float(np.arctan2(dr, dz) - np.arccos(np.clip(cos_inner, -1.0, 1.0)))
    elbow = -bend
    wrist = lift + bend - np.pi  # lift - elbow - wrist = pi: pointing down
    roll = roll_for_yaw(pan - float(target_yaw), float(q_now[4]), *roll_limits)  # yaw = pan - roll, pointing down
    return np.array([pan, lift, elbow, wrist, roll])


class KochArmModel:
    """The Koch v1.1 follower's kinematics: MuJoCo forward kinematics of ``assets/koch_v1_1.xml`` and
    a closed-form pointing-down solve, stepped towards with a bounded joint move."""

    joint_names: tuple[str, ...] = KOCH_JOINTS
    workspace = KOCH_WORKSPACE
    teleop_speed: float = 0.06  # m/s at full stick: the 8 cm workspace in a little over a second
    max_joint_velocity: float = KOCH_MAX_JOINT_VELOCITY

    def __init__(self) -> None:
        model = load_koch_model(with_cube=False)
        self.kinematics = ArmKinematics(model, KOCH_TCP_SITE, KOCH_JOINTS)
        self.geometry = KochGeometry.from_model(model)
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
        goal = koch_down_ik(self.geometry, np.asarray(target_pos, dtype=float), target_yaw, q,
                            (self._lower[4], self._upper[4]))
        goal = np.clip(goal, self._lower, self._upper)
        step = goal - q
        largest = float(np.max(np.abs(step)))
        if largest > max_joint_step:
            step *= max_joint_step / largest
        return np.clip(q + step, self._lower, self._upper)


ARM_MODELS: dict[str, Callable[[], CartesianArm]] = {"panda": SimArmModel, "koch_v1_1": KochArmModel}


def arm_model(name: str) -> CartesianArm:
    """The kinematic model registered under ``name``, built fresh."""
    try:
        factory = ARM_MODELS[name]
    except KeyError:
        raise ValueError(f"unknown arm model {name!r}; known: {', '.join(ARM_MODELS)}") from None
    return factory()
