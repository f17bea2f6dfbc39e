"""Builds a task's MJCF: the shared arm scene with the task's assets and bodies inserted."""

from __future__ import annotations

from importlib import resources

import mujoco


def scene_xml(task_bodies: str = "", task_assets: str = "") -> str:
    """The arm scene's MJCF text with a task's bodies (in the worldbody) and assets inserted."""
    base = resources.files("sim").joinpath("assets/scene.xml").read_text()
    return base.replace("<!--TASK_BODIES-->", task_bodies).replace("<!--TASK_ASSETS-->", task_assets)


def load_model(task_bodies: str = "", task_assets: str = "") -> mujoco.MjModel:
    return mujoco.MjModel.from_xml_string(scene_xml(task_bodies, task_assets))


def cube_body(name: str, half_size: float, rgba: str, mass: float = 0.1) -> str:
    """A free-floating cube the gripper can grasp."""
    return (
        f'<body name="{name}" pos="0.5 0 {half_size}">'
        f'<freejoint name="{name}_joint"/>'
        f'<geom name="{name}_geom" class="object" type="box" size="{half_size} {half_size} {half_size}" '
        f'rgba="{rgba}" mass="{mass}"/></body>'
    )


def zone_marker(name: str, radius: float, rgba: str) -> str:
    """A flat disc on the table marking a target zone (visual only; moved by the task at reset)."""
    return (
        f'<body name="{name}" mocap="true" pos="0.5 0 0.0005">'
        f'<geom name="{name}_geom" class="marker" type="cylinder" size="{radius} 0.0005" rgba="{rgba}"/></body>'
    )
