"""Real-time scheduling of the calling thread, where the OS permits it.

Latency-bound threads ask for SCHED_FIFO: the runtime's control loop (priority 50) and its helpers
just below it, and the policy server's serving thread (`SERVER_PRIORITY`, below every runtime thread
on the same machine). A CPU-bound neighbour under the normal scheduler (a training job, a busy
console) then cannot delay a tick or a chunk; the kernel still keeps 5% of each second for normal
threads. Nothing here busy-waits: a real-time thread that spins would starve the rest instead.
"""

from __future__ import annotations

import logging
import os
import threading

log = logging.getLogger("hgd.realtime")

SERVER_PRIORITY = 40
"""The policy server's serving thread: under the runtime's loop (50), fetcher (49) and helpers (48)."""


def try_realtime(priority: int = 50, reset_on_fork: bool = False) -> str:
    """Put the calling thread under SCHED_FIFO at ``priority`` if the OS allows; return what it runs
    under now, in words. ``reset_on_fork``: threads and processes it starts from now on begin under
    the normal scheduler (a checkpoint reload or a worker must not inherit a real-time priority)."""
    if not hasattr(os, "sched_setscheduler"):
        return "normal scheduler (SCHED_FIFO unavailable: not Linux)"
    policy = os.SCHED_FIFO | (os.SCHED_RESET_ON_FORK if reset_on_fork else 0)
    try:
        os.sched_setscheduler(0, policy, os.sched_param(priority))
        return f"SCHED_FIFO priority {priority}"
    except (PermissionError, OSError) as e:
        log.info("real-time scheduling not permitted (%s); running under the normal scheduler", e)
        return f"normal scheduler (SCHED_FIFO refused: {e.strerror or e})"


def drop_realtime() -> None:
    """Back under the normal scheduler (the calling thread)."""
    if hasattr(os, "sched_setscheduler"):
        try:
            os.sched_setscheduler(0, os.SCHED_OTHER, os.sched_param(0))
        except OSError:
            pass


def permitted(priority: int) -> bool:
    """Whether this process may run a thread under SCHED_FIFO at ``priority``: asked from a throwaway
    thread, so the caller's own scheduling is untouched."""
    if not hasattr(os, "sched_setscheduler"):
        return False
    answer: list[bool] = []

    def probe() -> None:
        try:
            os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(priority))
            answer.append(True)
        except OSError:
            answer.append(False)

    thread = threading.Thread(target=probe, name="realtime-probe")
    thread.start()
    thread.join()
    return answer[0]


def realtime_io_threads(ctx, priority: int) -> bool:
    """Have a ZeroMQ context start its I/O threads under SCHED_FIFO at ``priority`` (they move every
    message between the socket and the serving thread, so a starved one delays a chunk as much as a
    starved server). Only before the context's first socket, and only where permitted: libzmq aborts
    the process if it cannot apply them. Returns whether it set them."""
    import zmq

    if not permitted(priority):
        return False
    ctx.set(zmq.THREAD_SCHED_POLICY, os.SCHED_FIFO)
    ctx.set(zmq.THREAD_PRIORITY, priority)
    return True
