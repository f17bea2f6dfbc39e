"""The Koch v1.1 twin's world: the arm of ``assets/koch_v1_1.xml`` on a table, lit, with a front camera
and optionally a small cube, plus the facts a task or a teleop mapper needs (joints, rest pose, where
the gripper can reach pointing down, where a cube may be put)."""

from __future__ import annotations

from importlib import resources

import mujoco
import numpy as np

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

_WORLD_ASSETS = """
    <texture name="floor_tex" type="2d" builtin="checker" rgb1="0.32 0.34 0.38" rgb2="0.28 0.30 0.34" width="256" height="256"/>
    <material name="floor_mat" texture="floor_tex" texrepeat="8 8"/>
    <material name="table_mat" rgba="0.72 0.62 0.50 1"/>
"""

_WORLD_BODIES = """
    <light name="key" pos="0.6 -0.4 1.0" dir="-0.5 0.35 -1" diffuse="0.55 0.55 0.55" castshadow="false"/>
    <light name="fill" pos="-0.3 0.4 0.9" dir="0.4 -0.4 -1" diffuse="0.3 0.3 0.3" castshadow="false"/>
    <geom name="floor" type="plane" pos="0 0 -0.75" size="2 2 0.1" material="floor_mat" contype="1" conaffinity="3"/>
    <geom name="table" type="box" pos="0.15 0 -0.02" size="0.4 0.4 0.02" material="table_mat" contype="1" conaffinity="3"/>
    <camera name="front" pos="0.36 0 0.22" xyaxes="0 1 0 -0.51 0 0.86" fovy="55"/>
"""


def cube_xml(pos: tuple[float, float] = (0.12, 0.0), half_size: float = CUBE_HALF_SIZE, mass: float = 0.02) -> str:
    """A free cube resting on the table (a 3 cm printed cube weighs ~20 g)."""
    return (
        f'<body name="cube" pos="{pos[0]} {pos[1]} {half_size}"><freejoint name="cube_joint"/>'
        f'<geom name="cube_geom" type="box" size="{half_size} {half_size} {half_size}" mass="{mass}" rgba="0.85 0.15 0.12 1" '
        'contype="1" conaffinity="3" condim="4" friction="1.5 0.02 0.002" solref="0.01 1" solimp="0.95 0.99 0.001"/></body>'
    )


def koch_scene_xml(with_cube: bool = True) -> str:
    """The twin's MJCF text: the arm with the table, lights, front camera and (optionally) the cube."""
    arm = resources.files("sim").joinpath("assets/koch_v1_1.xml").read_text()
    bodies = _WORLD_BODIES + (cube_xml() if with_cube else "")
    return arm.replace("<!--KOCH_WORLD_ASSETS-->", _WORLD_ASSETS).replace("<!--KOCH_WORLD_BODIES-->", bodies)


def load_koch_model(with_cube: bool = True) -> mujoco.MjModel:
    return mujoco.MjModel.from_xml_string(koch_scene_xml(with_cube))
