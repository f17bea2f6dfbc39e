"""Reach on any arm twin's table: bring the gripper (open, pointing down) to a few centimetres above
a cube placed at random in the arm's cube region, with a success check and a scripted expert that
steers through the arm's own closed-form kinematics. One class per idea, the arm a parameter: the
SO-101's ``so101_reach`` is an instance (``sim.so101_tasks``).

The cube's position is observed directly (``cube_pos``), standing in for a perception module; the
camera views render the same scene for pixel policies.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

import numpy as np

from hgdagger.common.types import EpisodeOutcome, Observation
from sim.arm_scene import ArmScene

if TYPE_CHECKING:  # the twin (and its servo emulators) loads only when a twin is opened
    from sim.twin import PhysicsTwin


@dataclass(frozen=True)
class TwinReach:
    """The task: its scene, how far above the cube the tcp must come, and how close is close enough."""

    name: str
    scene: ArmScene
    hover: float  # m above the cube's centre: the point the tcp must reach
    success_radius: float = 0.01  # m
    max_steps: int = 100

    observation_shapes: ClassVar[dict[str, tuple[int, ...]]] = {"cube_pos": (3,)}

    @property
    def rest_pose(self) -> tuple[float, ...]:
        """The arm parked, gripper open (0.0)."""
        return tuple(self.scene.rest) + (0.0,)

    def reset(self, twin: PhysicsTwin, rng: np.random.Generator) -> None:
        import mujoco

        (xlo, ylo), (xhi, yhi) = self.scene.cube_region
        cube = twin.model.joint("cube_joint")
        adr, dof = twin.model.jnt_qposadr[cube.id], twin.model.jnt_dofadr[cube.id]
        twin.data.qpos[adr: adr + 7] = [rng.uniform(xlo, xhi), rng.uniform(ylo, yhi), self.scene.cube_half_size, 1, 0, 0, 0]
        twin.data.qvel[dof: dof + 6] = 0.0
        mujoco.mj_forward(twin.model, twin.data)

    def observe(self, twin: PhysicsTwin) -> Observation:
        return {"cube_pos": twin.data.body("cube").xpos.copy()}

    def target(self, cube_pos: np.ndarray) -> np.ndarray:
        return np.asarray(cube_pos, float) + np.array([0.0, 0.0, self.hover])

    def outcome(self, twin: PhysicsTwin) -> EpisodeOutcome:
        tcp = twin.data.site(self.scene.tcp_site).xpos
        return EpisodeOutcome(bool(np.linalg.norm(tcp - self.target(twin.data.body("cube").xpos)) < self.success_radius))


class TwinReachExpert:
    """Steers the tcp straight at the hover point through the arm's kinematics (``arm_model``),
    open, pointing down, at a bounded Cartesian and joint speed; closed loop from the observation.

    Each step starts from the tcp kept inside the arm's pointing-down workspace, as Cartesian teleop
    keeps its target: from a rest pose outside it (the SO-101's: too high to point down) a step from
    where the tcp is would ask for a pose past the wrist's limit, and the clipped answer drifts."""

    def __init__(self, task: TwinReach, arm_model: str, control_hz: float = 20.0, max_speed: float | None = None):
        from sim.arm_models import arm_model as build

        self.task = task
        self.model = build(arm_model)
        self.control_hz = control_hz
        self.max_speed = max_speed if max_speed is not None else self.model.teleop_speed  # m/s of the tcp
        self.max_joint_step = 0.9 * self.model.max_joint_velocity / control_hz

    def reset(self, seed: int | None = None) -> None:
        pass

    def act(self, obs: Observation) -> np.ndarray:
        q = np.asarray(obs["joint_pos"], float)
        here = np.clip(self.model.gripper_pose(q)[0], *map(np.asarray, self.model.workspace))
        step = self.task.target(obs["cube_pos"]) - here
        limit = self.max_speed / self.control_hz
        if np.linalg.norm(step) > limit:
            step *= limit / np.linalg.norm(step)
        return np.append(self.model.solve(q, here + step, 0.0, self.max_joint_step), 0.0)
