"""Tasks on the Koch twin's table, each with a success check and a scripted expert, so the
HG-DAgger loop runs unattended on a twin that speaks the real serial protocol.

``koch_reach``: bring the gripper (open, pointing down) to just above a cube placed at random in
reach. The cube's position is observed directly (``cube_pos``), standing in for a perception
module; the camera views render the same scene for pixel policies.
"""

from __future__ import annotations

import mujoco
import numpy as np

from hgdagger.common.types import EpisodeOutcome, Observation
from sim.koch_scene import CUBE_HALF_SIZE, CUBE_REGION, KOCH_REST, KOCH_TCP_SITE
from sim.twin import PhysicsTwin

HOVER = 0.05  # m above the cube's centre: the point the gripper must reach (jaw tips 2 cm above its top)
SUCCESS_RADIUS = 0.01  # m


class KochReach:
    name = "koch_reach"
    max_steps = 100  # 5 s at the Koch's 20 Hz task rate
    observation_shapes = {"cube_pos": (3,)}
    rest_pose = tuple(KOCH_REST) + (0.0,)

    def reset(self, twin: PhysicsTwin, rng: np.random.Generator) -> None:
        (xlo, ylo), (xhi, yhi) = CUBE_REGION
        cube = twin.model.joint("cube_joint")
        adr = twin.model.jnt_qposadr[cube.id]
        twin.data.qpos[adr: adr + 7] = [rng.uniform(xlo, xhi), rng.uniform(ylo, yhi), CUBE_HALF_SIZE, 1, 0, 0, 0]
        twin.data.qvel[twin.model.jnt_dofadr[cube.id]: twin.model.jnt_dofadr[cube.id] + 6] = 0.0
        mujoco.mj_forward(twin.model, twin.data)

    def observe(self, twin: PhysicsTwin) -> Observation:
        return {"cube_pos": twin.data.body("cube").xpos.copy()}

    def target(self, cube_pos: np.ndarray) -> np.ndarray:
        return np.asarray(cube_pos, float) + np.array([0.0, 0.0, HOVER])

    def outcome(self, twin: PhysicsTwin) -> EpisodeOutcome:
        tcp = twin.data.site(KOCH_TCP_SITE).xpos
        return EpisodeOutcome(bool(np.linalg.norm(tcp - self.target(twin.data.body("cube").xpos)) < SUCCESS_RADIUS))


class KochReachExpert:
    """Steers the gripper centre straight at the hover point through the Koch's own kinematics,
    open, pointing down, at a bounded joint speed; closed loop from the observation alone."""

    def __init__(self, control_hz: float = 20.0, seed: int | None = None, max_speed: float = 0.06):
        from sim.arm_models import arm_model

        self.model = arm_model("koch_v1_1")
        self.control_hz = control_hz
        self.max_speed = max_speed  # m/s of the gripper centre
        self.max_joint_step = 0.9 * self.model.max_joint_velocity / control_hz

    def reset(self, seed: int | None = None) -> None:
        pass

    def act(self, obs: Observation) -> np.ndarray:
        q = np.asarray(obs["joint_pos"], float)
        here, _ = self.model.gripper_pose(q)
        goal = KochReach().target(obs["cube_pos"])
        step = goal - here
        limit = self.max_speed / self.control_hz
        if np.linalg.norm(step) > limit:
            step *= limit / np.linalg.norm(step)
        joints = self.model.solve(q, here + step, 0.0, self.max_joint_step)
        return np.append(joints, 0.0)


# ------------------------------------------------------------------ the task's registry entry
def twin_reach_driver(entry, seed: int | None, control_hz: float, cameras: tuple[str, ...] = (),
                      image_size: tuple[int, int] = (128, 128)):
    """The Koch twin doing ``koch_reach`` with the commands as its clock (one period per command), as
    the unattended loop drives it; a live session opens it with ``--robot koch_twin`` instead."""
    from sim.koch_scene import load_koch_model
    from sim.twin_robot import TwinArmDriver, TwinOptions
    from teleop.dynamixel.config import ArmConfig

    if cameras:
        raise ValueError("the twin renders its cameras only in a live session (hgd-collect, hgd-run --robot koch_twin), "
                         "not in the unattended loop's lockstep: policies from pixels are measured on the sim arm's "
                         "tasks (reach, pick_place, ...)")
    arm = ArmConfig.load("koch_follower")
    arm.control_hz = control_hz
    task = KochReach()
    return TwinArmDriver(arm, load_koch_model, task, TwinOptions(clock="commands", rest_pose=task.rest_pose), seed=seed)


def twin_supervisor(entry, expert, config, control_hz: float):
    """The supervisor judges the Koch's disagreement in action space, scaled by each joint's range."""
    from sim.supervisor import SimulatedSupervisor
    from teleop.dynamixel.config import ArmConfig

    spec = ArmConfig.load("koch_follower").robot_spec()
    return SimulatedSupervisor(expert, config, control_hz, action_scale=spec.action_upper - spec.action_lower,
                               action_box=(spec.action_lower, spec.action_upper))


def no_environment(entry, **_):
    raise ValueError(f"{entry.name} runs on the Koch twin behind the serial protocol: it has no gymnasium "
                     "environment (its driver is sim.make_driver)")
