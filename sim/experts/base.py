"""What every scripted expert shares: a closed-loop Cartesian mover on top of differential IK.

An expert computes its action from the observation alone, at every step, so it can label any
state a policy (or a noisy version of itself) drives the arm into: the oracle DAgger needs, and the
hands of the simulated supervisor.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np

from hgdagger.common.types import Observation
from sim import arm
from sim.kinematics import ArmKinematics, IKParams, yaw_down_quat
from sim.scene import load_model


@runtime_checkable
class Expert(Protocol):
    def reset(self, seed: int | None = None) -> None:
        """Start a new episode (experts that choose among modes draw their choice here)."""
        ...

    def act(self, obs: Observation) -> np.ndarray:
        """The expert's action (8,) for this observation."""
        ...


def gripper_yaw(ee_quat: np.ndarray) -> float:
    """Yaw of a downward-pointing gripper from its (x >= 0 canonical) quaternion."""
    return float(2.0 * np.arctan2(ee_quat[2], ee_quat[1]))


def cube_yaw(cube_quat: np.ndarray) -> float:
    return float(2.0 * np.arctan2(cube_quat[3], cube_quat[0]))


def nearest_grasp_yaw(cube: float, current: float) -> float:
    """The cube's yaw plus a multiple of 90 degrees (a square has four grasps) nearest to ``current``."""
    quarter = np.pi / 2
    return cube + quarter * round((current - cube) / quarter)


def clip_norm(vector: np.ndarray, limit: float) -> np.ndarray:
    norm = np.linalg.norm(vector)
    return vector if norm <= limit else vector * (limit / norm)


class CartesianExpert:
    """Base for experts that steer the gripper's centre point towards a target pose each step."""

    max_speed = 0.25  # m/s of the gripper centre point
    moves_objects = False  # True for experts whose task state changes with the arm (see `plan`)

    def __init__(self, control_hz: float = 20.0, seed: int | None = None):
        self.control_hz = control_hz
        # Like a real arm's controller, never ask a joint for more than 90% of its rated velocity.
        self.ik_params = IKParams(max_joint_step=0.9 * float(np.min(arm.MAX_JOINT_VELOCITY)) / control_hz)
        self.kinematics = ArmKinematics(load_model(), arm.TCP_SITE, arm.JOINT_NAMES)
        self.rng = np.random.default_rng(seed)

    def reset(self, seed: int | None = None) -> None:
        self.rng = np.random.default_rng(seed)

    def move_to(self, obs: Observation, target_pos: np.ndarray, yaw: float | None, gripper: float) -> np.ndarray:
        """Joint targets that take the gripper one speed-limited step towards ``target_pos``."""
        q = np.asarray(obs["joint_pos"], dtype=float)
        ee = np.asarray(obs["ee_pos"], dtype=float)
        carrot = ee + clip_norm(np.asarray(target_pos, dtype=float) - ee, self.max_speed / self.control_hz)
        if yaw is None:
            yaw = gripper_yaw(obs["ee_quat"])
        q_next = self.kinematics.step_towards(q, carrot, yaw_down_quat(yaw), arm.HOME_QPOS, self.ik_params)
        return np.append(q_next, float(np.clip(gripper, 0.0, 1.0)))

    def act(self, obs: Observation) -> np.ndarray:
        raise NotImplementedError

    def plan(self, obs: Observation, steps: int) -> np.ndarray:
        """The expert's next `steps` actions (steps, 8) from `obs`, as if the arm reached every
        target exactly and nothing else moved.

        This is the clean continuation that should label a chunk when the executed actions carry
        injected noise (DART): the actions recorded later in such an episode answer states the noise
        pushed the arm into, so a chunk cut from them holds future noise no policy can predict.
        """
        from sim.tasks.base import canonical_gripper_quat

        if self.moves_objects:
            raise ValueError(f"{type(self).__name__} moves objects, so its plan cannot be worked out from the arm "
                             "alone; label its chunks with the recorded actions")
        state = dict(obs)
        out = []
        for _ in range(steps):
            a = np.asarray(self.act(state), dtype=float)
            out.append(a)
            ee, quat = self.kinematics.site_pose(a[:7])
            state.update(joint_pos=a[:7].copy(), ee_pos=ee, ee_quat=canonical_gripper_quat(quat))
        return np.stack(out)


class NoisyExpert:
    """An expert whose joint targets are perturbed by Gaussian noise (for robustness checks)."""

    def __init__(self, expert: Expert, joint_sigma: float, seed: int | None = None):
        self.expert = expert
        self.joint_sigma = joint_sigma
        self.rng = np.random.default_rng(seed)

    def reset(self, seed: int | None = None) -> None:
        self.expert.reset(seed)
        self.rng = np.random.default_rng(None if seed is None else seed + 1_000_003)

    def act(self, obs: Observation) -> np.ndarray:
        action = np.array(self.expert.act(obs), dtype=float)
        action[:-1] += self.rng.normal(0.0, self.joint_sigma, size=action.size - 1)
        return action
