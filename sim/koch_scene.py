"""The Koch v1.1 twin's world: the arm of ``assets/koch_v1_1.xml`` on a table, lit, with a front camera
and optionally a small cube, plus the facts a task or a teleop mapper needs (joints, rest pose, where
the gripper can reach pointing down, where a cube may be put). ``KOCH_SCENE`` is its ``ArmScene``."""

from __future__ import annotations

import mujoco
import numpy as np

from sim.arm_scene import ArmScene
from sim.arm_scene import cube_xml as _cube_xml

KOCH_JOINTS: tuple[str, ...] = ("shoulder_pan", "shoulder_lift", "elbow_flex", "wrist_flex", "wrist_roll")
KOCH_GRIPPER = "gripper"  # the moving jaw's hinge: 0 parallel (31 mm apart), positive closes
KOCH_TCP_SITE = "tcp"
KOCH_CAMERAS: tuple[str, ...] = ("front", "wrist")
KOCH_MAX_JOINT_VELOCITY = 3.0  # rad/s: the slowest joint's max_velocity in teleop/dynamixel/arms/koch_follower.json

# Folded and parked: upper arm tilted back, elbow folded, gripper 20 degrees off pointing down and
# tucked in front of the base (x < 0.075 m, lowest point 5 cm up), clear of CUBE_REGION and the table.
KOCH_REST = np.array([0.0, -0.7, -2.2, -1.3, 0.0])

# Where the tcp reaches with the gripper pointing straight down (m): everywhere in the box the elbow
# stays bent by 0.8 rad or more (away from the stretched singularity) and every joint 0.13 rad or more
# inside its limits. Small, as the arm is: the wrist_flex limit binds at the far top corner. At
# z = 0.02 the jaw tips are 5 mm above the table.
KOCH_WORKSPACE: tuple[tuple[float, float, float], tuple[float, float, float]] = ((0.07, -0.07, 0.02),
                                                                                  (0.15, 0.07, 0.07))
# Cube centre (x, y) on the table (z = CUBE_HALF_SIZE) the gripper can grasp from above: 2 cm inside
# the workspace on every side, so the open jaws fit around it and it can be approached from 6 cm up.
CUBE_REGION: tuple[tuple[float, float], tuple[float, float]] = ((0.09, -0.05), (0.13, 0.05))
CUBE_HALF_SIZE = 0.015

KOCH_SCENE = ArmScene(
    name="koch_v1_1", asset="koch_v1_1.xml", joints=KOCH_JOINTS, rest=tuple(KOCH_REST), workspace=KOCH_WORKSPACE,
    cube_region=CUBE_REGION, cube_start=(0.12, 0.0), max_joint_velocity=KOCH_MAX_JOINT_VELOCITY,
    front_camera='pos="0.36 0 0.22" xyaxes="0 1 0 -0.51 0 0.86" fovy="55"', table_x=0.15, table_half=0.4,
    cube_half_size=CUBE_HALF_SIZE, tcp_site=KOCH_TCP_SITE, gripper=KOCH_GRIPPER, cameras=KOCH_CAMERAS)


def cube_xml(pos: tuple[float, float] = (0.12, 0.0), half_size: float = CUBE_HALF_SIZE, mass: float = 0.02) -> str:
    """A free cube resting on the table (a 3 cm printed cube weighs ~20 g)."""
    return _cube_xml(pos, half_size, mass)


def koch_scene_xml(with_cube: bool = True) -> str:
    """The twin's MJCF text: the arm with the table, lights, front camera and (optionally) the cube."""
    return KOCH_SCENE.scene_xml(with_cube)


def load_koch_model(with_cube: bool = True) -> mujoco.MjModel:
    return KOCH_SCENE.load_model(with_cube)
