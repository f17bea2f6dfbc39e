"""The loop every input-device process runs: read the device, publish intent, at a fixed rate."""

from __future__ import annotations

import time
from typing import Callable, Protocol

from teleop.intent import IntentPublisher, TeleopIntent


class InputDevice(Protocol):
    name: str

    def read(self) -> TeleopIntent:
        """The device's intent right now (never blocks for long)."""
        ...

    def close(self) -> None: ...


def run_device(device: InputDevice, endpoint: str, rate_hz: float = 50.0,
               should_stop: Callable[[], bool] = lambda: False, curve_server: str | None = None,
               curve_secret: str | None = None) -> None:
    """Publish the device's intent every 1/rate_hz seconds until ``should_stop()`` (a heartbeat too:
    the runtime treats a silent device as stale)."""
    publisher = IntentPublisher(endpoint, device.name, curve_server=curve_server, curve_secret=curve_secret)
    period = 1.0 / rate_hz
    next_tick = time.monotonic()
    try:
        while not should_stop():
            publisher.send(device.read())
            next_tick += period
            delay = next_tick - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            else:
                next_tick = time.monotonic()  # fell behind: don't try to catch up in a burst
    finally:
        publisher.close()
        device.close()
