"""Loop timing: real-time scheduling when permitted, sleeping to absolute deadlines, jitter stats."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import numpy as np

from hgdagger.common.realtime import drop_realtime, try_realtime  # noqa: F401  (the runtime's, re-exported)

log = logging.getLogger("hgd.timing")


def set_thread_priority(priority: int | None) -> str:
    """Put the calling thread under SCHED_FIFO at ``priority``, or back under the normal scheduler
    (None); return what it runs under now. Only a thread can change its own scheduling, so helper
    threads (cameras, the record forwarder) call this from their own loop when asked."""
    if priority is None:
        drop_realtime()
        return "normal scheduler"
    return try_realtime(priority)


@dataclass
class Ticker:
    """Wake at t0 + k * period. A tick that is late by more than a period re-anchors the
    schedule instead of bursting to catch up (a burst would jerk the arm)."""

    period: float
    t0: float = field(default_factory=time.monotonic)
    k: int = 0
    overruns: int = 0

    def wait(self) -> float:
        """Sleep until the next deadline; return the wake-up time."""
        self.k += 1
        deadline = self.t0 + self.k * self.period
        now = time.monotonic()
        if now > deadline + self.period:
            self.overruns += 1
            self.t0, self.k = now, 0
            return now
        if deadline > now:
            time.sleep(deadline - now)
        return time.monotonic()


@dataclass
class JitterStats:
    """Tick-to-tick period deviations, bounded memory (the last ``keep`` ticks)."""

    period: float
    keep: int = 100_000
    _starts: list[float] = field(default_factory=list)

    def tick(self, t: float) -> None:
        self._starts.append(t)
        if len(self._starts) > self.keep:
            del self._starts[: len(self._starts) - self.keep]

    def recent(self, n: int) -> np.ndarray:
        """Start times of the last ``n`` ticks (for live displays)."""
        return np.asarray(self._starts[-n:])

    def summary(self) -> dict[str, float]:
        """p50/p99/max of |actual period - nominal| in ms, and the mean rate."""
        s = np.asarray(self._starts)
        if len(s) < 3:
            return {"ticks": float(len(s))}
        d = np.diff(s)
        dev = np.abs(d - self.period) * 1e3
        return {"ticks": float(len(s)), "rate_hz": float(1.0 / d.mean()),
                "jitter_p50_ms": float(np.percentile(dev, 50)), "jitter_p99_ms": float(np.percentile(dev, 99)),
                "jitter_max_ms": float(dev.max())}
