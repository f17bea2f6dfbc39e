"""A chain of X-series servos that speaks Protocol 2.0 byte for byte on a pseudo-terminal.

The real ``dynamixel_sdk`` (through pyserial) opens the pty's slave path exactly as it opens
/dev/ttyUSB0, so the driver runs unchanged against it. Each servo has a 256-byte control table
(addresses in ``control_table``); with torque on it moves towards Goal Position with a first-order
lag (time constant ``tau_s``), with torque off it stays put or follows a "hand" trajectory (a leader
arm being moved). Faults can be injected at any time: dropped packets, corrupt CRCs, slow replies,
servos that vanish and come back. With ``PtyBus(..., servo_baud=...)`` the servos also have a baud
rate: a servo answers only when the host's port is set to the rate in its Baud Rate register. As a command (``hgd-dxl-emulator``) it also lets you rehearse a
rig without hardware; the CLI lives in ``hgdagger/cli/dxl_emulator.py``.
"""

from __future__ import annotations

import math
import os
import random
import select
import termios
import threading
import time
import tty
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from teleop.dynamixel import control_table as ct
from teleop.dynamixel.protocol import (BROADCAST_ID, Instruction, Packet, PacketReader, StatusError, from_le, le,
                                       status_packet)

EEPROM_END = 64  # e-Manual: the EEPROM area (addresses < 64) can only be written with torque off


@dataclass
class Faults:
    """What goes wrong on the bus now. Change the fields while the emulator runs."""

    drop_rate: float = 0.0  # probability an instruction packet is ignored (no reply)
    corrupt_rate: float = 0.0  # probability a status packet goes out with a wrong CRC
    delay_s: float = 0.0  # extra delay before every reply
    vanished: set[int] = field(default_factory=set)  # ids that answer nothing (unplugged)
    seed: int = 0


class EmulatedServo:
    """One servo: its control table and its motion."""

    def __init__(self, servo_id: int, model: ct.Model, position: int = 2048, tau_s: float = 0.05, firmware: int = 52):
        self.table = bytearray(256)
        self.model = model
        self.tau_s = tau_s
        self._put(ct.MODEL_NUMBER, model.number)
        self._put(ct.FIRMWARE_VERSION, firmware)
        self._put(ct.ID, servo_id)
        self._put(ct.BAUD_RATE, 3)
        self._put(ct.RETURN_DELAY_TIME, 250)
        self._put(ct.OPERATING_MODE, ct.MODE_POSITION)
        self._put(ct.MAX_POSITION_LIMIT, model.resolution - 1)
        self._put(ct.MIN_POSITION_LIMIT, 0)
        self.position = float(position)
        self.velocity = 0.0  # ticks/s
        self.hand: Callable[[float], float] | None = None  # torque off: where a hand puts the horn (ticks)
        self.registered: tuple[int, bytes] | None = None  # a Reg Write waiting for Action
        self._put(ct.GOAL_POSITION, position)
        self._t = time.monotonic()

    @property
    def id(self) -> int:
        return self.table[ct.ID.address]

    def _put(self, reg: ct.Register, value: int) -> None:
        self.table[reg.address: reg.address + reg.size] = le(int(value), reg.size)

    def get(self, reg: ct.Register) -> int:
        return from_le(bytes(self.table[reg.address: reg.address + reg.size]), reg.signed)

    def update(self, now: float) -> None:
        """Advance the motion model to ``now`` and refresh the Present registers."""
        dt = max(0.0, now - self._t)
        self._t = now
        before = self.position
        if self.get(ct.TORQUE_ENABLE):
            goal = float(self.get(ct.GOAL_POSITION))
            self.position = goal + (self.position - goal) * math.exp(-dt / self.tau_s)
        elif self.hand is not None:
            self.position = float(self.hand(now))
        self.velocity = (self.position - before) / dt if dt > 1e-6 else self.velocity
        units_per_tick_s = 60.0 / (ct.VELOCITY_UNIT_RPM * self.model.resolution)
        self._put(ct.PRESENT_POSITION, round(self.position))
        self._put(ct.PRESENT_VELOCITY, round(self.velocity * units_per_tick_s))
        load = (self.get(ct.GOAL_POSITION) - self.position) * 0.5 if self.get(ct.TORQUE_ENABLE) else 0.0
        self._put(ct.PRESENT_CURRENT, int(max(-2000, min(2000, load))))
        self._put(ct.MOVING, int(abs(self.velocity) > 1.0))

    def read(self, address: int, length: int) -> tuple[int, bytes]:
        if address + length > len(self.table) or length == 0:
            return StatusError.DATA_LENGTH, b""
        return 0, bytes(self.table[address: address + length])

    def write(self, address: int, data: bytes) -> int:
        if address + len(data) > len(self.table):
            return StatusError.DATA_LENGTH
        if address < EEPROM_END and self.get(ct.TORQUE_ENABLE):
            return StatusError.ACCESS
        if address <= ct.MODEL_NUMBER.address + 1 or address == ct.FIRMWARE_VERSION.address:
            return StatusError.ACCESS  # read-only
        self.table[address: address + len(data)] = data
        return 0


class ServoChain:
    """The servos on one bus, answering decoded instruction packets (no I/O here)."""

    def __init__(self, servos: list[EmulatedServo], faults: Faults | None = None):
        self.servos = {s.id: s for s in servos}
        self.faults = faults or Faults()
        self._rng = random.Random(self.faults.seed)
        self.stats = {"packets": 0, "dropped": 0, "corrupted": 0, "replies": 0, "collisions": 0, "wrong_baud": 0}
        self.lock = threading.Lock()
        # The rate the host's port is set to (PtyBus with servo_baud sets it per packet; 0: a rate a
        # servo cannot have). None: every servo hears the host at any rate (the default).
        self.host_baud: int | None = None

    def _alive(self, servo_id: int) -> EmulatedServo | None:
        if servo_id in self.faults.vanished:
            return None
        servo = self.servos.get(servo_id)
        if servo is not None and self.host_baud is not None and ct.BAUD_RATES.get(servo.get(ct.BAUD_RATE)) != self.host_baud:
            self.stats["wrong_baud"] += 1  # at another rate the host's bytes are noise to this servo
            return None
        return servo

    def _reply(self, servo_id: int, error: int = 0, data: bytes = b"") -> bytes:
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

    def _dispatch(self, p: Packet) -> bytes:
        ins, params = p.instruction, p.params
        if ins == Instruction.PING:
            ids = sorted(self.servos) if p.servo_id == BROADCAST_ID else [p.servo_id]
            out = b""
            for i in ids:
                s = self._alive(i)
                if s is not None:
                    out += self._reply(i, 0, le(s.get(ct.MODEL_NUMBER), 2) + le(s.get(ct.FIRMWARE_VERSION), 1))
            return out
        if ins == Instruction.READ:
            s = self._alive(p.servo_id)
            if s is None or len(params) != 4:
                return b"" if s is None else self._reply(p.servo_id, StatusError.DATA_LENGTH)
            err, data = s.read(from_le(params[0:2]), from_le(params[2:4]))
            return self._reply(p.servo_id, err, data)
        if ins in (Instruction.WRITE, Instruction.REG_WRITE):
            targets = list(self.servos.values()) if p.servo_id == BROADCAST_ID else [self._alive(p.servo_id)]
            err = 0
            for s in (t for t in targets if t is not None):
                if ins == Instruction.WRITE:
                    err = s.write(from_le(params[0:2]), params[2:])
                else:  # held until ACTION (e-Manual: Reg Write / Action)
                    s.registered = (from_le(params[0:2]), bytes(params[2:]))
            if p.servo_id == BROADCAST_ID or targets[0] is None:
                return b""
            return self._reply(p.servo_id, err)
        if ins == Instruction.ACTION:
            targets = list(self.servos.values()) if p.servo_id == BROADCAST_ID else [self._alive(p.servo_id)]
            for s in (t for t in targets if t is not None and t.registered is not None):
                s.write(*s.registered)
                s.registered = None
            if p.servo_id == BROADCAST_ID or targets[0] is None:
                return b""
            return self._reply(p.servo_id)
        if ins == Instruction.SYNC_READ:
            address, length = from_le(params[0:2]), from_le(params[2:4])
            out = b""
            for i in params[4:]:
                s = self._alive(i)
                if s is not None:
                    err, data = s.read(address, length)
                    out += self._reply(i, err, data)
            return out
        if ins == Instruction.SYNC_WRITE:
            address, length = from_le(params[0:2]), from_le(params[2:4])
            for k in range(4, len(params) - length, length + 1):
                s = self._alive(params[k])
                if s is not None:
                    s.write(address, params[k + 1: k + 1 + length])
            return b""
        if ins == Instruction.BULK_READ:
            out = b""
            for k in range(0, len(params) - 4, 5):
                s = self._alive(params[k])
                if s is not None:
                    err, data = s.read(from_le(params[k + 1: k + 3]), from_le(params[k + 3: k + 5]))
                    out += self._reply(params[k], err, data)
            return out
        if ins == Instruction.BULK_WRITE:
            k = 0
            while k + 5 <= len(params):
                length = from_le(params[k + 3: k + 5])
                s = self._alive(params[k])
                if s is not None:
                    s.write(from_le(params[k + 1: k + 3]), params[k + 5: k + 5 + length])
                k += 5 + length
            return b""
        if ins == Instruction.REBOOT:
            s = self._alive(p.servo_id)
            if s is None:
                return b""
            s._put(ct.TORQUE_ENABLE, 0)
            return self._reply(p.servo_id)
        s = self._alive(p.servo_id) if p.servo_id != BROADCAST_ID else None
        return self._reply(p.servo_id, StatusError.INSTRUCTION) if s is not None else b""


class PtyBus:
    """Serves a ``ServoChain`` on a pseudo-terminal from a background thread.

    ``path`` is the slave tty to open with the SDK. With ``link`` the path is also published as a
    symlink (replaced atomically), so a restarted emulator appears at the same name, like a
    re-plugged adapter. ``baudrate`` > 0 adds the wire time a real bus would take for each reply
    (10 bits per byte) plus the servos' return delay, so timings resemble hardware.

    ``servo_baud`` > 0 sets every servo's Baud Rate register to that rate (one of
    ``control_table.BAUD_RATES``) and makes it matter: a servo answers only when the speed the host
    set on the tty (pyserial sets it with tcsetattr; the pty keeps it, read back with tcgetattr)
    equals its register's rate. Change one servo's register to give it a rate of its own. The
    default (0) answers at any rate, as before.
    """

    def __init__(self, chain: ServoChain, link: str | Path | None = None, baudrate: int = 0,
                 return_delay_s: float = 0.0, servo_baud: int = 0):
        self.chain = chain
        self.servo_baud = servo_baud
        if servo_baud:
            codes = {rate: code for code, rate in ct.BAUD_RATES.items()}
            if servo_baud not in codes:
                raise ValueError(f"servo_baud {servo_baud} is not a Dynamixel rate ({sorted(codes)})")
            for servo in chain.servos.values():
                servo._put(ct.BAUD_RATE, codes[servo_baud])
        self.master, self._slave = os.openpty()
        tty.setraw(self._slave)
        self.path = os.ttyname(self._slave)
        self.link = Path(link) if link else None
        if self.link is not None:
            tmp = self.link.with_name(self.link.name + ".tmp")
            tmp.unlink(missing_ok=True)
            os.symlink(self.path, tmp)
            os.replace(tmp, self.link)
        self.baudrate, self.return_delay_s = baudrate, return_delay_s
        self.reader = PacketReader()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> str:
        """The name a driver should open: the link when there is one."""
        return str(self.link) if self.link else self.path

    def host_baud(self) -> int:
        """The speed the host last set on the port, in bits/s (0 when not a standard rate)."""
        try:
            speed = termios.tcgetattr(self._slave)[5]  # ospeed; pyserial sets ispeed the same
        except termios.error:
            return 0
        return _SPEEDS.get(speed, 0)

    def start(self) -> "PtyBus":
        self._thread = threading.Thread(target=self.serve, name="dxl-emulator", daemon=True)
        self._thread.start()
        return self

    def serve(self) -> None:
        """Answer packets until ``stop`` (blocks in select, never spins)."""
        while not self._stop.is_set():
            ready, _, _ = select.select([self.master], [], [], 0.05)
            if not ready:
                continue
            try:
                data = os.read(self.master, 4096)
            except OSError:
                continue
            if self.servo_baud:
                self.chain.host_baud = self.host_baud()
            for packet in self.reader.feed(data):
                reply = self.chain.handle(packet, time.monotonic())
                if not reply:
                    continue
                wait = self.chain.faults.delay_s
                if self.baudrate:
                    wait += len(reply) * 10 / self.baudrate + self.return_delay_s
                if wait > 0:
                    # Half-duplex bus: if the host gives up and talks again before this reply is
                    # out, the reply is lost (a collision), never delivered late as a stale answer.
                    ready, _, _ = select.select([self.master], [], [], wait)
                    if ready:
                        self.chain.stats["collisions"] += 1
                        break
                try:
                    os.write(self.master, reply)
                except OSError:
                    pass

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
        for fd in (self.master, self._slave):
            try:
                os.close(fd)
            except OSError:
                pass
        if self.link is not None and self.link.is_symlink() and os.readlink(self.link) == self.path:
            self.link.unlink(missing_ok=True)

    def __enter__(self) -> "PtyBus":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


# termios speed constant -> bits/s, for the rates a Dynamixel servo can be set to.
_SPEEDS = {getattr(termios, f"B{rate}"): rate for rate in ct.BAUD_RATES.values() if hasattr(termios, f"B{rate}")}


def chain_for(config, tau_s: float = 0.05, start_ticks: dict[int, int] | None = None, faults: Faults | None = None) -> ServoChain:
    """A chain with the servos an ``ArmConfig`` expects (ids and models), at 2048 or ``start_ticks``."""
    servos = [EmulatedServo(i, m, (start_ticks or {}).get(i, 2048), tau_s) for i, m in config.models().items()]
    return ServoChain(servos, faults)
