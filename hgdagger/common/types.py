"""The seams between packages: what a robot is, and what a driver must do.

The action space everywhere in the stack is ``[joint position targets (rad) ..., gripper]``:
absolute joint-position targets for the arm plus one gripper value in [0, 1]
(0 = fully open, 1 = fully closed), at the robot's fixed control period. A plugged-in gymnasium
task may declare components that are displacements or velocities instead (`RobotSpec.relative_action`).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Mapping, Protocol, runtime_checkable

import numpy as np

Observation = dict[str, np.ndarray]
"""One observation: named arrays in physical units (rad, m, uint8 images HxWx3)."""


class Source(enum.IntEnum):
    """Who produced the action executed at a step (stored as ``source`` in HDF5)."""

    POLICY = 0
    HUMAN = 1
    HOLD = 2


@dataclass(frozen=True)
class RobotSpec:
    """Everything a runtime, a policy or an input device needs to know about one arm."""

    name: str
    joint_names: tuple[str, ...]
    joint_lower: np.ndarray
    joint_upper: np.ndarray
    max_joint_velocity: np.ndarray
    control_period: float
    cameras: tuple[str, ...] = ()
    observation_shapes: Mapping[str, tuple[int, ...]] = field(default_factory=dict)
    gripper_range: tuple[float, float] = (0.0, 1.0)
    # Per action component: True where it is a displacement or velocity (a plugged-in task's deltas),
    # not a position target. Holding sends no motion there, and ramps do not scale it. () = all targets.
    relative_action: tuple[bool, ...] = ()

    @property
    def relative_mask(self) -> np.ndarray:
        """`relative_action` as a boolean array over the action (all False for position targets)."""
        mask = np.zeros(self.action_dim, bool)
        mask[: len(self.relative_action)] = self.relative_action
        return mask

    def still_action(self, last: np.ndarray) -> np.ndarray:
        """The command that keeps the robot still after `last`: `last` where the action is a target,
        no motion (0, clipped to the range) where it is a displacement or velocity."""
        zero = np.clip(0.0, self.action_lower, self.action_upper)
        return np.where(self.relative_mask, zero, np.asarray(last, np.float64))

    @property
    def num_joints(self) -> int:
        return len(self.joint_names)

    @property
    def action_dim(self) -> int:
        """Arm joints plus one gripper value."""
        return self.num_joints + 1

    @property
    def action_lower(self) -> np.ndarray:
        return np.append(self.joint_lower, self.gripper_range[0]).astype(np.float64)

    @property
    def action_upper(self) -> np.ndarray:
        return np.append(self.joint_upper, self.gripper_range[1]).astype(np.float64)

    @property
    def control_hz(self) -> float:
        return 1.0 / self.control_period


@dataclass(frozen=True)
class EpisodeOutcome:
    """How an episode went by the robot's own check (a sim task's success test). A real arm has no
    such check: its outcome stays unsuccessful and the operator's label decides."""

    success: bool = False
    failure: str = ""


@dataclass
class DriverHealth:
    """Whether the driver can command the arm now; ``fault`` says why not (shown in the console)."""

    ok: bool = True
    fault: str = ""


@runtime_checkable
class RobotDriver(Protocol):
    """A robot the runtime can drive: the sim arm, a plugged-in gymnasium environment and real arms
    declare the same members, and the runtime, the recorder and the server read nothing else.
    ``tests/test_driver_conformance.py`` holds every driver to this contract."""

    spec: RobotSpec

    def reset(self, seed: int | None = None) -> Observation:
        """Begin an episode (a sim re-samples its scene; a real arm stays where it is: a person resets
        the scene) and return its first observation."""
        ...

    def observe(self) -> Observation:
        """The newest observation, without blocking on anything slow."""
        ...

    def command(self, target: np.ndarray) -> np.ndarray:
        """Send one action; return what was actually sent after the driver's own clipping.
        Raises ValueError for a target of the wrong length or with non-finite values."""
        ...

    def hold(self) -> None:
        """Keep the arm where it is (the safe default when nobody is fit to command)."""
        ...

    def rest_command(self, obs: Observation) -> np.ndarray:
        """The command that holds the robot still before anything was sent (an arm: its measured
        joints and gripper)."""
        ...

    @property
    def terminated(self) -> bool:
        """The robot's own check ended the episode (a sim task succeeded or failed for good)."""
        ...

    @property
    def truncated(self) -> bool:
        """The robot's own step limit ended the episode."""
        ...

    @property
    def outcome(self) -> EpisodeOutcome:
        ...

    @property
    def health(self) -> DriverHealth:
        """Anything with ``ok`` and ``fault``: while not ok the runtime marks steps HOLD and says why."""
        ...

    @property
    def reward(self) -> float:
        """The reward of the last step (0.0 where the robot has none), stored with each step."""
        ...

    def camera_ages(self) -> Mapping[str, float | None]:
        """Seconds since each camera's newest frame (None: none yet); empty for a robot whose frames
        come with every observation (a simulator). The runtime warns of a stale camera, and holds
        the arm while the policy needs it."""
        ...

    def close(self) -> None:
        ...


@dataclass(frozen=True)
class PolicyInfo:
    """What a policy promises its clients (sent in the server's handshake)."""

    chunk_length: int
    action_dim: int
    control_period: float
    observation_shapes: Mapping[str, tuple[int, ...]]
    checkpoint_id: str
    checkpoint_hash: str = ""
    normalization_hash: str = ""


@runtime_checkable
class ChunkPolicy(Protocol):
    """Anything that maps a batch of observations to a batch of action chunks, in physical units.

    ``observations[k]`` has a leading batch dimension B. ``prefix`` (B, H, A), when given, holds the
    actions already committed for the new chunk's first steps (real-time chunking: the previous
    chunk realigned so index 0 is the step the observation was taken at; NaN where it has none),
    and ``frozen_steps`` (B,) how many of them will certainly execute before the new chunk arrives.
    A policy that cannot inpaint ignores both; the runtime's splice still keeps execution smooth.
    """

    info: PolicyInfo

    def predict_chunks(
        self,
        observations: Mapping[str, np.ndarray],
        prefix: np.ndarray | None = None,
        frozen_steps: np.ndarray | None = None,
    ) -> np.ndarray:
        """Return (B, H, A) action chunks."""
        ...
