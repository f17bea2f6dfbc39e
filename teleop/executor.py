"""Which action to execute at each step, and when to ask for the next chunk: one state machine
for the four execution modes. No clocks, no sockets: steps in, actions out (so it is tested and
benchmarked exactly as it runs).

- ``sync``: execute ``execute_steps`` actions of a chunk, then request and hold until the reply,
  which is executed from its index 0 (the arm has not moved since its observation).
- ``naive``: asynchronous; request every ``execute_steps`` steps, switch to the new chunk as soon as
  it arrives, at the index of the actions consumed meanwhile.
- ``ensemble``: asynchronous; request as often as the server answers and average every chunk that
  covers the step with ACT's exponential weights (Zhao et al. 2023).
- ``rtc``: like ``naive``, but each request carries the committed prefix (the current chunk realigned
  to the observation's step) and ``frozen_steps`` = the measured delay, so the server's inpainting
  makes the new chunk agree with what will run meanwhile (Black et al. 2025, arXiv 2506.07339).
"""

from __future__ import annotations

import enum
from collections import deque
from dataclasses import dataclass

import numpy as np

from teleop import chunking


class Mode(str, enum.Enum):
    SYNC = "sync"
    NAIVE = "naive"
    ENSEMBLE = "ensemble"
    RTC = "rtc"


@dataclass
class ExecConfig:
    mode: Mode = Mode.RTC
    execute_steps: int = 8  # sync: actions run per chunk; naive/rtc: steps between requests
    ensemble_decay: float = 0.01  # ACT's m
    delay_history: int = 10  # RTC uses the largest delay seen over this many replies


@dataclass
class Planned:
    """The executor's answer for one step: an action or None (hold), and where it came from."""

    action: np.ndarray | None
    chunk_id: int = -1
    index: int = -1
    new_chunk: bool = False  # first step executed from this chunk


class ChunkExecutor:
    def __init__(self, cfg: ExecConfig, chunk_length: int, action_dim: int) -> None:
        if not 1 <= cfg.execute_steps <= chunk_length:
            raise ValueError(f"execute_steps {cfg.execute_steps} must be in [1, chunk length {chunk_length}]")
        self.cfg, self.H, self.A = cfg, chunk_length, action_dim
        self.current: tuple[int, np.ndarray, int] | None = None  # (start step, chunk, chunk id)
        self.ensemble: deque[tuple[int, np.ndarray]] = deque()
        self.in_flight: int | None = None  # observation step of the outstanding request
        self.last_request_step: int | None = None
        self.delays: deque[int] = deque(maxlen=cfg.delay_history)
        self.stale_chunks = 0
        self._last_chunk_id = -1

    # -------------------------------------------------------------- requests
    def delay_estimate(self) -> int:
        """Steps a request is expected to take (largest recent), at least 1."""
        return max(self.delays, default=1)

    def wants_request(self, step: int) -> bool:
        """Should the observation of ``step`` be sent now? (At most one request in flight.)"""
        if self.in_flight is not None:
            return False
        if self.cfg.mode == Mode.ENSEMBLE:
            return True
        if self.current is None:
            return True
        start = self.current[0]
        if self.cfg.mode == Mode.SYNC:
            return step - start >= self.cfg.execute_steps
        return step - max(start, self.last_request_step or start) >= self.cfg.execute_steps

    def request(self, step: int) -> tuple[np.ndarray | None, int]:
        """Mark a request for the observation of ``step`` as sent; return (prefix, frozen_steps)
        to send with it (prefix only in RTC mode)."""
        self.in_flight = self.last_request_step = step
        if self.cfg.mode != Mode.RTC or self.current is None:
            return None, 0
        start, chunk, _ = self.current
        prefix = chunking.realign(chunk, start, step, self.H)
        frozen = min(self.delay_estimate(), int((~np.isnan(prefix).any(axis=1)).sum()))
        return prefix, frozen

    def request_failed(self) -> None:
        """The outstanding request will never be answered (timeout, server gone)."""
        self.in_flight = None

    # -------------------------------------------------------------- replies
    def on_chunk(self, chunk: np.ndarray, obs_step: int, step: int, chunk_id: int) -> bool:
        """A chunk computed from the observation of ``obs_step`` arrived while ``step`` is next.
        Returns False if it came too late to be used (everything in it is in the past)."""
        if self.in_flight == obs_step:
            self.in_flight = None
        consumed = step - obs_step
        if consumed < 0:  # an observation from the future: another episode's, never this one's
            self.stale_chunks += 1
            return False
        self.delays.append(max(1, consumed))
        chunk = np.asarray(chunk, np.float64)
        if self.cfg.mode == Mode.SYNC:
            self.current = (step, chunk, chunk_id)  # the arm held still: start from index 0
            return True
        if consumed >= self.H:
            self.stale_chunks += 1
            return False
        if self.cfg.mode == Mode.ENSEMBLE:
            self.ensemble.append((obs_step, chunk))
            self._last_chunk_id = chunk_id
        self.current = (obs_step, chunk, chunk_id)
        return True

    def drop_chunks(self) -> None:
        """Forget every chunk (the server is gone: its plans are no longer trusted)."""
        self.current = None
        self.ensemble.clear()
        self.in_flight = None

    # -------------------------------------------------------------- execution
    def plan(self, step: int) -> Planned:
        """The action for ``step`` (None: nothing usable, hold)."""
        if self.cfg.mode == Mode.ENSEMBLE:
            while self.ensemble and step - self.ensemble[0][0] >= self.H:
                self.ensemble.popleft()
            a = chunking.temporal_ensemble(list(self.ensemble), step, self.cfg.ensemble_decay)
            if a is None:
                return Planned(None)
            start, _, cid = self.current
            return Planned(a, cid, step - start, new_chunk=False)
        if self.current is None:
            return Planned(None)
        start, chunk, cid = self.current
        i = chunking.index_at(start, step, self.H)
        limit = self.cfg.execute_steps if self.cfg.mode == Mode.SYNC else self.H
        if i is None or i >= limit:
            return Planned(None, cid)
        return Planned(chunk[i], cid, i, new_chunk=(cid != self._last_chunk_id and self._mark(cid)))

    def _mark(self, cid: int) -> bool:
        self._last_chunk_id = cid
        return True
