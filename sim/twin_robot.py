"""A whole real-arm rig with no hardware: the physics twin on a pty, the real follower driver
talking to it, and (optionally) a task on its table with a success check.

``TwinArmDriver`` is what ``--robot koch_twin`` and ``--robot so101_twin`` connect to: to the
runtime it is the follower driver of the arm's servo family (every observation and command crosses
the serial protocol: Dynamixel or Feetech, chosen by the arm file's protocol); on top it can reset
the scene the way a person would (arm to rest, object somewhere new) and report the task's outcome,
which is what lets ``hgd-loop`` run unattended on it.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, replace
from typing import Callable, Protocol

import numpy as np

from hgdagger.common.types import DriverHealth, EpisodeOutcome, Observation, RobotSpec
from sim.twin import PhysicsTwin, twin_bus
from teleop.dynamixel.config import ArmConfig


class TwinTask(Protocol):
    """Something to do on the twin's table: it places the scene, adds what the task observes, and
    says when it is done."""

    name: str
    max_steps: int
    observation_shapes: dict[str, tuple[int, ...]]

    def reset(self, twin: PhysicsTwin, rng: np.random.Generator) -> None: ...

    def observe(self, twin: PhysicsTwin) -> Observation: ...

    def outcome(self, twin: PhysicsTwin) -> EpisodeOutcome: ...


PTY_LATENCY_MS = 10.0


@dataclass(frozen=True)
class TwinOptions:
    clock: str = "wall"  # "wall": live sessions; "commands": one control period per command (unattended)
    rest_pose: tuple[float, ...] | None = None  # arm joints + gripper the scene resets to (None: model's rest)


class TwinArmDriver:
    """RobotDriver: the arm's follower driver (Dynamixel or Feetech), over a pty, in front of a MuJoCo twin."""

    def __init__(self, arm: ArmConfig, model_factory: Callable[[], object], task: TwinTask | None = None,
                 options: TwinOptions = TwinOptions(), seed: int | None = 0, cameras: list | None = None):
        """``cameras``: teleop.cameras.CameraConfig whose source is ``twin:<camera in the model>``."""
        self.twin = PhysicsTwin(model_factory(), arm, clock=options.clock)
        self.task = task
        self.rest = np.asarray(options.rest_pose if options.rest_pose is not None else np.zeros(len(arm.ids)), float)
        self.twin.place_arm(self.rest)
        family = twin_bus(arm)
        self.chain = family.chain(self.twin)
        self.bus = family.pty(self.chain).start()
        wired = copy.deepcopy(arm)
        wired.bus.port = self.bus.port
        # The pty's replies come from a thread that shares the CPU with the twin's camera renders,
        # not from a USB adapter: allow each reply PTY_LATENCY_MS, so a render does not read as a
        # silent servo at connect (which the driver then diagnoses as a wrong baud rate).
        wired.bus.latency_ms = max(wired.bus.latency_ms, PTY_LATENCY_MS)
        camera_set = None
        try:
            camera_set = self._cameras(cameras or [])
            self.follower = family.follower(wired, cameras=camera_set)
        except Exception:
            if camera_set is not None:
                camera_set.close()
            self.bus.stop()
            raise
        shapes = dict(self.follower.spec.observation_shapes) | (task.observation_shapes if task else {})
        self.spec: RobotSpec = replace(self.follower.spec, observation_shapes=shapes)
        self.max_steps = task.max_steps if task else None
        self._steps = 0
        self._outcome = EpisodeOutcome(False)
        self.terminated = self.truncated = False
        self.reset(seed)

    def _cameras(self, configs: list):
        if not configs:
            return None
        from teleop.cameras import CameraSet

        renders = {}
        for cfg in configs:
            source = str(cfg.source)
            if not source.startswith("twin:"):
                raise ValueError(f"camera {cfg.name!r}: a twin's cameras render its scene: source must be "
                                 f"'twin:<camera>', got {cfg.source!r}")
            renders[cfg.name] = self.twin.camera(source.removeprefix("twin:"), cfg.height, cfg.width)
        return CameraSet(configs, renders)

    # -------------------------------------------------------------- episodes
    def reset(self, seed: int | None = None) -> Observation:
        """A person resets the scene: the arm back at rest, the task's objects placed anew."""
        with self.twin.lock:
            self.twin.place_arm(self.rest)
            if self.task is not None:
                self.task.reset(self.twin, np.random.default_rng(seed))
            self.chain.sync_goals_to_present()
        self._steps = 0
        self._outcome = EpisodeOutcome(False)
        self.terminated = self.truncated = False
        return self.observe()

    def observe(self) -> Observation:
        obs = self.follower.observe()
        if self.task is not None:
            with self.twin.lock:
                obs.update(self.task.observe(self.twin))
        return obs

    def command(self, target: np.ndarray) -> np.ndarray:
        sent = self.follower.command(target)
        self._steps += 1
        if self.task is not None:
            with self.twin.lock:
                self._outcome = self.task.outcome(self.twin)
            self.terminated = self._outcome.success or bool(self._outcome.failure)
            self.truncated = self.max_steps is not None and self._steps >= self.max_steps
        return sent

    def hold(self) -> None:
        self.follower.hold()

    def rest_command(self, obs: Observation) -> np.ndarray:
        return self.follower.rest_command(obs)

    def camera_ages(self) -> dict[str, float | None]:
        return self.follower.camera_ages()

    @property
    def cameras(self):
        """The twin's camera set (rendered views), or None."""
        return self.follower.cameras

    @property
    def outcome(self) -> EpisodeOutcome:
        return self._outcome

    @property
    def health(self) -> DriverHealth:
        return self.follower.health

    @property
    def reward(self) -> float:
        return 1.0 if self._outcome.success else 0.0

    @property
    def info(self) -> dict:
        """What evaluation reads of a sim episode (the same keys as the sim arm's)."""
        return {"is_success": self._outcome.success, "failure": self._outcome.failure}

    def close(self) -> None:
        try:
            self.follower.close()
        finally:
            self.bus.stop()


TWIN_MODELS: dict[str, Callable[[], object]] = {}
TWIN_TASKS: dict[str, Callable[[], TwinTask]] = {}


def _koch_model():
    from sim.koch_scene import load_koch_model

    return load_koch_model()


def _koch_reach() -> TwinTask:
    from sim.twin_tasks import KochReach

    return KochReach()


def _so101_model():
    from sim.so101_scene import SO101_SCENE

    return SO101_SCENE.load_model()


def _so101_reach() -> TwinTask:
    from sim.so101_tasks import so101_reach

    return so101_reach()


TWIN_MODELS["koch_v1_1"] = _koch_model
TWIN_MODELS["so101"] = _so101_model
TWIN_REST: dict[str, Callable[[], tuple[float, ...]]] = {"koch_v1_1": lambda: _koch_reach().rest_pose,
                                                         "so101": lambda: _so101_reach().rest_pose}
TWIN_TASKS["koch_reach"] = _koch_reach
TWIN_TASKS["so101_reach"] = _so101_reach


def open_twin(arm: ArmConfig, model: str, task: str | None, clock: str = "wall", seed: int | None = 0,
              cameras: list | None = None) -> TwinArmDriver:
    """A twin by the names a robot config uses (``driver.model``, ``driver.task``)."""
    if model not in TWIN_MODELS:
        raise ValueError(f"driver.model {model!r}: no twin of that arm; twins: {', '.join(TWIN_MODELS)}")
    if task is not None and task not in TWIN_TASKS:
        raise ValueError(f"driver.task {task!r}: the twin has no such task; tasks: {', '.join(TWIN_TASKS)}")
    made = TWIN_TASKS[task]() if task else None
    rest = getattr(made, "rest_pose", None)
    return TwinArmDriver(arm, TWIN_MODELS[model], made, TwinOptions(clock=clock, rest_pose=rest), seed=seed, cameras=cameras)


def open_physics(arm: ArmConfig, model: str) -> PhysicsTwin:
    """The physics alone, for an emulator process of its own (``hgd-dxl-emulator --twin``,
    ``hgd-feetech-emulator --twin``): wall clock, the arm parked at its rest pose."""
    if model not in TWIN_MODELS:
        raise ValueError(f"--twin {model!r}: no twin of that arm; twins: {', '.join(TWIN_MODELS)}")
    twin = PhysicsTwin(TWIN_MODELS[model](), arm, clock="wall")
    twin.place_arm(np.asarray(TWIN_REST[model](), float))
    return twin
