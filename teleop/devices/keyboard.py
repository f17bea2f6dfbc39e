"""Keyboard teleoperation from a terminal: works over SSH and without a desktop.

Terminals report key presses but not releases, so a key moves the arm for ``hold_s`` after each
press: tap for a nudge, hold it down (auto-repeat) to keep moving.
"""

from __future__ import annotations

import os
import select
import sys
import termios
import time
import tty
from dataclasses import dataclass

import numpy as np

from teleop.intent import DeviceEvent, TeleopIntent

# key -> (twist index, sign); index 0-2 = x, y, z; 3 = yaw. Seen from the front camera (facing the
# robot): w/up moves away from you towards the robot's base (-x), d/right moves right (+y).
MOTION_KEYS: dict[str, tuple[int, float]] = {
    "w": (0, -1.0), "s": (0, 1.0), "a": (1, -1.0), "d": (1, 1.0),
    "\x1b[A": (0, -1.0), "\x1b[B": (0, 1.0), "\x1b[D": (1, -1.0), "\x1b[C": (1, 1.0),
    "r": (2, 1.0), "f": (2, -1.0), "q": (3, 1.0), "e": (3, -1.0),
}
EVENT_KEYS: dict[str, DeviceEvent] = {
    "t": DeviceEvent.TAKEOVER, "\r": DeviceEvent.SUCCESS, "\n": DeviceEvent.SUCCESS,
    "\x7f": DeviceEvent.FAILURE, "b": DeviceEvent.FAILURE, "x": DeviceEvent.DISCARD,
    "n": DeviceEvent.START, "z": DeviceEvent.RESET,
}
HELP = ("w/s a/d (or arrows): move in the table plane   r/f: up/down   q/e: rotate   space: open/close gripper   "
        "[ ]: slower/faster   t: take over / hand back   enter: success   b: failure   x: discard   n: start the episode")


def split_keys(data: str) -> list[str]:
    """Split terminal input into keys, keeping arrow-key escape sequences whole."""
    keys, i = [], 0
    while i < len(data):
        if data.startswith("\x1b[", i) and i + 2 < len(data):
            keys.append(data[i : i + 3])
            i += 3
        else:
            keys.append(data[i])
            i += 1
    return keys


@dataclass
class KeyboardState:
    """Pure bookkeeping of pressed keys -> twist, gripper and events."""

    hold_s: float = 0.2
    speed_scale: float = 1.0
    gripper: float = 0.0

    def __post_init__(self):
        self._active: dict[tuple[int, float], float] = {}

    def press(self, key: str, now: float) -> DeviceEvent | None:
        if key in MOTION_KEYS:
            self._active[MOTION_KEYS[key]] = now + self.hold_s
        elif key == " ":
            self.gripper = 0.0 if self.gripper > 0.5 else 1.0
        elif key == "[":
            self.speed_scale = max(0.1, self.speed_scale / 1.5)
        elif key == "]":
            self.speed_scale = min(1.0, self.speed_scale * 1.5)
        else:
            return EVENT_KEYS.get(key)
        return None

    def twist(self, now: float) -> np.ndarray:
        """[vx, vy, vz, yaw, gripper] with every axis whose key is still held."""
        out = np.zeros(5)
        for (axis, sign), until in list(self._active.items()):
            if now <= until:
                out[axis] += sign
            else:
                del self._active[(axis, sign)]
        out[:4] = np.clip(out[:4], -1, 1) * self.speed_scale
        out[4] = self.gripper
        return out


class TerminalKeyboard:
    """Reads keys from a terminal (stdin by default) in cbreak mode; restores the terminal on close."""

    name = "keyboard"

    def __init__(self, fd: int | None = None, hold_s: float = 0.2):
        self.fd = sys.stdin.fileno() if fd is None else fd
        if not os.isatty(self.fd):
            raise RuntimeError("the keyboard device needs a terminal (run it in a terminal or over ssh -t)")
        self._saved = termios.tcgetattr(self.fd)
        tty.setcbreak(self.fd)
        self.state = KeyboardState(hold_s=hold_s)

    def read(self) -> TeleopIntent:
        events = []
        now = time.monotonic()
        while select.select([self.fd], [], [], 0)[0]:
            data = os.read(self.fd, 1024).decode(errors="ignore")
            if not data:
                break
            for key in split_keys(data):
                event = self.state.press(key, now)
                if event is not None:
                    events.append(event.value)
        return TeleopIntent(device=self.name, events=events, twist=self.state.twist(now),
                            status=f"keyboard speed x{self.state.speed_scale:.2f}")

    def close(self) -> None:
        termios.tcsetattr(self.fd, termios.TCSADRAIN, self._saved)
