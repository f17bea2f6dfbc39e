"""Any gymnasium environment with an expert, plugged into the loop in place of the arm.

The loop needs four things of a task: an environment with a vector action in a finite box and a
step limit, observations it can train on (a dict of arrays, or one array, which becomes
``{"state": ...}``), an ``info["is_success"]`` at the end of an episode, and an expert that labels
any state (``act(obs) -> action``; a plain callable will do). Register it once, in a module the
loop imports (``hgd-loop --plugin my_module``):

    from sim.plugin import register_gym_task
    register_gym_task("point_reach", "my_pkg/PointReach-v0", expert=my_expert)

Such a task has no arm model, so the runtime treats the action vector as "joints" plus a last
component in the gripper's place (the driver interface is the arm's), its safety filter allows any
in-box step, and the simulated supervisor measures disagreement in action space (see
`sim.supervisor.action_divergence`).
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path
from typing import Any, Callable

import gymnasium as gym
import numpy as np

from hgdagger.common.types import DriverHealth, EpisodeOutcome, Observation, RobotSpec
from sim.registry import TaskEntry, get_task, register_task


class PluginTaskError(ValueError):
    """A plugged-in environment the loop cannot drive, with what is missing."""


def load_plugin(spec: str) -> None:
    """Import a plug-in module, which registers its tasks: a module name (found on the path, or
    under the current folder as ``python -m`` would), or a path to a ``.py`` file."""
    path = Path(spec)
    if spec.endswith(".py"):
        if not path.is_file():
            raise FileNotFoundError(f"no such file {spec}")
        module_spec = importlib.util.spec_from_file_location(path.stem, path)
        module = importlib.util.module_from_spec(module_spec)
        sys.modules[path.stem] = module
        module_spec.loader.exec_module(module)
        return
    try:
        importlib.import_module(spec)
    except ModuleNotFoundError as exc:
        here = str(Path.cwd())
        if exc.name is None or not spec.startswith(exc.name) or here in sys.path:
            raise
        sys.path.insert(0, here)  # an installed command does not look in the current folder by itself
        importlib.import_module(spec)


class CallableExpert:
    """An expert from a plain ``obs -> action`` function (nothing to reset)."""

    def __init__(self, act: Callable[[Observation], np.ndarray]):
        self._act = act

    def reset(self, seed: int | None = None) -> None:
        pass

    def act(self, obs: Observation) -> np.ndarray:
        return np.asarray(self._act(obs), dtype=np.float64)


class DictObservation(gym.ObservationWrapper):
    """A single-array observation as ``{"state": array}``; dict observations pass through as float arrays."""

    def __init__(self, env: gym.Env):
        super().__init__(env)
        space = env.observation_space
        if isinstance(space, gym.spaces.Box):
            self.observation_space = gym.spaces.Dict({"state": space})
        elif not isinstance(space, gym.spaces.Dict):
            raise PluginTaskError(f"observations must be a Box or a Dict of Boxes, not {type(space).__name__}")

    def observation(self, observation: Any) -> dict[str, np.ndarray]:
        if isinstance(observation, dict):
            return {k: _as_array(v) for k, v in observation.items()}
        return {"state": _as_array(observation)}


def _as_array(value: Any) -> np.ndarray:
    """Camera images stay uint8 (that is how they travel and are stored); everything else float64."""
    arr = np.asarray(value)
    return arr if arr.dtype == np.uint8 else arr.astype(np.float64)


def register_gym_task(name: str, gym_id: str, expert: Any, description: str = "", control_hz: float = 20.0,
                      entry_point: str | Callable | None = None, max_episode_steps: int | None = None) -> None:
    """Make a gymnasium environment a loop task named `name`.

    expert: an object with ``reset(seed)`` and ``act(obs)``, a factory returning one (called with no
    arguments), or a plain function ``obs -> action``. entry_point / max_episode_steps register the
    gymnasium id first when it is not registered yet.
    """
    if gym_id not in gym.registry:
        if entry_point is None:
            raise PluginTaskError(f"{gym_id!r} is not a registered gymnasium id; pass entry_point= to register it")
        gym.register(id=gym_id, entry_point=entry_point, max_episode_steps=max_episode_steps)

    def make_expert(control_hz: float = 20.0, seed: int | None = None):
        made = expert
        if isinstance(expert, type) or (callable(expert) and not hasattr(expert, "act") and _takes_no_arguments(expert)):
            made = expert()
        if not hasattr(made, "act"):
            made = CallableExpert(made)
        made.reset(seed)
        return made

    register_task(TaskEntry(name, gym_id, "", make_expert, description or f"plugged-in {gym_id}", control_hz=control_hz,
                            env_factory=make_plugin_env, driver_factory=_plugin_driver,
                            supervisor_factory=_plugin_supervisor, kinematics=None))


def _plugin_driver(entry: TaskEntry, seed: int | None, control_hz: float, cameras: tuple[str, ...] = (),
                   image_size: tuple[int, int] = (128, 128)) -> "GymDriver":
    if cameras:
        raise PluginTaskError(f"{entry.name} is a plugged-in environment: it has no cameras to render")
    return GymDriver(entry.name, seed=seed)  # the environment's own step rate, whatever the caller's


def _plugin_supervisor(entry: TaskEntry, expert, config, control_hz: float):
    """With no arm to compute gripper motions with, the supervisor judges disagreement in action
    space, scaled by the action box."""
    from sim.supervisor import SimulatedSupervisor

    env = make_plugin_env(entry)
    scale = (env.action_space.high - env.action_space.low).astype(float)
    env.close()
    return SimulatedSupervisor(expert, config, entry.control_hz, action_scale=scale)


def _takes_no_arguments(fn: Callable) -> bool:
    import inspect

    try:
        return not any(p.default is p.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
                       for p in inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        return False


def make_plugin_env(entry: TaskEntry, **_: Any) -> gym.Env:
    """The environment with its step limit kept (plugged-in environments rely on gymnasium's TimeLimit)."""
    env = gym.make(entry.gym_id, disable_env_checker=True)
    if env.spec is None or not env.spec.max_episode_steps:
        raise PluginTaskError(f"{entry.gym_id} has no step limit; register it with max_episode_steps")
    space = env.action_space
    if not isinstance(space, gym.spaces.Box) or len(space.shape) != 1 or space.shape[0] < 2:
        raise PluginTaskError(f"{entry.gym_id}: the action must be a vector Box of 2 or more values, not {space}")
    if not (np.isfinite(space.low).all() and np.isfinite(space.high).all()):
        raise PluginTaskError(f"{entry.gym_id}: the action box must be finite (the runtime clips to it)")
    wrapped = DictObservation(env)
    wrapped.max_steps = env.spec.max_episode_steps
    return wrapped


def plugin_robot_spec(env: gym.Env, control_hz: float, name: str) -> RobotSpec:
    """The action vector as joints + a last 'gripper' component; any in-box step is allowed."""
    low, high = env.action_space.low.astype(np.float64), env.action_space.high.astype(np.float64)
    shapes = {k: tuple(s.shape) for k, s in env.observation_space.spaces.items()}
    return RobotSpec(name=name, joint_names=tuple(f"a{i}" for i in range(len(low) - 1)), joint_lower=low[:-1],
                     joint_upper=high[:-1], max_joint_velocity=(high - low)[:-1] * control_hz,
                     control_period=1.0 / control_hz, observation_shapes=shapes,
                     gripper_range=(float(low[-1]), float(high[-1])))


class GymDriver:
    """The RobotDriver over a plugged-in environment (what SimArmDriver is for the arm)."""

    def __init__(self, task: str, seed: int | None = 0, control_hz: float | None = None):
        entry = get_task(task)
        self.env = make_plugin_env(entry)
        self.task = task
        self.max_steps = self.env.max_steps
        self.spec = plugin_robot_spec(self.env, control_hz or entry.control_hz, task)
        self._low, self._high = self.spec.action_lower, self.spec.action_upper
        self.health = DriverHealth()
        self.reset(seed)

    def reset(self, seed: int | None = None) -> Observation:
        self._obs, self._info = self.env.reset(seed=seed)
        self.terminated = self.truncated = False
        self._reward = 0.0
        self._last = (self._low + self._high) / 2
        return self.observe()

    def observe(self) -> Observation:
        return {k: v.copy() for k, v in self._obs.items()}

    def rest_command(self, obs: Observation) -> np.ndarray:
        """What holding means before anything was commanded: the middle of the action box."""
        return self._last.copy()

    def command(self, target: np.ndarray) -> np.ndarray:
        target = np.asarray(target, np.float64)
        if target.shape != self._low.shape or not np.isfinite(target).all():  # before clip: it would broadcast
            raise ValueError(f"action must be {self._low.shape[0]} finite values, got {target.shape}")
        sent = np.clip(target, self._low, self._high)
        self._obs, reward, terminated, truncated, self._info = self.env.step(sent.astype(self.env.action_space.dtype))
        self._reward = float(reward) if np.isfinite(reward) else 0.0
        self.terminated |= bool(terminated)
        self.truncated |= bool(truncated)
        self._last = sent
        return sent

    def hold(self) -> None:
        self.command(self._last)

    def close(self) -> None:
        self.env.close()

    @property
    def outcome(self):
        ended = self.terminated or self.truncated
        return EpisodeOutcome(success=bool(ended and self._info.get("is_success", False)))

    @property
    def info(self) -> dict:
        return dict(self._info)

    def camera_ages(self) -> dict[str, float | None]:
        return {}  # rendered with every observation: never stale

    @property
    def reward(self) -> float:
        return float(self._reward)
