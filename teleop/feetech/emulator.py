"""A chain of STS-series servos that speaks the Feetech protocol byte for byte on a pseudo-terminal.

The real ``feetech-servo-sdk`` (through pyserial) opens the pty's slave path exactly as it opens
/dev/ttyACM0, so the driver runs unchanged against it. Each servo has a 256-byte control table
(``control_table``) and a physical horn angle; Present Position is that angle minus the Homing
Offset, wrapped to one turn as the magnetic encoder reports it. With torque on the horn moves to
Goal Position (clipped to the position limits in position mode) with a first-order lag; with torque
off it stays put or follows a "hand" (a leader arm moved by a person). EEPROM writes reach flash
only while Lock is 0, so ``power_cycle`` shows what a servo keeps. Faults are the Dynamixel
emulator's ``Faults``: dropped packets, bad checksums, slow replies, servos that vanish and return.
As a command (``hgd-feetech-emulator``) it lets you rehearse a rig without hardware.
"""

from __future__ import annotations

import math
import random
import termios
import threading
import time
from typing import Callable

from teleop.dynamixel.emulator import Faults, PtyBus as _PtyBus
from teleop.feetech import control_table as ct
from teleop.feetech.protocol import (BROADCAST_ID, Instruction, Packet, PacketReader, from_le, from_sign_magnitude, le,
                                     status_packet, to_sign_magnitude)

__all__ = ["EmulatedServo", "Faults", "PtyBus", "ServoChain", "chain_for"]


class EmulatedServo:
    """One servo: its control table, its flash, and its horn."""

    def __init__(self, servo_id: int, model: ct.Model, position: int = 2048, tau_s: float = 0.05,
                 firmware: tuple[int, int] = (3, 10)):
        self.table = bytearray(256)
        self.model = model
        self.tau_s = tau_s
        for reg, value in ((ct.MODEL_NUMBER, model.number), (ct.FIRMWARE_MAJOR, firmware[0]), (ct.FIRMWARE_MINOR, firmware[1]),
                           (ct.ID, servo_id), (ct.BAUD_RATE, 0), (ct.RETURN_DELAY_TIME, 250),
                           (ct.MAX_POSITION_LIMIT, model.resolution - 1), (ct.MAX_TORQUE_LIMIT, 1000),
                           (ct.P_COEFFICIENT, 32), (ct.OPERATING_MODE, ct.MODE_POSITION)):
            self.put(reg, value)
        self.flash = bytes(self.table[: ct.EEPROM_END])  # what survives a power cycle
        self.actual = float(position)  # the horn, in steps, before the Homing Offset
        self.velocity = 0.0  # steps/s
        self.hand: Callable[[float], float] | None = None  # torque off: where a hand puts the horn (steps)
        self.registered: tuple[int, bytes] | None = None  # a Reg Write waiting for Action
        self._reset_ram()
        self._t = time.monotonic()

    def _reset_ram(self) -> None:
        self.table[ct.EEPROM_END:] = bytes(len(self.table) - ct.EEPROM_END)
        self.put(ct.LOCK, 1)
        self.put(ct.TORQUE_LIMIT, 1000)
        self._refresh()
        self.put(ct.GOAL_POSITION, self.get(ct.PRESENT_POSITION))

    @property
    def id(self) -> int:
        return self.table[ct.ID.address]

    def put(self, reg: ct.Register, value: int) -> None:
        raw = to_sign_magnitude(int(value), reg.sign_bit) if reg.sign_bit is not None else int(value)
        self.table[reg.address: reg.address + reg.size] = le(raw, reg.size)

    def get(self, reg: ct.Register) -> int:
        raw = from_le(bytes(self.table[reg.address: reg.address + reg.size]))
        return from_sign_magnitude(raw, reg.sign_bit) if reg.sign_bit is not None else raw

    def present(self) -> float:
        """Present Position before rounding: the horn minus the Homing Offset, wrapped to one turn."""
        return (self.actual - self.get(ct.HOMING_OFFSET)) % self.model.resolution

    def update(self, now: float) -> None:
        """Advance the horn to ``now`` and refresh the Present registers."""
        dt = max(0.0, now - self._t)
        self._t = now
        before = self.actual
        if self.get(ct.TORQUE_ENABLE):
            goal = float(self.get(ct.GOAL_POSITION))
            lo, hi = self.get(ct.MIN_POSITION_LIMIT), self.get(ct.MAX_POSITION_LIMIT)
            if self.get(ct.OPERATING_MODE) == ct.MODE_POSITION and lo < hi:
                goal = min(max(goal, lo), hi)  # the servo enforces its limits in position mode
            target = self.actual + (goal - self.present())  # moves along the turn, never across the seam
            self.actual = target + (self.actual - target) * math.exp(-dt / self.tau_s)
        elif self.hand is not None:
            self.actual = float(self.hand(now))
        self.velocity = (self.actual - before) / dt if dt > 1e-6 else self.velocity
        self._refresh()

    def _refresh(self) -> None:
        self.put(ct.PRESENT_POSITION, round(self.present()) % self.model.resolution)
        self.put(ct.PRESENT_VELOCITY, max(-32767, min(32767, round(self.velocity))))
        torque = self.get(ct.TORQUE_ENABLE)
        load = max(-1000, min(1000, round((self.get(ct.GOAL_POSITION) - self.present()) * 2))) if torque else 0
        self.put(ct.PRESENT_LOAD, load)
        self.put(ct.PRESENT_CURRENT, abs(load) // 4)
        self.put(ct.MOVING, int(abs(self.velocity) > 20))

    def read(self, address: int, length: int) -> bytes | None:
        if length == 0 or address + length > len(self.table):
            return None
        return bytes(self.table[address: address + length])

    def write(self, address: int, data: bytes) -> bool:
        """Apply a write as the servo would; False for one it ignores (out of the table)."""
        if not data or address + len(data) > len(self.table):
            return False
        offset_before = self.get(ct.HOMING_OFFSET)
        for k, byte in enumerate(data):
            if address + k not in ct.READ_ONLY:
                self.table[address + k] = byte
        if address < ct.EEPROM_END and self.get(ct.LOCK) == 0:  # the written EEPROM bytes reach flash
            flash, end = bytearray(self.flash), min(address + len(data), ct.EEPROM_END)
            flash[address:end] = self.table[address:end]
            self.flash = bytes(flash)
        if self.get(ct.HOMING_OFFSET) != offset_before:
            self._refresh()
        return True

    def power_cycle(self) -> None:
        """Power off and on: EEPROM from flash, RAM cleared, torque off."""
        self.table[: ct.EEPROM_END] = self.flash
        self._reset_ram()


class ServoChain:
    """The servos on one bus, answering decoded instruction packets (no I/O here)."""

    def __init__(self, servos: list[EmulatedServo], faults: Faults | None = None):
        self.servos = {s.id: s for s in servos}
        self.faults = faults or Faults()
        self._rng = random.Random(self.faults.seed)
        self.stats = {"packets": 0, "dropped": 0, "corrupted": 0, "replies": 0, "collisions": 0, "wrong_baud": 0}
        self.lock = threading.Lock()
        self.host_baud: int | None = None  # set per packet by PtyBus(servo_baud=...); None: any rate is heard

    def _alive(self, servo_id: int) -> EmulatedServo | None:
        if servo_id in self.faults.vanished:
            return None
        servo = self.servos.get(servo_id)
        if servo is not None and self.host_baud is not None and ct.BAUD_RATES.get(servo.get(ct.BAUD_RATE)) != self.host_baud:
            self.stats["wrong_baud"] += 1  # at another rate the host's bytes are noise to this servo
            return None
        return servo

    def _reply(self, servo_id: int, data: bytes = b"", error: int = 0) -> bytes:
        packet = status_packet(servo_id, error, data)
        if self.faults.corrupt_rate and self._rng.random() < self.faults.corrupt_rate:
            self.stats["corrupted"] += 1
            packet = packet[:-1] + bytes(((packet[-1] + 1) & 0xFF,))
        self.stats["replies"] += 1
        return packet

    def handle(self, packet: Packet, now: float) -> bytes:
        """The bytes the chain sends back for one instruction packet (may be empty)."""
        with self.lock:
            self.stats["packets"] += 1
            if self.faults.drop_rate and self._rng.random() < self.faults.drop_rate:
                self.stats["dropped"] += 1
                return b""
            for servo in self.servos.values():
                servo.update(now)
            return self._dispatch(packet)

    def _targets(self, servo_id: int) -> list[EmulatedServo]:
        if servo_id == BROADCAST_ID:
            return [s for i in sorted(self.servos) if (s := self._alive(i)) is not None]
        s = self._alive(servo_id)
        return [s] if s is not None else []

    def _dispatch(self, p: Packet) -> bytes:
        ins, params, broadcast = p.instruction, p.params, p.servo_id == BROADCAST_ID
        if ins == Instruction.PING:
            return b"".join(self._reply(s.id) for s in self._targets(p.servo_id))
        if ins == Instruction.READ:
            s = self._alive(p.servo_id)
            if s is None or broadcast or len(params) != 2:
                return b""
            data = s.read(params[0], params[1])
            return self._reply(s.id, data) if data is not None else b""
        if ins in (Instruction.WRITE, Instruction.REG_WRITE):
            if len(params) < 2:
                return b""
            for s in self._targets(p.servo_id):
                if ins == Instruction.WRITE:
                    s.write(params[0], params[1:])
                else:  # held until ACTION
                    s.registered = (params[0], bytes(params[1:]))
            return b"" if broadcast or self._alive(p.servo_id) is None else self._reply(p.servo_id)
        if ins == Instruction.ACTION:
            for s in self._targets(p.servo_id):
                if s.registered is not None:
                    s.write(*s.registered)
                    s.registered = None
            return b"" if broadcast or self._alive(p.servo_id) is None else self._reply(p.servo_id)
        if ins == Instruction.SYNC_READ and broadcast and len(params) >= 2:
            out = b""
            for i in params[2:]:
                s = self._alive(i)
                data = s.read(params[0], params[1]) if s is not None else None
                if data is not None:
                    out += self._reply(i, data)
            return out
        if ins == Instruction.SYNC_WRITE and broadcast and len(params) >= 2:
            address, length = params[0], params[1]
            for k in range(2, len(params) - length, length + 1):
                s = self._alive(params[k])
                if s is not None:
                    s.write(address, params[k + 1: k + 1 + length])
            return b""
        return b""  # an instruction these servos do not know: silence, as on the bus


# termios speed constant -> bits/s, for the rates an STS servo can be set to (pyserial sets the
# others, 250000 and 128000, through an ioctl the pty does not keep: those read back as 0).
_SPEEDS = {getattr(termios, f"B{rate}"): rate for rate in ct.BAUD_RATES.values() if hasattr(termios, f"B{rate}")}


class PtyBus(_PtyBus):
    """Serves a Feetech ``ServoChain`` on a pseudo-terminal (the Dynamixel emulator's pty server, with
    this protocol's framing). ``servo_baud`` > 0 sets every servo's Baud Rate register to that rate
    and makes it matter: a servo answers only when the host's port is set to its rate."""

    def __init__(self, chain: ServoChain, link=None, baudrate: int = 0, return_delay_s: float = 0.0, servo_baud: int = 0):
        super().__init__(chain, link=link, baudrate=baudrate, return_delay_s=return_delay_s)
        self.reader = PacketReader()
        if servo_baud:
            if servo_baud not in ct.BAUD_CODES:
                raise ValueError(f"servo_baud {servo_baud} is not a Feetech rate ({sorted(ct.BAUD_CODES)})")
            for servo in chain.servos.values():
                servo.put(ct.BAUD_RATE, ct.BAUD_CODES[servo_baud])
        self.servo_baud = servo_baud

    def host_baud(self) -> int:
        try:
            speed = termios.tcgetattr(self._slave)[5]
        except termios.error:
            return 0
        return _SPEEDS.get(speed, 0)


def chain_for(config, tau_s: float = 0.05, start_ticks: dict[int, int] | None = None, faults: Faults | None = None) -> ServoChain:
    """A chain with the servos a Feetech arm config expects (ids and models), at 2048 or ``start_ticks``."""
    servos = [EmulatedServo(i, m, (start_ticks or {}).get(i, 2048), tau_s) for i, m in config.models().items()]
    return ServoChain(servos, faults)
