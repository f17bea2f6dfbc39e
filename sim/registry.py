"""Task names to their constructors (environment, expert, driver, supervisor) and their gymnasium
registration.

Adding a task (or plugging in another gymnasium environment with its own expert) is one
``register_task`` call; nothing switches on task names or kinds: an entry carries its own
constructors, the arm's by default, a plugged-in environment's from ``sim.plugin``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import gymnasium as gym

from sim.experts.base import Expert


def arm_env(entry: "TaskEntry", **kwargs) -> gym.Env:
    """One of this package's arm tasks (keyword arguments go to its constructor: control_hz, cameras, ...)."""
    return gym.make(entry.gym_id, disable_env_checker=True, **kwargs).unwrapped


def arm_driver(entry: "TaskEntry", seed: int | None, control_hz: float, cameras: tuple[str, ...] = (),
               image_size: tuple[int, int] = (128, 128)):
    from sim.driver import SimArmDriver

    return SimArmDriver(task=entry.name, seed=seed, control_hz=control_hz, cameras=cameras, image_size=image_size)


def arm_supervisor(entry: "TaskEntry", expert: Expert, config, control_hz: float):
    """The arm's supervisor judges divergence by where the gripper goes (of actions inside the arm's limits)."""
    from sim.arm import arm_robot_spec
    from sim.supervisor import SimulatedSupervisor

    spec = arm_robot_spec(control_hz)
    return SimulatedSupervisor(expert, config, control_hz, action_box=(spec.action_lower, spec.action_upper))


@dataclass(frozen=True)
class TaskEntry:
    name: str
    gym_id: str
    env_entry_point: str
    make_expert: Callable[..., Expert]
    description: str
    control_hz: float = 20.0  # the plugged-in environment's step rate (arm tasks take it as an argument)
    env_factory: Callable[..., gym.Env] = arm_env  # (entry, **kwargs) -> environment
    driver_factory: Callable[..., object] = arm_driver  # (entry, seed, control_hz, cameras=, image_size=) -> RobotDriver
    supervisor_factory: Callable[..., object] = arm_supervisor  # (entry, expert, config, control_hz) -> supervisor
    kinematics: str | None = "panda"  # the arm model Cartesian teleop drives it through (None: not an arm)


_TASKS: dict[str, TaskEntry] = {}


class UnknownTaskError(ValueError):
    pass


def register_task(entry: TaskEntry) -> None:
    _TASKS[entry.name] = entry
    if entry.env_entry_point and entry.gym_id not in gym.registry:  # "": no environment of its own to register
        gym.register(id=entry.gym_id, entry_point=entry.env_entry_point)


def task_names() -> list[str]:
    return list(_TASKS)


def get_task(name: str) -> TaskEntry:
    try:
        return _TASKS[name]
    except KeyError:
        raise UnknownTaskError(f"unknown task {name!r}; known tasks: {', '.join(_TASKS)}") from None


def make_env(task: str, **kwargs) -> gym.Env:
    """A task's environment by name (keyword arguments go to an arm task's constructor)."""
    entry = get_task(task)
    return entry.env_factory(entry, **kwargs)


def episode_limit(task: str) -> int:
    """A task's step limit."""
    env = make_env(task)
    try:
        return int(env.max_steps)
    finally:
        env.close()


def task_milestones(task: str) -> tuple[str, ...]:
    """A task's ordered sub-goals (none for a task, or a plugged-in environment, that declares none)."""
    env = make_env(task)
    try:
        return tuple(getattr(env.unwrapped, "milestones", ()))
    finally:
        env.close()


def make_driver(task: str, seed: int | None = 0, control_hz: float = 20.0, cameras: tuple[str, ...] = (),
                image_size: tuple[int, int] = (128, 128)):
    """The RobotDriver for a task: the sim arm, or the driver over a plugged-in environment.
    Cameras are rendered views of the task's scene (a plugged-in environment has none)."""
    entry = get_task(task)
    if not cameras:
        return entry.driver_factory(entry, seed, control_hz)
    return entry.driver_factory(entry, seed, control_hz, cameras=cameras, image_size=image_size)


def make_supervisor(task: str, config=None, control_hz: float = 20.0):
    """A simulated supervisor with the task's expert for hands; on a plugged-in task it judges
    disagreement in action space (there is no arm to compute gripper motions with)."""
    from sim.supervisor import SupervisorConfig

    entry = get_task(task)
    return entry.supervisor_factory(entry, make_expert(task, control_hz=control_hz), config or SupervisorConfig(), control_hz)


def check_task(task: str, seed: int = 0, control_hz: float = 20.0, cameras: tuple[str, ...] = (),
               image_size: tuple[int, int] = (128, 128)):
    """One expert step on a fresh driver (rendering `cameras`), before a run writes anything: a task
    (a plug-in's above all) whose environment, cameras or expert cannot run raises here, with what
    went wrong. Returns the driver's RobotSpec."""
    import numpy as np

    driver = make_driver(task, seed=seed, control_hz=control_hz, cameras=cameras, image_size=image_size)
    try:
        expert = make_expert(task, control_hz=control_hz, seed=seed)
        action = np.asarray(expert.act(driver.observe()), np.float64)
        if action.shape != (driver.spec.action_dim,) or not np.isfinite(action).all():
            raise ValueError(f"task {task}: its expert's action has shape {action.shape}, the robot takes "
                             f"{driver.spec.action_dim} finite values")
        driver.command(action)
        return driver.spec
    finally:
        driver.close()


def make_expert(task: str, control_hz: float = 20.0, seed: int | None = None) -> Expert:
    """A task's closed-loop scripted expert by name."""
    return get_task(task).make_expert(control_hz=control_hz, seed=seed)


def _lazy(module: str, cls: str) -> Callable[..., Expert]:
    def build(**kwargs) -> Expert:
        import importlib

        return getattr(importlib.import_module(module), cls)(**kwargs)

    return build


def _lazy_factory(module: str, name: str) -> Callable[..., object]:
    def build(*args, **kwargs):
        import importlib

        return getattr(importlib.import_module(module), name)(*args, **kwargs)

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
    TaskEntry("koch_reach", "hgd/KochReachTwin-v0", "", _lazy("sim.twin_tasks", "KochReachExpert"),
              "the Koch twin, through the Dynamixel protocol on a pty: open gripper to just above a cube",
              env_factory=_lazy_factory("sim.twin_tasks", "no_environment"),
              driver_factory=_lazy_factory("sim.twin_tasks", "twin_reach_driver"),
              supervisor_factory=_lazy_factory("sim.twin_tasks", "twin_supervisor"), kinematics="koch_v1_1"),
):
    register_task(_entry)
