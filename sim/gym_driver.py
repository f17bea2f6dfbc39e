"""A registered gymnasium environment as the loop drives it: built with its task's constructor
arguments and step limit, observations as a dict of arrays, and the `RobotDriver` over it.

The spaces of each task are remembered the first time its environment is built in a process, so
the expert and the supervisor read the action box without building another environment.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

import gymnasium as gym
import numpy as np

from hgdagger.common.types import DriverHealth, EpisodeOutcome, Observation, RobotSpec


class PluginTaskError(ValueError):
    """A plugged-in environment (or its expert) the loop cannot drive, with what is wrong."""


@dataclass
class GymTask:
    """How a plugged-in task's environment is made (what `register_gym_task` was given)."""

    name: str
    gym_id: str
    env_kwargs: Mapping[str, Any] = field(default_factory=dict)  # constructor arguments
    max_episode_steps: int | None = None  # None: the gymnasium registration's own limit
    control_hz: float = 20.0
    relative_action: tuple[bool, ...] = (False,)  # per component, or one for all: a displacement or velocity?
    expert: str = ""  # the expert's qualified name and file, to tell a re-import from another registration


@dataclass(frozen=True)
class TaskSpaces:
    action: gym.spaces.Box
    observation: gym.spaces.Space  # the environment's own (a Box becomes {"state": ...} for the loop)

    @property
    def box_observation(self) -> bool:
        return isinstance(self.observation, gym.spaces.Box)


_SPACES: dict[str, TaskSpaces] = {}


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


def make_gym_env(task: GymTask) -> gym.Env:
    """The task's environment with its step limit kept (plugged-in environments rely on gymnasium's
    TimeLimit), observations as a dict; its spaces are remembered for `task_spaces`."""
    kwargs = dict(task.env_kwargs)
    if task.max_episode_steps:
        kwargs["max_episode_steps"] = task.max_episode_steps
    env = gym.make(task.gym_id, disable_env_checker=True, **kwargs)
    if env.spec is None or not env.spec.max_episode_steps:
        raise PluginTaskError(f"{task.gym_id} has no step limit; register it with max_episode_steps")
    space = env.action_space
    if not isinstance(space, gym.spaces.Box) or len(space.shape) != 1 or space.shape[0] < 2:
        raise PluginTaskError(f"{task.gym_id}: the action must be a vector Box of 2 or more values, not {space}")
    if not (np.isfinite(space.low).all() and np.isfinite(space.high).all()):
        raise PluginTaskError(f"{task.gym_id}: the action box must be finite (the runtime clips to it)")
    if len(task.relative_action) not in (1, space.shape[0]):
        raise PluginTaskError(f"{task.name}: action_kinds names {len(task.relative_action)} components, "
                              f"the action has {space.shape[0]}")
    _SPACES[task.name] = TaskSpaces(space, env.observation_space)
    wrapped = DictObservation(env)
    wrapped.max_steps = env.spec.max_episode_steps
    return wrapped


def task_spaces(task: GymTask) -> TaskSpaces:
    """The task's spaces: remembered from an environment already built here, else read from one."""
    if task.name not in _SPACES:
        make_gym_env(task).close()
    return _SPACES[task.name]


def forget_spaces(name: str) -> None:
    """A task registered anew: its spaces are read again."""
    _SPACES.pop(name, None)


def plugin_robot_spec(env: gym.Env, control_hz: float, name: str, relative: tuple[bool, ...] = (False,)) -> RobotSpec:
    """The action vector as joints + a last 'gripper' component; any in-box step is allowed.
    relative: which components are displacements or velocities (one value: all of them)."""
    low, high = env.action_space.low.astype(np.float64), env.action_space.high.astype(np.float64)
    shapes = {k: tuple(s.shape) for k, s in env.observation_space.spaces.items()}
    return RobotSpec(name=name, joint_names=tuple(f"a{i}" for i in range(len(low) - 1)), joint_lower=low[:-1],
                     joint_upper=high[:-1], max_joint_velocity=(high - low)[:-1] * control_hz,
                     control_period=1.0 / control_hz, observation_shapes=shapes,
                     gripper_range=(float(low[-1]), float(high[-1])),
                     relative_action=tuple(relative) * len(low) if len(relative) == 1 else tuple(relative))


class GymDriver:
    """The RobotDriver over a plugged-in environment (what SimArmDriver is for the arm). One
    environment for all its episodes: ``reset`` starts the next, nothing is rebuilt."""

    def __init__(self, task: str, seed: int | None = 0, control_hz: float | None = None):
        from sim.plugin import gym_task

        settings = gym_task(task)
        self.env = make_gym_env(settings)
        self.task = task
        self.max_steps = self.env.max_steps
        self.spec = plugin_robot_spec(self.env, control_hz or settings.control_hz, task, settings.relative_action)
        self._low, self._high = self.spec.action_lower, self.spec.action_upper
        self.health = DriverHealth()
        self.reset(seed)

    def reset(self, seed: int | None = None) -> Observation:
        self._obs, self._info = self.env.reset(seed=seed)
        self.terminated = self.truncated = False
        self._reward = 0.0
        self._last = self.spec.still_action((self._low + self._high) / 2)
        return self.observe()

    def observe(self) -> Observation:
        return {k: v.copy() for k, v in self._obs.items()}

    def rest_command(self, obs: Observation) -> np.ndarray:
        """What holding means before anything was commanded: no motion where the action is a motion,
        the middle of the box where it is a target."""
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
        """Keep still: no motion where the action is a motion, the last target where it is a target."""
        self.command(self.spec.still_action(self._last))

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
