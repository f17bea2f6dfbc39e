"""Any gymnasium environment with an expert, plugged into the loop in place of the arm.

The loop needs four things of a task: an environment with a vector action in a finite box and a
step limit, observations it can train on (a dict of arrays, or one array, which the loop stores as
``{"state": ...}``), an ``info["is_success"]`` at the end of an episode, and an expert that labels
any state (``act(obs) -> action``; a plain callable will do). Register it once, in a module the
loop imports (``hgd-loop --plugin my_module``, found in the current folder as ``python -m`` would):

    from sim.plugin import register_gym_task
    register_gym_task("point_reach", "my_pkg/PointReach-v0", expert=my_expert,
                      env_kwargs={"difficulty": 2}, max_episode_steps=200,
                      action_kinds=("delta", "delta", "delta", "absolute"))

The expert sees the environment's own observation (the array itself for a Box), and whatever it
returns is checked (one line naming the task and what it returned) and clipped to the action box
before anything compares, executes or records it. ``action_kinds`` says which components are
displacements or velocities ("delta": holding sends 0, ramps never scale them) and which are
targets ("absolute", the default).

Such a task has no arm model, so the runtime treats the action vector as "joints" plus a last
component in the gripper's place (the driver interface is the arm's), its safety filter allows any
in-box step, and the simulated supervisor measures disagreement in action space (see
`sim.supervisor.action_divergence`).
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import sys
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

import gymnasium as gym
import numpy as np

from hgdagger.common.types import Observation
from sim.gym_driver import GymDriver, GymTask, PluginTaskError, forget_spaces, make_gym_env, task_spaces
from sim.registry import TaskEntry, get_task, register_task, task_names

__all__ = ["GymDriver", "PluginTaskError", "gym_task", "load_plugin", "load_plugins", "register_gym_task",
           "expert_action"]

ACTION_KINDS = {"absolute": False, "delta": True}
"""What each action component may be: a target ("absolute") or a displacement / velocity ("delta")."""

_GYM_TASKS: dict[str, GymTask] = {}


def load_plugin(spec: str) -> None:
    """Import a plug-in module, which registers its tasks: a module name (found on the path or in
    the current folder, as ``python -m`` finds it), or a path to a ``.py`` file."""
    if spec.endswith(".py"):
        path = Path(spec).resolve()
        if not path.is_file():
            raise FileNotFoundError(f"no such file {spec}")
        loaded = sys.modules.get(path.stem)
        if loaded is not None and Path(getattr(loaded, "__file__", "") or "").resolve() == path:
            return  # already imported (a spawned worker re-imports what its parent named)
        module_spec = importlib.util.spec_from_file_location(path.stem, path)
        module = importlib.util.module_from_spec(module_spec)
        sys.modules[path.stem] = module
        try:
            module_spec.loader.exec_module(module)
        except BaseException:
            del sys.modules[path.stem]
            raise
        return
    here = str(Path.cwd())
    if here not in sys.path and "" not in sys.path:
        sys.path.insert(0, here)  # an installed command does not look in the current folder by itself
    importlib.import_module(spec)


def load_plugins(specs: Iterable[str]) -> None:
    """`load_plugin` for each; raises PluginTaskError naming the plug-in and what went wrong."""
    for spec in specs:
        try:
            load_plugin(spec)
        except ModuleNotFoundError as exc:
            raise PluginTaskError(f"--plugin {spec}: {exc} (give a module importable from here or installed, or "
                                  "the path to its .py file, e.g. --plugin examples/point_reach.py)") from None
        except Exception as exc:  # a plug-in that does not import: say which and why
            raise PluginTaskError(f"--plugin {spec}: {type(exc).__name__}: {exc}") from None


def gym_task(name: str) -> GymTask:
    """How a plugged-in task's environment is made."""
    get_task(name)  # UnknownTaskError for a name never registered
    try:
        return _GYM_TASKS[name]
    except KeyError:
        raise PluginTaskError(f"{name} is not a plugged-in gymnasium task") from None


def _where(obj: Any) -> str:
    """What a class or function is, across re-imports (by name and file, not identity)."""
    if isinstance(obj, str):
        return obj
    try:
        where = inspect.getfile(obj)
    except TypeError:
        where = ""
    return f"{getattr(obj, '__qualname__', type(obj).__qualname__)} ({where})"


def _relative(action_kinds: str | Sequence[str]) -> tuple[bool, ...]:
    kinds = (action_kinds,) if isinstance(action_kinds, str) else tuple(action_kinds)
    unknown = [k for k in kinds if k not in ACTION_KINDS]
    if unknown:
        raise PluginTaskError(f"action_kinds {unknown}: each must be one of {', '.join(ACTION_KINDS)}")
    return tuple(ACTION_KINDS[k] for k in kinds)


def register_gym_task(name: str, gym_id: str, expert: Any, description: str = "", control_hz: float = 20.0,
                      entry_point: str | Callable | None = None, max_episode_steps: int | None = None,
                      env_kwargs: Mapping[str, Any] | None = None,
                      action_kinds: str | Sequence[str] = "absolute") -> None:
    """Make a gymnasium environment a loop task named `name`.

    expert: an object with ``reset(seed)`` and ``act(obs)``, a factory returning one (called with no
    arguments), or a plain function ``obs -> action``. entry_point registers the gymnasium id when it
    is not registered yet (refused if it is, to another entry point). max_episode_steps and
    env_kwargs (constructor arguments) apply whenever the loop builds the environment. action_kinds:
    "absolute" or "delta", for every component at once or one per component. Registering the same
    task again (a module imported again) is harmless; a name already taken by another task is refused.
    """
    if gym_id in gym.registry:
        registered = gym.registry[gym_id].entry_point
        if entry_point is not None and _where(entry_point) != _where(registered):
            raise PluginTaskError(f"gymnasium id {gym_id!r} is already registered to {_where(registered)}, not "
                                  f"{_where(entry_point)}: give this environment another id")
    elif entry_point is None:
        raise PluginTaskError(f"{gym_id!r} is not a registered gymnasium id; pass entry_point= to register it")
    else:
        gym.register(id=gym_id, entry_point=entry_point, max_episode_steps=max_episode_steps, kwargs=dict(env_kwargs or {}))
    task = GymTask(name, gym_id, dict(env_kwargs or {}), max_episode_steps, control_hz, _relative(action_kinds),
                   _where(expert))
    if name in task_names() and _GYM_TASKS.get(name) != task:
        raise PluginTaskError(f"task {name!r} is already registered "
                              + (f"to {_GYM_TASKS[name].gym_id} with other settings" if name in _GYM_TASKS
                                 else "(a built-in task)") + ": choose another name")
    _GYM_TASKS[name] = task
    forget_spaces(name)

    def make_expert(control_hz: float = 20.0, seed: int | None = None) -> "PluginExpert":
        made = expert
        if isinstance(expert, type) or (callable(expert) and not hasattr(expert, "act") and _takes_no_arguments(expert)):
            made = expert()
        if not hasattr(made, "act"):
            made = CallableExpert(made)
        wrapped = PluginExpert(name, made, task_spaces(task))
        wrapped.reset(seed)
        return wrapped

    register_task(TaskEntry(name, gym_id, "", make_expert, description or f"plugged-in {gym_id}", control_hz=control_hz,
                            env_factory=_plugin_env, driver_factory=_plugin_driver,
                            supervisor_factory=_plugin_supervisor, kinematics=None))


class CallableExpert:
    """An expert from a plain ``obs -> action`` function (nothing to reset)."""

    def __init__(self, act: Callable[[Any], Any]):
        self._act = act

    def reset(self, seed: int | None = None) -> None:
        pass

    def act(self, obs: Any) -> Any:
        return self._act(obs)


def _describe(value: Any) -> str:
    """A returned value in a few words, for an error message."""
    if isinstance(value, np.ndarray):
        return f"an array of shape {value.shape} ({value.dtype})"
    text = repr(value)
    return f"{type(value).__name__} {text[:60] + '...' if len(text) > 60 else text}"


def expert_action(raw: Any, low: np.ndarray, high: np.ndarray, task: str = "") -> np.ndarray:
    """An expert's return value as the action the loop uses: float64 of the action's size, finite,
    clipped to the box [low, high]. PluginTaskError naming the task and what came back otherwise."""
    try:
        action = np.asarray(raw, np.float64)
    except (TypeError, ValueError):
        action = None
    if action is None or action.shape != low.shape or not np.isfinite(action).all():
        raise PluginTaskError(f"plug-in task {task}: its expert returned {_describe(raw)}; expected {low.shape[0]} "
                              "finite numbers (one action)")
    return np.clip(action, low, high)


class PluginExpert:
    """A plug-in's expert as the loop calls it: it is shown the environment's own observation (the
    array itself for a Box), and its action is checked and clipped to the box; ``last_raw`` keeps
    what it asked for."""

    def __init__(self, task: str, expert: Any, spaces) -> None:
        self.task, self.inner = task, expert
        self._unwrap = spaces.box_observation
        self.low = spaces.action.low.astype(np.float64)
        self.high = spaces.action.high.astype(np.float64)
        self.last_raw: np.ndarray | None = None

    def reset(self, seed: int | None = None) -> None:
        if hasattr(self.inner, "reset"):
            self.inner.reset(seed)

    def act(self, obs: Observation) -> np.ndarray:
        view = obs["state"].copy() if self._unwrap else {k: v.copy() for k, v in obs.items()}
        try:
            raw = self.inner.act(view)
        except Exception as exc:  # the plug-in's own bug: name it, do not crash deep in the runtime
            raise PluginTaskError(f"plug-in task {self.task}: its expert raised {type(exc).__name__}: {exc}") from exc
        action = expert_action(raw, self.low, self.high, self.task)
        self.last_raw = np.asarray(raw, np.float64)
        return action


def _plugin_env(entry: TaskEntry, **_: Any) -> gym.Env:
    return make_gym_env(_GYM_TASKS[entry.name])


def _plugin_driver(entry: TaskEntry, seed: int | None, control_hz: float, cameras: tuple[str, ...] = (),
                   image_size: tuple[int, int] = (128, 128)) -> GymDriver:
    if cameras:
        raise PluginTaskError(f"{entry.name} is a plugged-in environment: it has no cameras to render")
    return GymDriver(entry.name, seed=seed)  # the environment's own step rate, whatever the caller's


def _plugin_supervisor(entry: TaskEntry, expert, config, control_hz: float):
    """With no arm to compute gripper motions with, the supervisor judges disagreement in action
    space, scaled by the action box (read from an environment already built, not a new one)."""
    from sim.supervisor import SimulatedSupervisor

    box = task_spaces(_GYM_TASKS[entry.name]).action
    low, high = box.low.astype(float), box.high.astype(float)
    return SimulatedSupervisor(expert, config, entry.control_hz, action_scale=high - low, action_box=(low, high))


def _takes_no_arguments(fn: Callable) -> bool:
    try:
        return not any(p.default is p.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
                       for p in inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        return False
