"""Tasks on the SO-101 twin's table, registered at import (``import sim`` imports this module):
``so101_reach`` runs unattended in ``hgd-loop`` on a twin that speaks the real Feetech protocol.

``so101_reach``: the tcp (open, pointing down) 4.5 cm above a cube placed at random in reach, jaw
tips 2 cm above its top. The expert steers through the SO-101's closed-form kinematics.
"""

from __future__ import annotations

from sim.registry import TaskEntry, register_task
from sim.so101_scene import SO101_SCENE
from sim.twin_reach import TwinReach, TwinReachExpert

HOVER = 0.045  # m above the cube's centre (tcp at z 0.06, inside the pointing-down workspace)


def so101_reach() -> TwinReach:
    return TwinReach("so101_reach", SO101_SCENE, hover=HOVER, max_steps=100)  # 5 s at the loop's 20 Hz


def so101_reach_expert(control_hz: float = 20.0, seed: int | None = None) -> TwinReachExpert:
    return TwinReachExpert(so101_reach(), "so101", control_hz=control_hz)


def so101_reach_driver(entry, seed: int | None, control_hz: float, cameras: tuple[str, ...] = (),
                       image_size: tuple[int, int] = (128, 128)):
    """The SO-101 twin doing ``so101_reach`` with the commands as its clock (one period per command),
    as the unattended loop drives it; a live session opens it with ``--robot so101_twin`` instead."""
    from sim.twin_robot import TwinArmDriver, TwinOptions
    from teleop.feetech.config import FeetechArmConfig

    if cameras:
        raise ValueError("the twin renders its cameras only in a live session (hgd-collect, hgd-run --robot so101_twin), "
                         "not in the unattended loop's lockstep: policies from pixels are measured on the sim arm's "
                         "tasks (reach, pick_place, ...)")
    arm = FeetechArmConfig.load("so101_follower")
    arm.control_hz = control_hz
    task = so101_reach()
    return TwinArmDriver(arm, SO101_SCENE.load_model, task, TwinOptions(clock="commands", rest_pose=task.rest_pose),
                         seed=seed)


def so101_supervisor(entry, expert, config, control_hz: float):
    """The supervisor judges disagreement in action space, scaled by each joint's range."""
    from sim.supervisor import SimulatedSupervisor
    from teleop.feetech.config import FeetechArmConfig

    spec = FeetechArmConfig.load("so101_follower").robot_spec()
    return SimulatedSupervisor(expert, config, control_hz, action_scale=spec.action_upper - spec.action_lower,
                               action_box=(spec.action_lower, spec.action_upper))


def no_environment(entry, **_):
    raise ValueError(f"{entry.name} runs on the SO-101 twin behind the Feetech protocol: it has no gymnasium "
                     "environment (its driver is sim.make_driver)")


register_task(TaskEntry(
    "so101_reach", "hgd/SO101ReachTwin-v0", "", so101_reach_expert,
    "the SO-101 twin, through the Feetech protocol on a pty: open gripper to a few cm above a cube",
    env_factory=no_environment, driver_factory=so101_reach_driver, supervisor_factory=so101_supervisor,
    kinematics="so101"))
