"""Ctrl-C or SIGTERM during training: finish the step, save, stop; never a half-updated model.

A KeyboardInterrupt raised wherever Python happens to be (inside the optimiser's update, in the
middle of writing a checkpoint) could leave weights, optimiser state and step count out of step
with each other. The latch only notes the signal; the training loop looks at it between steps.
The same signal again stops at once, as an operator who insists expects. SIGTERM is what a scheduler, a
benchmark stopping its workers or `kill` sends: saving first keeps an hour of training resumable
(a checkpoint takes well under a second; schedulers wait several before SIGKILL).
"""

from __future__ import annotations

import signal
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Iterator


class TrainingInterrupted(KeyboardInterrupt):
    """Training stopped on SIGINT after saving `checkpoint` at `step` (a KeyboardInterrupt, so code
    that stops on Ctrl-C still does)."""

    def __init__(self, step: int, total: int, checkpoint):
        super().__init__(f"interrupted at step {step} of {total}; saved {checkpoint}")
        self.step, self.total, self.checkpoint = step, total, checkpoint


@dataclass
class Latch:
    fired: bool = False
    signals: set[int] = field(default_factory=set)


@contextmanager
def interrupt_latch(enabled: bool = True) -> Iterator[Latch]:
    """While inside, the first SIGINT or SIGTERM sets `latch.fired`; the same signal again raises
    KeyboardInterrupt. Only in the main thread (where Python delivers signals), and not for a signal that
    is ignored (SIGINT in a shell's background job); elsewhere, or when not `enabled`, a latch that never
    fires."""
    latch = Latch()
    if not enabled or threading.current_thread() is not threading.main_thread():
        yield latch
        return

    def on_signal(signum, frame):
        if signum in latch.signals:  # the same signal again: an operator who insists
            raise KeyboardInterrupt
        latch.signals.add(signum)  # (Ctrl-C, then the SIGTERM of whatever stops the process group, saves once)
        latch.fired = True

    caught = [s for s in (signal.SIGINT, signal.SIGTERM) if signal.getsignal(s) is not signal.SIG_IGN]
    previous = {s: signal.signal(s, on_signal) for s in caught}
    try:
        yield latch
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
