"""Task names to environment and expert constructors, and their gymnasium registration.

Adding a task (or plugging in another gymnasium environment with its own expert) is one
``register_task`` call; nothing else switches on task names.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import gymnasium as gym

from sim.experts.base import Expert


@dataclass(frozen=True)
class TaskEntry:
    name: str
    gym_id: str
    env_entry_point: str
    make_expert: Callable[..., Expert]
    description: str


_TASKS: dict[str, TaskEntry] = {}


class UnknownTaskError(ValueError):
    pass


def register_task(entry: TaskEntry) -> None:
    _TASKS[entry.name] = entry
    if entry.gym_id not in gym.registry:
        gym.register(id=entry.gym_id, entry_point=entry.env_entry_point)


def task_names() -> list[str]:
    return list(_TASKS)


def get_task(name: str) -> TaskEntry:
    try:
        return _TASKS[name]
    except KeyError:
        raise UnknownTaskError(f"unknown task {name!r}; known tasks: {', '.join(_TASKS)}") from None


def make_env(task: str, **kwargs) -> gym.Env:
    """A task's environment by name (keyword arguments go to its constructor)."""
    return gym.make(get_task(task).gym_id, disable_env_checker=True, **kwargs).unwrapped


def make_expert(task: str, control_hz: float = 20.0, seed: int | None = None) -> Expert:
    """A task's closed-loop scripted expert by name."""
    return get_task(task).make_expert(control_hz=control_hz, seed=seed)


def _lazy(module: str, cls: str) -> Callable[..., Expert]:
    def build(**kwargs) -> Expert:
        import importlib

        return getattr(importlib.import_module(module), cls)(**kwargs)

    return build


for _entry in (
    TaskEntry("reach", "hgd/Reach-v0", "sim.tasks.reach:ReachEnv", _lazy("sim.experts.reach", "ReachExpert"),
              "bring the gripper to a random target"),
    TaskEntry("pick_place", "hgd/PickPlace-v0", "sim.tasks.pick_place:PickPlaceEnv",
              _lazy("sim.experts.pick_place", "PickPlaceExpert"), "pick a cube and put it in a target zone"),
    TaskEntry("detour", "hgd/Detour-v0", "sim.tasks.detour:DetourEnv", _lazy("sim.experts.detour", "DetourExpert"),
              "pass a pillar on either side to reach a goal (multimodal)"),
    TaskEntry("pick_place_two", "hgd/PickPlaceTwo-v0", "sim.tasks.pick_place_two:PickPlaceTwoEnv",
              _lazy("sim.experts.pick_place", "PickPlaceTwoExpert"), "two cubes into two zones, in order (long horizon)"),
):
    register_task(_entry)
