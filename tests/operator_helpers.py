"""A person at a session command, simulated: a device on the real intent socket reacting to what the
command prints, and the HDF5 files the session leaves (tests/test_operator_sessions.py and the twin
session)."""

from __future__ import annotations

import json
import queue
import subprocess
import sys
import threading
import time
from pathlib import Path

import h5py
import numpy as np

from teleop.intent import IntentPublisher, TeleopIntent

ROOT = Path(__file__).resolve().parents[1]


class Operator:
    """A device (keyboard-like) on its own thread at 50 Hz; ``press`` sends an event once."""

    def __init__(self, endpoint: str, device: str = "keyboard"):
        self.endpoint, self.device = endpoint, device
        self.twist = np.zeros(5)
        self._presses: queue.Queue[str] = queue.Queue()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def press(self, event: str) -> None:
        self._presses.put(event)

    def _run(self) -> None:
        pub = IntentPublisher(self.endpoint, self.device)
        while not self._stop.is_set():
            events = []
            while not self._presses.empty():
                events.append(self._presses.get())
            pub.send(TeleopIntent(device=self.device, twist=self.twist.copy(), events=events))
            time.sleep(0.02)
        pub.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)


class Session:
    """A session command whose output lines arrive on a queue, so the operator can react to them."""

    def __init__(self, *args: str):
        self.proc = subprocess.Popen([sys.executable, "-m", *args], cwd=ROOT, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True)
        self.lines: queue.Queue[str] = queue.Queue()
        self.out: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.out.append(line)
            self.lines.put(line)

    def expect(self, text: str, timeout: float = 60.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.2)
            except queue.Empty:
                if self.proc.poll() is not None and self.lines.empty():
                    break
                continue
            if text in line:
                return line
        raise AssertionError(f"never printed {text!r}:\n" + "".join(self.out))

    def kill(self) -> None:
        """Leave nothing behind when a test failed before the session ended."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def finish(self, timeout: float = 60.0) -> str:
        self.proc.wait(timeout)
        time.sleep(0.2)
        return "".join(self.out)


def episode_attrs(folder: Path) -> list[dict]:
    out = []
    for path in sorted(folder.glob("ep_*.hdf5")):
        with h5py.File(path, "r") as f:
            g = f["data/demo_0"]
            out.append({k: (v.decode() if isinstance(v, bytes) else v) for k, v in g.attrs.items()}
                       | {"file": path.name, "steps": len(g["actions"]), "env_args": f["data"].attrs.get("env_args", "{}")})
    return out


def seed_of(attrs: dict) -> int | None:
    return json.loads(attrs["env_args"]).get("seed")
