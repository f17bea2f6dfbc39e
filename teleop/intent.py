"""What input devices send the runtime: intent, never decisions.

A device process publishes ``TeleopIntent`` messages (button events, a dead-man level, a Cartesian
twist or a leader arm's follower command) over a PUSH socket; the runtime binds one PULL socket,
and at the start of every tick drains it without blocking and merges all devices into one view.
A device that has not been heard from for ``stale_after_s`` counts as absent: its command is
dropped, so the gate holds the arm rather than replaying an old command.
"""

from __future__ import annotations

import enum
import time
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np
import zmq

from hgdagger.common import curve, wire


class DeviceEvent(str, enum.Enum):
    TAKEOVER = "takeover"  # toggle-mode takeover / handback button
    SUCCESS = "success"
    FAILURE = "failure"
    DISCARD = "discard"  # throw this episode away and redo it
    RESET = "reset"
    START = "start"  # start the next episode


@dataclass(kw_only=True)
class TeleopIntent(wire.Message):
    """Device -> runtime. ``twist`` = [vx, vy, vz, yaw_rate] in [-1, 1] plus [gripper] (NaN: unchanged)."""

    TYPE: ClassVar[str] = "teleop_intent"
    device: str
    events: list = field(default_factory=list)
    deadman: bool = False
    twist: np.ndarray | None = None
    command: np.ndarray | None = None
    aligned: bool = True
    misaligned: list = field(default_factory=list)
    connected: bool = True  # False: the device itself is gone (gamepad unplugged)
    status: str = ""  # a short line for the console ("gamepad unplugged", "leader joint 3 off by 0.4 rad")


def intent_problem(msg: TeleopIntent) -> str | None:
    """What makes a decoded intent unusable (the wire checked types, not meaning), or None."""
    if not all(isinstance(e, str) for e in msg.events):
        return "events must be names"
    if not all(isinstance(j, int) and not isinstance(j, bool) for j in msg.misaligned):
        return "misaligned must list joint numbers"
    if msg.twist is not None:
        t = np.asarray(msg.twist)
        if t.shape != (5,) or t.dtype.kind not in "fiu" or not np.isfinite(t[:4]).all():
            return f"twist must be 5 numbers (4 finite), got {t.dtype}{t.shape}"
    if msg.command is not None:
        c = np.asarray(msg.command)
        if c.ndim != 1 or c.dtype.kind not in "fiu" or not np.isfinite(c).all():
            return f"command must be finite joint targets, got {c.dtype}{c.shape}"
    return None


class IntentPublisher:
    """Device side: never blocks; drops (and counts) when the runtime is not keeping up."""

    def __init__(self, endpoint: str, device: str, context: zmq.Context | None = None,
                 curve_server: str | None = None, curve_secret: str | None = None):
        """With the runtime's public key (`curve_server`) and this device's secret key the intent
        stream is encrypted, and a CURVE runtime admits only devices whose keys it knows."""
        self.context = context or zmq.Context.instance()
        self.socket = self.context.socket(zmq.PUSH)
        self.socket.setsockopt(zmq.SNDHWM, 100)
        self.socket.setsockopt(zmq.LINGER, 0)
        if curve_server:
            curve.secure_client(self.socket, curve_server, curve_secret)
        self.socket.connect(endpoint)
        self.device = device
        self.dropped = 0
        self._seq = 0

    def send(self, intent: TeleopIntent) -> bool:
        self._seq += 1
        try:
            wire.send(self.socket, intent, seq=self._seq, flags=zmq.NOBLOCK)
            return True
        except zmq.Again:
            self.dropped += 1
            return False

    def close(self) -> None:
        self.socket.close(0)


@dataclass
class DeviceState:
    intent: TeleopIntent
    received_at: float


@dataclass
class MergedIntent:
    """All devices this tick: events since the last tick, and the freshest command-carrying device."""

    events: set[DeviceEvent]
    deadman: bool
    twist: np.ndarray | None
    command: np.ndarray | None
    aligned: bool
    misaligned: list[int]
    stale_devices: list[str]
    disconnected_devices: list[str]
    statuses: dict[str, str]
    send_time: float | None  # when the intent carrying this tick's input left its device
    connected_devices: list[str] = field(default_factory=list)  # fresh and connected now (keyboard, gamepad, leader)

    @property
    def any_input(self) -> bool:
        return self.twist is not None or self.command is not None


class IntentMerger:
    """Runtime side: bind once, ``poll()`` at the start of every tick (never blocks)."""

    def __init__(self, endpoint: str, stale_after_s: float = 0.25, context: zmq.Context | None = None,
                 limits: wire.Limits = wire.Limits(), curve_secret: str | None = None, curve_clients: str | None = None):
        """With `curve_secret`, only devices whose public keys are in `curve_clients` are heard."""
        self.context = context or zmq.Context.instance()
        self.socket = self.context.socket(zmq.PULL)
        self.socket.setsockopt(zmq.RCVHWM, 1000)
        self.socket.setsockopt(zmq.LINGER, 0)
        self.socket.setsockopt(zmq.MAXMSGSIZE, limits.hard_frame_limit)
        self._auth = curve.secure_server(self.context, self.socket, curve_secret, curve_clients) if curve_secret else None
        self.socket.bind(endpoint)
        self.endpoint = self.socket.getsockopt_string(zmq.LAST_ENDPOINT)
        self.stale_after_s = stale_after_s
        self.limits = limits
        self.devices: dict[str, DeviceState] = {}
        self.rejected = 0
        self.last_error = ""

    def poll(self, now: float | None = None) -> MergedIntent:
        events: set[DeviceEvent] = set()
        latest_sender: float | None = None
        while True:
            try:
                frames = self.socket.recv_multipart(zmq.NOBLOCK, copy=False)
            except zmq.Again:
                break
            try:
                msg = wire.decode(frames, self.limits)
            except wire.WireError as exc:
                self.rejected += 1
                self.last_error = str(exc)
                continue
            if not isinstance(msg, TeleopIntent):
                self.rejected += 1
                self.last_error = f"unexpected {msg.TYPE!r} on the intent socket"
                continue
            problem = intent_problem(msg)
            if problem:  # a device (or anyone) sending what no device sends: refused, counted, never applied
                self.rejected += 1
                self.last_error = f"device {msg.device!r}: {problem}"
                continue
            for name in msg.events:
                try:
                    events.add(DeviceEvent(name))
                except ValueError:
                    self.last_error = f"device {msg.device!r} sent unknown event {name!r}"
            self.devices[msg.device] = DeviceState(msg, time.monotonic())
        now = time.monotonic() if now is None else now
        fresh = {name: s for name, s in self.devices.items() if now - s.received_at <= self.stale_after_s}
        stale = sorted(set(self.devices) - set(fresh))
        connected = {n: s for n, s in fresh.items() if s.intent.connected}
        carrying = [s for s in connected.values() if s.intent.twist is not None or s.intent.command is not None]
        active = max(carrying, key=lambda s: s.received_at) if carrying else None
        if active is not None:
            latest_sender = active.intent.header.send_time
        return MergedIntent(
            events=events,
            deadman=any(s.intent.deadman for s in connected.values()),
            twist=None if active is None or active.intent.twist is None else np.array(active.intent.twist, dtype=float),
            command=None if active is None or active.intent.command is None else np.array(active.intent.command, dtype=float),
            aligned=True if active is None else active.intent.aligned,
            misaligned=[] if active is None else list(active.intent.misaligned),
            stale_devices=stale,
            disconnected_devices=sorted(n for n, s in fresh.items() if not s.intent.connected),
            statuses={n: s.intent.status for n, s in self.devices.items() if s.intent.status},
            send_time=latest_sender,
            connected_devices=sorted(connected),
        )

    def close(self) -> None:
        self.socket.close(0)
        if self._auth is not None:
            self._auth.stop()
