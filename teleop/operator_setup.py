"""Wiring for the operator's commands: the human side from options, the console beside the loop,
and the simulated leader arm that lets an operator rehearse puppeteering without hardware."""

from __future__ import annotations

import os
import sys
import threading
from dataclasses import dataclass

from teleop.cartesian import CartesianArm, CartesianMapper
from teleop.devices.base import run_device
from teleop.devices.leader_arm import SimulatedLeaderArm, misaligned_joints
from teleop.gate import GateConfig, TakeoverGate, TakeoverMode
from teleop.human_side import DeviceInput, HumanSide
from teleop.intent import IntentMerger, TeleopIntent

DEFAULT_INTENT_ENDPOINT = "tcp://127.0.0.1:5561"


@dataclass(frozen=True)
class HumanOptions:
    intent_endpoint: str = DEFAULT_INTENT_ENDPOINT
    mode: TakeoverMode = TakeoverMode.TOGGLE
    ramp_steps: int = 5
    start_in_human: bool = False
    stale_after_s: float = 0.25
    leader_tolerance: float = 0.15
    curve_secret: str | None = None  # the runtime's secret key: devices must then hold a key it knows
    curve_clients: str | None = None  # folder of the devices' public keys


def device_human_side(options: HumanOptions, control_period: float,
                      arm: CartesianArm | None) -> tuple[HumanSide, IntentMerger]:
    """The gate fed by every device process that connects to ``options.intent_endpoint``; twists
    from a gamepad or keyboard become joint targets through `arm`'s kinematics (None: the robot has
    no kinematic model, only a leader arm can drive it)."""
    merger = IntentMerger(options.intent_endpoint, stale_after_s=options.stale_after_s,
                          curve_secret=options.curve_secret, curve_clients=options.curve_clients)
    gate = TakeoverGate(GateConfig(mode=options.mode, ramp_steps=options.ramp_steps, start_in_human=options.start_in_human))
    mapper = CartesianMapper(arm) if arm is not None else None
    return HumanSide(gate, DeviceInput(merger, control_period, mapper, leader_tolerance=options.leader_tolerance)), merger


class ConsoleThread:
    """Draws the runtime's status at ``fps`` on its own thread, so drawing never delays a tick.

    The window is opened on that thread too: every SDL call stays on one thread, and none on the
    thread where MuJoCo's offscreen GL context lives (see ``teleop.console._software_framebuffer``).
    Where no window can open, one line says what to set and the session goes on without it."""

    def __init__(self, runtime, fps: float = 15.0, window: bool = True, png_path: str | None = None,
                 open_timeout_s: float = 10.0):
        self.runtime, self.period, self.png_path, self.window = runtime, 1.0 / fps, png_path, window
        self.console = None
        self.problem: str | None = None
        self._opened = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="hgd-console", daemon=True)
        self._thread.start()
        if not self._opened.wait(open_timeout_s):
            self.problem = f"the console window did not open within {open_timeout_s:g} s"
        if self.problem:
            prog = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else "hgd"
            print(f"{prog}: console: {self.problem} (continuing without the console)", file=sys.stderr, flush=True)

    def _run(self) -> None:
        from teleop.console import ConsoleUnavailable, OperatorConsole

        try:
            self.console = OperatorConsole(window=self.window)
        except ConsoleUnavailable as exc:
            self.problem = str(exc)
            return
        finally:
            self._opened.set()
        try:
            while not self._stop.wait(self.period):
                self.console.show(self.runtime.console_status())
                if self.png_path:
                    self.console.save_png(self.png_path)
                if self.console.closed():
                    break
        finally:
            self.console.close()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2.0)


class SimulatedLeaderDevice:
    """A leader arm that replays a joint trajectory, read through a calibration like real hardware,
    reporting which joints are off the follower (whose joints it learns from ``follower``)."""

    name = "leader"

    def __init__(self, leader: SimulatedLeaderArm, follower, tolerance: float, period: float, takeover_at_s: float | None):
        self.leader, self.follower, self.tolerance, self.period = leader, follower, tolerance, period
        self.takeover_at_s = takeover_at_s
        self._sent_takeover = False

    def read(self) -> TeleopIntent:
        self.leader.advance(self.period)
        command = self.leader.calibration.to_follower(self.leader.read())
        off = misaligned_joints(command, self.follower(), self.tolerance)
        events = []
        if self.takeover_at_s is not None and not self._sent_takeover and self.leader.time >= self.takeover_at_s:
            events, self._sent_takeover = ["takeover"], True
        status = "leader aligned" if not off else "leader off at joints " + ", ".join(str(j + 1) for j in off)
        return TeleopIntent(device=self.name, events=events, command=command, aligned=not off, misaligned=off, status=status)

    def close(self) -> None:
        pass


def start_device_thread(device, endpoint: str, rate_hz: float) -> tuple[threading.Thread, threading.Event]:
    """Run an in-process device (e.g. the simulated leader) on its own thread, through the same socket path."""
    stop = threading.Event()
    thread = threading.Thread(target=run_device, args=(device, endpoint, rate_hz, stop.is_set), daemon=True)
    thread.start()
    return thread, stop


class PressesTakeover:
    """A device plus a pedal its operator presses once per episode, ``at_s`` after the episode began
    (``elapsed()`` restarting marks a new episode): rehearsals ask for control like a person would."""

    def __init__(self, device, at_s: float, elapsed):
        self.device, self.at_s, self.elapsed = device, at_s, elapsed
        self.name = device.name
        self._pressed, self._last = False, 0.0

    def read(self) -> TeleopIntent:
        intent = self.device.read()
        t = self.elapsed()
        if t < self._last:
            self._pressed = False
        self._last = t
        if not self._pressed and t >= self.at_s and intent.connected:
            intent.events = list(intent.events) + ["takeover"]
            self._pressed = True
        return intent

    def close(self) -> None:
        self.device.close()
