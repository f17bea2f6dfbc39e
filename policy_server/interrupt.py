"""Ctrl-C during training: finish the step, save, stop; never a half-updated model.

A KeyboardInterrupt raised wherever Python happens to be (inside the optimiser's update, in the
middle of writing a checkpoint) could leave weights, optimiser state and step count out of step
with each other. The latch only notes the signal; the training loop looks at it between steps.
A second Ctrl-C stops at once, as an operator who insists expects.
"""

from __future__ import annotations

import signal
import threading
from contextlib import contextmanager
from typing import Iterator


class TrainingInterrupted(KeyboardInterrupt):
    """Training stopped on SIGINT after saving `checkpoint` at `step` (a KeyboardInterrupt, so code
    that stops on Ctrl-C still does)."""

    def __init__(self, step: int, total: int, checkpoint):
        super().__init__(f"interrupted at step {step} of {total}; saved {checkpoint}")
        self.step, self.total, self.checkpoint = step, total, checkpoint


class Latch:
    fired: bool = False


@contextmanager
def sigint_latch(enabled: bool = True) -> Iterator[Latch]:
    """While inside, the first SIGINT sets `latch.fired`; the second raises KeyboardInterrupt. Only in
    the main thread (where Python delivers signals), and not where SIGINT is ignored (a shell's
    background job); elsewhere, or when not `enabled`, a latch that never fires."""
    latch = Latch()
    if not enabled or threading.current_thread() is not threading.main_thread() or \
            signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        yield latch
        return

    def on_sigint(signum, frame):
        if latch.fired:
            raise KeyboardInterrupt
        latch.fired = True

    previous = signal.signal(signal.SIGINT, on_sigint)
    try:
        yield latch
    finally:
        signal.signal(signal.SIGINT, previous)
