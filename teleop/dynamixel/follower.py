"""A Dynamixel follower arm behind the RobotDriver interface: the runtime cannot tell it from the sim.

Per control step: ``observe`` is one group sync read (position, velocity, current of every servo,
retried within the step when a status packet is missed or corrupt); ``command`` clips the target to
the arm's limits and sends one group sync write of goal positions. After ``hold_after`` failed
steps in a row the driver is *faulted*: it stops commanding (the servos keep their last goal, which
``hold`` set to where the arm was), says which servo is missing, and keeps trying once per step
(reopening the port if it vanished). When reads succeed again it re-enables any servo that lost
torque (a power blip), with its goal at its present position, and commands resume.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import numpy as np

from hgdagger.common.types import Observation, RobotSpec
from teleop.dynamixel import control_table as ct
from teleop.dynamixel.bus import BusError, BusLost, DynamixelBus, NoReply
from teleop.dynamixel.calibration import rad_to_ticks, ticks_to_rad, velocity_units_to_rad_s
from teleop.dynamixel.config import ArmConfig
from teleop.real_arm import RealArmEpisodes



@dataclass
class BusHealth:
    """What the console shows about the bus; every counter only grows."""

    ok: bool = True
    fault: str = ""  # why the arm is holding ("servo 3 (elbow) not answering", "port gone")
    failed_steps: int = 0  # consecutive steps without a good read
    retries: int = 0
    faults: int = 0
    recoveries: int = 0
    fault_started: float | None = None
    last_recovery_s: float | None = None  # how long the last fault lasted
    events: list[str] = field(default_factory=list)


class DynamixelArm:
    """Shared connect/configure/read logic for the follower and the leader."""

    TORQUE_ENABLE = ct.TORQUE_ENABLE  # the register recovery and close use (another servo family names its own)
    FAMILY = "dynamixel"  # how log lines name the servos (another family names its own)

    @property
    def _log(self) -> logging.Logger:
        return logging.getLogger(f"hgd.{self.FAMILY}")

    def __init__(self, config: ArmConfig, connect: bool = True):
        self.config = config
        names = {j.id: j.name for j in config.joints}
        if config.gripper:
            names[config.gripper.id] = "gripper"
        self.bus = DynamixelBus(config.bus, config.models(), names)
        self.maps = config.joint_maps()
        self.gripper_map = config.gripper_map()
        self.signs = np.array([m.sign for m in self.maps])
        self.n = len(config.joints)
        self.health = BusHealth()
        self._last_reconnect = 0.0
        self.ticks: np.ndarray | None = None  # newest present positions
        self.vel_units: np.ndarray | None = None
        self.current: np.ndarray | None = None
        if connect:
            self.connect()

    # ------------------------------------------------------------ setup
    def connect(self) -> None:
        """Open the port, identify and configure every servo, and read the arm once.

        A servo that does not answer (powering up late, a missed or garbled status packet) has the
        whole sequence retried for up to ``bus.connect_timeout_s``; then one BusError names the
        servos that stayed silent and the fix, or the baud rate they do answer at. A port that
        cannot be opened, a wrong model or old firmware fails at once: waiting cannot fix those.
        """
        start = time.monotonic()
        deadline = start + max(0.0, self.config.bus.connect_timeout_s)
        tries, scanned = 0, False
        while True:
            tries += 1
            try:
                self._connect_once()
                if tries > 1:
                    self._log.info("%s %s: connected on try %d after %.2f s", self.FAMILY, self.config.name, tries, time.monotonic() - start)
                return
            except NoReply as exc:
                last = exc
            except BusError:
                self.bus.close()
                raise
            try:
                final = time.monotonic() >= deadline
                silent = self.bus.missing(retries=max(2, self.config.bus.retries))
                if silent and not scanned:  # once, at the first silence: a wrong baud rate fails at once
                    scanned = True
                    if (wrong := self.bus.wrong_baud(silent)) is not None:
                        raise BusError(f"{self.config.name}: {wrong}")
                if final:
                    waited = time.monotonic() - start
                    why = self.bus.silence(silent, waited, tries) if silent else self.bus.unreliable(str(last), waited, tries)
                    raise BusError(f"{self.config.name}: {why}")
            finally:
                self.bus.close()
            time.sleep(min(0.05, max(0.0, deadline - time.monotonic())))

    def _connect_once(self) -> None:
        self.bus.open()
        self.bus.identify()
        self.configure()
        state = self.bus.sync_read_state()
        if state is None:
            raise NoReply(f"the first read of the arm's state got no complete reply on {self.config.bus.port}")
        self.ticks, self.vel_units, self.current = state

    def configure(self, only: list[int] | None = None) -> None:
        """Torque off, operating mode, then (follower) goal = present and torque on."""
        cfg = self.config
        for i in only or self.bus.ids:
            is_gripper = cfg.gripper is not None and i == cfg.gripper.id
            self.bus.write(i, ct.TORQUE_ENABLE, 0)
            mode = cfg.gripper.operating_mode if is_gripper else cfg.operating_mode
            self.bus.write(i, ct.OPERATING_MODE, ct.OPERATING_MODES[mode])
            if (offset := cfg.homing_offsets().get(i)) is not None and self.bus.read(i, ct.HOMING_OFFSET) != offset:
                self.bus.write(i, ct.HOMING_OFFSET, offset)  # a LeRobot calibration's (EEPROM: torque is off here)
            if not is_gripper and mode == "position":  # the servo enforces these only in position mode
                self._write_position_limits(i)
            if is_gripper and cfg.gripper.current_limit is not None:
                self.bus.write(i, ct.GOAL_CURRENT, cfg.gripper.current_limit)
            if cfg.profile_velocity:
                self.bus.write(i, ct.PROFILE_VELOCITY, cfg.profile_velocity)
            if cfg.torque_on_connect:
                self.bus.write(i, ct.GOAL_POSITION, self.bus.read(i, ct.PRESENT_POSITION))  # no jump at torque on
                self.bus.write(i, ct.TORQUE_ENABLE, 1)
            elif is_gripper and cfg.leader_gripper_current is not None:
                self.bus.write(i, ct.OPERATING_MODE, ct.MODE_CURRENT)
                self.bus.write(i, ct.GOAL_CURRENT, cfg.leader_gripper_current)
                self.bus.write(i, ct.TORQUE_ENABLE, 1)

    def _write_position_limits(self, servo_id: int) -> None:
        """The joint's lower/upper (rad) as the servo's Min/Max Position Limit (ticks, 0..resolution-1)."""
        k = [j.id for j in self.config.joints].index(servo_id)
        joint, jmap = self.config.joints[k], self.maps[k]
        ends = rad_to_ticks(np.array([joint.lower, joint.upper]), [jmap, jmap])
        lo, hi = (int(np.clip(t, 0, jmap.resolution - 1)) for t in (ends.min(), ends.max()))
        self.bus.write(servo_id, ct.MIN_POSITION_LIMIT, lo)
        self.bus.write(servo_id, ct.MAX_POSITION_LIMIT, hi)

    # ------------------------------------------------------------ reading
    def poll(self) -> bool:
        """One read of every servo's state (with retries, or a reconnect attempt); True when fresh."""
        h = self.health
        try:
            if self.bus.port is None:
                now = time.monotonic()
                if now - self._last_reconnect < self.config.bus.reconnect_every_s:
                    return self._failed("serial port gone")
                self._last_reconnect = now
                try:
                    self.bus.open()
                except BusError as exc:
                    return self._failed(f"serial port gone ({exc})")
            before = self.bus.stats["read_retries"]
            state = self.bus.sync_read_state(retries=0 if not h.ok else None)
            h.retries += self.bus.stats["read_retries"] - before
        except BusLost as exc:
            return self._failed(str(exc))
        if state is None:
            if h.ok and h.failed_steps + 1 >= self.config.bus.hold_after:
                try:
                    gone = self.bus.missing()
                except BusLost as exc:
                    return self._failed(str(exc))
                what = ", ".join(self.bus.label(i) for i in gone) if gone else "status packets corrupt or late"
                return self._failed(f"{what} not answering" if gone else what)
            return self._failed(h.fault or "missed status packets")
        if not h.ok and not self._recover():
            return False
        self.ticks, self.vel_units, self.current = state
        h.failed_steps = 0
        return True

    def _failed(self, why: str) -> bool:
        h = self.health
        h.failed_steps += 1
        if h.ok and h.failed_steps >= self.config.bus.hold_after:
            h.ok, h.fault, h.fault_started = False, why, time.monotonic()
            h.faults += 1
            h.events.append(f"HOLD: {why}")
            self._log.warning("%s %s: holding: %s", self.FAMILY, self.config.name, why)
        elif not h.ok:
            h.fault = why
        return False

    def _recover(self) -> bool:
        """Reads work again: re-enable servos that lost torque (power blip), then resume."""
        h = self.health
        try:
            if self.config.torque_on_connect:
                off = [i for i in self.bus.ids if self.bus.read(i, self.TORQUE_ENABLE) == 0]
                if off:
                    self.bus.identify()
                    self.configure(off)
        except (BusError, BusLost) as exc:
            self._failed(f"recovering: {exc}")
            return False
        h.ok, h.recoveries = True, h.recoveries + 1
        h.last_recovery_s = time.monotonic() - (h.fault_started or time.monotonic())
        h.events.append(f"bus back after {h.last_recovery_s:.3f} s ({h.fault})")
        self._log.warning("%s %s: bus back after %.3f s", self.FAMILY, self.config.name, h.last_recovery_s)
        h.fault = ""
        return True

    def joint_pos(self) -> np.ndarray:
        return ticks_to_rad(self.ticks[: self.n], self.maps)

    def joint_vel(self) -> np.ndarray:
        return velocity_units_to_rad_s(self.vel_units[: self.n], self.signs)

    def gripper_ticks(self) -> int | None:
        return int(self.ticks[self.n]) if self.config.gripper else None

    def close(self) -> None:
        try:
            if self.bus.port is not None and self.config.torque_off_on_close:
                for i in self.bus.ids:
                    self.bus.write(i, self.TORQUE_ENABLE, 0)
        except (BusError, BusLost):
            pass
        self.bus.close()


class DynamixelFollower(RealArmEpisodes, DynamixelArm):
    """RobotDriver over a Dynamixel arm (observe, command, hold, close) plus ``health``."""

    def __init__(self, config: ArmConfig, cameras=None, connect: bool = True):
        self.cameras = cameras  # a teleop.cameras.CameraSet or None
        super().__init__(config, connect=connect)
        self.spec: RobotSpec = config.robot_spec(cameras.shapes() if cameras is not None else None)
        self._lower, self._upper = self.spec.action_lower, self.spec.action_upper
        self.last_sent: np.ndarray | None = None  # connect() read the arm once already (retrying within its bound)

    def observe(self) -> Observation:
        """The newest state; while the bus is faulted, the last good one (see ``health``)."""
        self.poll()
        grip = self.gripper_map.to_unit(self.gripper_ticks()) if self.gripper_map else 0.0
        obs: Observation = {"joint_pos": self.joint_pos(), "joint_vel": self.joint_vel(), "gripper_pos": np.array([grip])}
        if self.cameras is not None:
            obs.update(self.cameras.newest())
        return obs

    def command(self, target: np.ndarray) -> np.ndarray:
        """Clip, convert to ticks, sync write. Returns what the arm is tracking after this call."""
        target = np.asarray(target, dtype=np.float64)
        if target.shape != (self.spec.action_dim,) or not np.all(np.isfinite(target)):
            raise ValueError(f"{self.config.name}: command must be {self.spec.action_dim} finite numbers, got {target!r}")
        sent = np.clip(target, self._lower, self._upper)
        if not self.health.ok or self.bus.port is None:
            return self.last_sent.copy() if self.last_sent is not None else self._here()
        ticks = rad_to_ticks(sent[: self.n], self.maps)
        if self.gripper_map:
            ticks = np.append(ticks, self.gripper_map.to_ticks(sent[-1]))
        try:
            self.bus.sync_write_goal(ticks)
        except BusLost as exc:
            self._failed(str(exc))
            return self.last_sent.copy() if self.last_sent is not None else self._here()
        self.last_sent = sent
        return sent.copy()

    def _here(self) -> np.ndarray:
        grip = self.gripper_map.to_unit(self.gripper_ticks()) if self.gripper_map else 0.0
        return np.append(self.joint_pos(), grip)

    def hold(self) -> None:
        """Goal = where the arm is now (so it stops rather than finishing its last move)."""
        if self.ticks is not None:
            self.command(np.clip(self._here(), self._lower, self._upper))

    def close(self) -> None:
        if self.cameras is not None:
            self.cameras.close()
        super().close()
