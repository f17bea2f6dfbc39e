"""A Dynamixel leader arm: the servos the operator moves by hand, read at the control rate.

Torque stays off (or, for the gripper trigger, a light current that springs it open when the
config asks for one). ``read`` returns raw joint angles in the leader's own zero and sign plus the
raw gripper angle, as the ``teleop.devices.leader_arm.LeaderArm`` protocol asks; the calibration file
(``LeaderCalibration``: signs, quarter-turn offsets, gripper open/closed) maps them to follower
targets. ``calibrate`` measures that file from two or three poses the operator holds.
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from teleop.devices.leader_arm import LeaderCalibration
from teleop.dynamixel.calibration import offset_to_nearest_quarter, ticks_to_rad, JointMap
from teleop.dynamixel.config import ArmConfig
from teleop.dynamixel.follower import DynamixelArm
from teleop.intent import TeleopIntent


class DynamixelLeader(DynamixelArm):
    """LeaderArm over Dynamixel servos: ``read()`` -> raw joint angles (rad) + raw gripper angle (rad)."""

    def __init__(self, config: ArmConfig, connect: bool = True):
        if config.torque_on_connect:
            raise ValueError(f"leader arm {config.name!r}: set torque_on_connect = false (the operator moves it by hand)")
        super().__init__(config, connect=False)
        # read raw: the calibration file, not the config, carries this arm's signs and offsets
        self.maps = [JointMap(1.0, 0, m.resolution) for m in self.maps]
        if connect:
            self.connect()  # includes the first read, retried within bus.connect_timeout_s

    def read(self) -> np.ndarray:
        """The newest reading; while the bus is faulted, the last good one (check ``health.ok``)."""
        self.poll()
        joints = self.joint_pos()
        grip = ticks_to_rad(np.array([self.gripper_ticks()]), [JointMap()])[0] if self.config.gripper else 0.0
        return np.append(joints, grip)


class DynamixelLeaderDevice:
    """The leader arm as an input device (``teleop.devices.base.InputDevice``): publishes the
    follower command; a faulted bus sends no command (the runtime then holds) and says why."""

    name = "leader"

    def __init__(self, leader: DynamixelLeader, calibration: LeaderCalibration):
        if len(calibration.signs) != leader.n:
            raise ValueError(f"calibration has {len(calibration.signs)} joints, leader arm {leader.config.name} has {leader.n}")
        self.leader, self.calibration = leader, calibration

    def read(self) -> TeleopIntent:
        reading = self.leader.read()
        h = self.leader.health
        if not h.ok:
            return TeleopIntent(device=self.name, connected=False, status=f"leader arm: {h.fault}")
        return TeleopIntent(device=self.name, command=self.calibration.to_follower(reading), status="leader arm ok")

    def close(self) -> None:
        self.leader.close()


def calibrate(leader: DynamixelLeader, reference_pose: Sequence[float], signs: Sequence[float],
              ask: Callable[[str], None]) -> LeaderCalibration:
    """Measure a calibration: ``ask(prompt)`` returns once the operator has done what it says.

    1. leader in the reference pose (the follower's pose ``reference_pose``, rad): quarter-turn
       offsets so the leader reads that pose; 2. trigger fully open; 3. trigger fully closed.
    """
    if len(reference_pose) != leader.n or len(signs) != leader.n:
        raise ValueError(f"reference pose and signs need {leader.n} values (one per leader joint)")
    ask(f"Move the leader arm into the reference pose {list(np.round(reference_pose, 3))} rad "
        "(the pose in the follower's config / the photo), hold it still, then press Enter.")
    raw = leader.read()
    offsets = tuple(offset_to_nearest_quarter(m, w, s) for m, w, s in zip(raw[:-1], reference_pose, signs))
    ask("Open the gripper trigger fully, hold it, then press Enter.")
    grip_open = float(leader.read()[-1])
    ask("Close the gripper trigger fully, hold it, then press Enter.")
    grip_closed = float(leader.read()[-1])
    if abs(grip_closed - grip_open) < 0.05:
        raise ValueError(f"the trigger barely moved ({grip_open:.3f} -> {grip_closed:.3f} rad): "
                         "was it really opened and then closed? run the calibration again")
    return LeaderCalibration(tuple(float(s) for s in signs), offsets, grip_open, grip_closed)
