"""Feetech follower and leader arms behind the same seams as the Dynamixel ones.

The connect retries, the per-step read with retries, hold after ``hold_after`` failed steps, the
reconnect of a vanished port and the recovery (torque back on at the present position) are the
Dynamixel arm's (``teleop.dynamixel.follower.DynamixelArm``), inherited unchanged, so both buses
fail and recover alike. What differs is the servo: ``configure`` writes the STS registers (EEPROM
only when a value differs, between Lock 0 and Lock 1, so flash is not worn at every connect), the
Homing Offset a LeRobot calibration asks for, the position limits in position mode, and velocity in
steps/s. ``FeetechLeader`` leaves torque off; with a LeRobot calibration it reads joints in that
calibration's frame, otherwise raw, for ``LeaderCalibration`` to map (``hgdagger.robots.leader``).
"""

from __future__ import annotations

import logging

import numpy as np

from teleop.dynamixel.calibration import rad_to_ticks
from teleop.dynamixel.dynamixel_leader import DynamixelLeader
from teleop.dynamixel.follower import BusHealth, DynamixelArm, DynamixelFollower
from teleop.feetech import control_table as ct
from teleop.feetech.bus import FeetechBus
from teleop.feetech.config import FeetechArmConfig

log = logging.getLogger("hgd.feetech")


class FeetechArm(DynamixelArm):
    """Connect/configure/read for STS servos; fault handling is DynamixelArm's."""

    TORQUE_ENABLE = ct.TORQUE_ENABLE
    FAMILY = "feetech"

    def __init__(self, config: FeetechArmConfig, connect: bool = True):
        if not isinstance(config, FeetechArmConfig):
            raise TypeError(f"arm {config.name!r} is not a Feetech arm config")
        self.config = config
        names = {j.id: j.name for j in config.joints}
        if config.gripper:
            names[config.gripper.id] = "gripper"
        self.bus = FeetechBus(config.bus, config.models(), names)
        self.maps = config.joint_maps()
        self.gripper_map = config.gripper_map()
        self.signs = np.array([m.sign for m in self.maps])
        self.n = len(config.joints)
        self.health = BusHealth()
        self._last_reconnect = 0.0
        self.ticks: np.ndarray | None = None
        self.vel_units: np.ndarray | None = None
        self.current: np.ndarray | None = None  # Present Load, 0.1 % of the maximum torque
        if connect:
            self.connect()

    def _eeprom(self, servo_id: int, reg: ct.Register, value: int) -> bool:
        """Write an EEPROM register only when it differs (flash wears); True when written."""
        if self.bus.read(servo_id, reg) == value:
            return False
        self.bus.write(servo_id, reg, value)
        return True

    def configure(self, only: list[int] | None = None) -> None:
        """Torque off, unlock, EEPROM settings that differ, lock; then (follower) goal = present and torque on."""
        cfg = self.config
        homing = cfg.homing_offsets()
        for i in only or self.bus.ids:
            is_gripper = cfg.gripper is not None and i == cfg.gripper.id
            self.bus.write(i, ct.TORQUE_ENABLE, 0)
            self.bus.write(i, ct.LOCK, 0)
            mode = cfg.gripper.operating_mode if is_gripper else cfg.operating_mode
            self._eeprom(i, ct.OPERATING_MODE, ct.OPERATING_MODES[mode])
            if i in homing and self._eeprom(i, ct.HOMING_OFFSET, homing[i]):
                log.info("feetech %s: %s: Homing Offset set to %d (the calibration's)", cfg.name, self.bus.label(i), homing[i])
            if cfg.return_delay_us is not None:
                self._eeprom(i, ct.RETURN_DELAY_TIME, cfg.return_delay_us // 2)
            if mode == "position":  # the servo enforces these only in position mode
                lo, hi = self._limits(i)
                self._eeprom(i, ct.MIN_POSITION_LIMIT, lo)
                self._eeprom(i, ct.MAX_POSITION_LIMIT, hi)
            if cfg.p_coefficient is not None:
                self._eeprom(i, ct.P_COEFFICIENT, cfg.p_coefficient)
            self.bus.write(i, ct.LOCK, 1)
            if is_gripper and cfg.gripper.torque_limit is not None:
                self.bus.write(i, ct.TORQUE_LIMIT, cfg.gripper.torque_limit)
            if cfg.profile_velocity:
                self.bus.write(i, ct.GOAL_VELOCITY, cfg.profile_velocity)
            if cfg.torque_on_connect:
                self.bus.write(i, ct.GOAL_POSITION, self.bus.read(i, ct.PRESENT_POSITION))  # no jump at torque on
                self.bus.write(i, ct.TORQUE_ENABLE, 1)

    def _limits(self, servo_id: int) -> tuple[int, int]:
        """Min/Max Position Limit (steps) for a joint's lower/upper, or the gripper's open..closed."""
        res = self.bus.models[servo_id].resolution
        ids = [j.id for j in self.config.joints]
        if servo_id in ids:
            k = ids.index(servo_id)
            joint, jmap = self.config.joints[k], self.config.joint_maps()[k]
            ends = rad_to_ticks(np.array([joint.lower, joint.upper]), [jmap, jmap])
        else:
            ends = np.array([self.config.gripper.open_ticks, self.config.gripper.closed_ticks])
        return int(np.clip(ends.min(), 0, res - 1)), int(np.clip(ends.max(), 0, res - 1))

    def joint_vel(self) -> np.ndarray:
        """Present Velocity (steps/s) -> rad/s in the joint's sign."""
        res = np.array([m.resolution for m in self.maps], np.float64)
        return self.signs * self.vel_units[: self.n] * 2 * np.pi / res


class FeetechFollower(DynamixelFollower, FeetechArm):
    """RobotDriver over an STS arm (observe, command, hold, close) plus ``health``: the Dynamixel
    follower's per-step logic over ``FeetechArm``."""


class FeetechLeader(DynamixelLeader, FeetechArm):
    """LeaderArm over STS servos: ``read()`` -> joint angles (rad) + raw gripper angle (rad).

    Raw (sign +1, zero at the servo's middle) for a ``LeaderCalibration`` file to map; with a LeRobot
    calibration, in that calibration's frame (``hgdagger.robots.leader`` then derives the map)."""

    def __init__(self, config: FeetechArmConfig, connect: bool = True):
        super().__init__(config, connect=False)
        if config.lerobot_calibration:
            self.maps = config.joint_maps()
            self.signs = np.array([m.sign for m in self.maps])
        if connect:
            self.connect()
