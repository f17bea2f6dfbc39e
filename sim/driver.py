"""The simulated arm as a robot driver: the runtime cannot tell it from a real arm.

It runs in lockstep: each ``command`` advances the physics by exactly one control period, so a
runtime ticking in real time sees a real-time arm, and an unattended loop can run it faster.
"""

from __future__ import annotations

import numpy as np

from hgdagger.common.types import DriverHealth, Observation, RobotSpec
from sim.arm import arm_robot_spec
from sim.registry import make_env
from sim.tasks.base import ArmTaskEnv, TaskOutcome, validate_action


class SimArmDriver:
    """RobotDriver over one task environment (observe, command, hold, close), plus episode resets."""

    def __init__(
        self,
        task: str = "reach",
        seed: int | None = 0,
        control_hz: float = 20.0,
        cameras: tuple[str, ...] = (),
        image_size: tuple[int, int] = (128, 128),
        max_steps: int | None = None,
    ):
        self.env: ArmTaskEnv = make_env(task, control_hz=control_hz, cameras=cameras, image_size=image_size, max_steps=max_steps)
        self.task = task
        shapes = {key: tuple(space.shape) for key, space in self.env.observation_space.spaces.items()}
        self.spec: RobotSpec = arm_robot_spec(control_hz, tuple(cameras), shapes)
        self._lower = self.spec.action_lower
        self._upper = self.spec.action_upper
        self.terminated = False
        self.truncated = False
        self.health = DriverHealth()  # a simulator never faults
        self.max_steps = self.env.max_steps
        self.reset(seed)

    def reset(self, seed: int | None = None) -> Observation:
        """Start a new episode; returns its first observation."""
        self._obs, self._info = self.env.reset(seed=seed)
        self.terminated = self.truncated = False
        self._reward = 0.0
        return self.observe()

    def observe(self) -> Observation:
        return {key: value.copy() for key, value in self._obs.items()}

    def command(self, target: np.ndarray) -> np.ndarray:
        """Clip to the arm's limits, advance one control period, and return what was sent."""
        sent = np.clip(validate_action(target, self.spec.action_dim), self._lower, self._upper)
        self._obs, reward, terminated, truncated, self._info = self.env.step(sent)
        self._reward = float(reward)
        self.terminated |= terminated
        self.truncated |= truncated
        return sent

    def rest_command(self, obs: Observation) -> np.ndarray:
        """Holding before anything was sent: the measured joints and gripper."""
        return np.append(obs["joint_pos"], obs["gripper_pos"][:1])

    def hold(self) -> None:
        """Command the arm's current joint positions and keep the gripper as it was."""
        self.command(np.append(self._obs["joint_pos"], self.env.gripper_command))

    def close(self) -> None:
        self.env.close()

    @property
    def outcome(self) -> TaskOutcome:
        return self.env.outcome

    @property
    def info(self) -> dict:
        return dict(self._info)

    def camera_ages(self) -> dict[str, float | None]:
        return {}  # rendered with every observation: never stale

    @property
    def reward(self) -> float:
        return self._reward
