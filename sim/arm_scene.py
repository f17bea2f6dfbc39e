"""A real arm's twin world, one dataclass per arm: its MJCF on a table, lit, with a front camera and
optionally a small cube, plus the facts a task or a teleop mapper needs (joints, rest pose, where the
gripper reaches pointing down, where a cube may be put).

The Koch v1.1 (``sim.koch_scene``) and the SO-101 (``sim.so101_scene``) are two values of it; the
world around the arm (floor, table, lights, cube) is the same XML, sized and aimed per arm.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources

import mujoco

Box = tuple[tuple[float, float, float], tuple[float, float, float]]

_WORLD_ASSETS = """
    <texture name="floor_tex" type="2d" builtin="checker" rgb1="0.32 0.34 0.38" rgb2="0.28 0.30 0.34" width="256" height="256"/>
    <material name="floor_mat" texture="floor_tex" texrepeat="8 8"/>
    <material name="table_mat" rgba="0.72 0.62 0.50 1"/>
"""

_WORLD_BODIES = """
    <light name="key" pos="0.6 -0.4 1.0" dir="-0.5 0.35 -1" diffuse="0.55 0.55 0.55" castshadow="false"/>
    <light name="fill" pos="-0.3 0.4 0.9" dir="0.4 -0.4 -1" diffuse="0.3 0.3 0.3" castshadow="false"/>
    <geom name="floor" type="plane" pos="0 0 -0.75" size="2 2 0.1" material="floor_mat" contype="1" conaffinity="3"/>
    <geom name="table" type="box" pos="{table_x} 0 -0.02" size="{table_half} {table_half} 0.02" material="table_mat" contype="1" conaffinity="3"/>
    <camera name="front" {front_camera}/>
"""


def cube_xml(pos: tuple[float, float], half_size: float, mass: float = 0.02) -> str:
    """A free cube resting on the table (a 3 cm printed cube weighs ~20 g)."""
    return (
        f'<body name="cube" pos="{pos[0]} {pos[1]} {half_size}"><freejoint name="cube_joint"/>'
        f'<geom name="cube_geom" type="box" size="{half_size} {half_size} {half_size}" mass="{mass}" rgba="0.85 0.15 0.12 1" '
        'contype="1" conaffinity="3" condim="4" friction="1.5 0.02 0.002" solref="0.01 1" solimp="0.95 0.99 0.001"/></body>'
    )


@dataclass(frozen=True)
class ArmScene:
    """One arm's twin world and the facts about it that tasks and teleop use."""

    name: str  # the twin's name in the registries (TWIN_MODELS, ARM_MODELS)
    asset: str  # the arm's MJCF under sim/assets, with <!--WORLD_ASSETS--> and <!--WORLD_BODIES--> markers
    joints: tuple[str, ...]  # arm joints, base to wrist (the follower config's order)
    rest: tuple[float, ...]  # arm joints parked clear of the cube region and the table (rad)
    workspace: Box  # where the tcp reaches pointing straight down (m)
    cube_region: tuple[tuple[float, float], tuple[float, float]]  # cube centre (x, y) the gripper can grasp from above
    cube_start: tuple[float, float]  # where the cube sits before a task places it
    max_joint_velocity: float  # rad/s: the slowest joint's max_velocity in the follower config
    front_camera: str  # the front <camera>'s attributes (pos, xyaxes, fovy): aimed at the workspace
    table_x: float = 0.15  # the table top's centre, ahead of the base (m)
    table_half: float = 0.4
    cube_half_size: float = 0.015
    tcp_site: str = "tcp"
    gripper: str = "gripper"  # the moving jaw's hinge
    cameras: tuple[str, ...] = ("front", "wrist")

    def scene_xml(self, with_cube: bool = True) -> str:
        """The twin's MJCF text: the arm with the table, lights, front camera and (optionally) the cube."""
        arm = resources.files("sim").joinpath(f"assets/{self.asset}").read_text()
        bodies = _WORLD_BODIES.format(table_x=self.table_x, table_half=self.table_half, front_camera=self.front_camera)
        if with_cube:
            bodies += cube_xml(self.cube_start, self.cube_half_size)
        return arm.replace("<!--WORLD_ASSETS-->", _WORLD_ASSETS).replace("<!--WORLD_BODIES-->", bodies)

    def load_model(self, with_cube: bool = True) -> mujoco.MjModel:
        return mujoco.MjModel.from_xml_string(self.scene_xml(with_cube))
