"""--rerun on the session commands (hgd-collect, hgd-run, hgd-rehearse): the live session in the rerun
viewer, logged from the very step records the recorder gets, on a thread of its own.

The runtime puts every record into one queue (``RobotRuntime.records``). The tap takes that place:
each record goes on to the recorder's queue exactly as before, and the same message (never copied,
never changed) into a bounded queue of the tap's own, which a thread logs to rerun
(``recorder.rerun_log``, the layout ``hgd-replay --rerun`` uses too). Drop policy: when the viewer
falls behind, its copy of the newest record is dropped and counted (``viewer_dropped``); neither the
control loop nor the recorder ever waits on the viewer, and an error in rerun ends only the log.
The policy's doubt is not in the step records: the thread reads the runtime's console status (the
doubt gauge) a few times a second while an episode runs.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Callable

from hgdagger.common import wire
from hgdagger.common.record_queue import RecordQueue
from recorder.rerun_log import DEFAULT_VIEWER_URL, RerunLog, RerunTarget, viewer_problem
from teleop.timing import set_thread_priority

log = logging.getLogger("hgd.rerun")


def add_rerun_arguments(p) -> None:
    """--rerun and --rerun-connect, the same on every session command (off by default)."""
    g = p.add_argument_group("rerun viewer (off by default; pip install 'hgdagger-stack[viewer]')")
    g.add_argument("--rerun", type=Path, default=None, metavar="FILE.rrd",
                   help="log the session to rerun into this file as it runs: cameras, each joint's target against its "
                   "position, who drove each step, takeovers, the policy's doubt (open it: rerun FILE.rrd)")
    g.add_argument("--rerun-connect", nargs="?", const=DEFAULT_VIEWER_URL, default=None, metavar="URL",
                   help=f"stream the session live to a rerun viewer already running (start one with `rerun`; default "
                   f"url {DEFAULT_VIEWER_URL}); with --rerun, both")


def rerun_target(args) -> RerunTarget | None:
    """What --rerun/--rerun-connect ask for (None: neither); ValueError, one line, for a bad file name
    or a viewer that does not answer (checked now, not found out at the end of the session)."""
    save, url = getattr(args, "rerun", None), getattr(args, "rerun_connect", None)
    if save is None and url is None:
        return None
    if save is not None:
        from hgdagger.cli.arguments import writable_file

        if save.suffix != ".rrd":
            raise ValueError(f"--rerun {save}: a rerun file must end in .rrd (the viewer knows it by that)")
        if problem := writable_file(save, "--rerun"):
            raise ValueError(problem)
    if url is not None and (problem := viewer_problem(url)):
        raise ValueError(f"--rerun-connect: {problem}")
    return RerunTarget(save=save, connect=url)


class RerunTap:
    """Stands where the runtime records: ``put`` and ``dropped`` as a RecordQueue, passing each record
    on to ``inner`` (the recorder's queue; None when not recording) and a copy to rerun."""

    def __init__(self, rerun: RerunLog, inner: RecordQueue | None, maxsize: int = 1024,
                 status_every_s: float = 0.2) -> None:
        self.rerun, self.inner = rerun, inner
        self.queue = RecordQueue(maxsize)
        self.status_every_s = status_every_s
        self.rt_priority: int | None = None  # set by the runtime (a GIL sharer), applied by the thread itself
        self.scheduler = "normal scheduler"
        self.error = ""
        self._priority: int | None = None
        self._status: Callable[[], object] | None = None
        self._in_episode = False
        self._doubt_at_step = -1
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="hgd-rerun", daemon=True)
        self._thread.start()

    def put(self, msg: wire.Message) -> bool:
        """Called by the control loop: never waits (both queues drop new records when full)."""
        self.queue.put(msg)
        return self.inner.put(msg) if self.inner is not None else True

    @property
    def dropped(self) -> int:
        """Records the recorder lost (what the runtime reports); the viewer's are ``viewer_dropped``."""
        return self.inner.dropped if self.inner is not None else 0

    @property
    def viewer_dropped(self) -> int:
        return self.queue.dropped

    def watch(self, status: Callable[[], object]) -> None:
        """Read the policy's doubt from ``status`` (``RobotRuntime.console_status``) while episodes run."""
        self._status = status

    def _run(self) -> None:
        next_status = time.monotonic()
        while not (self._stop.is_set() and self.queue.empty()):
            if self.rt_priority != self._priority:  # only this thread can change its own scheduling
                self._priority = self.rt_priority
                self.scheduler = set_thread_priority(self._priority)
            msg = self.queue.get(timeout=0.05)
            if self.error:
                continue  # the log is over; keep emptying the queue so puts stay cheap
            try:
                if msg is not None:
                    self._handle(msg)
                if self._status is not None and time.monotonic() >= next_status:
                    next_status = time.monotonic() + self.status_every_s
                    self._log_doubt()
            except Exception as e:  # the viewer is a guest: its failure never reaches the session
                self.error = f"{type(e).__name__}: {e}"
                log.warning("rerun log stopped: %s", self.error)

    def _handle(self, msg: wire.Message) -> None:
        if isinstance(msg, wire.StepRecord):
            self.rerun.step(msg)
        elif isinstance(msg, wire.EpisodeStart):
            seed = _seed(msg.env_args)
            self.rerun.begin_episode(msg.header.episode_id, msg.task, msg.kind, f"seed {seed}" if seed is not None else "",
                                     started_at=msg.started_at or None)
            self._in_episode = True
        elif isinstance(msg, wire.EpisodeEnd):
            self.rerun.end_episode(msg.outcome, msg.num_steps, msg.verdict, msg.ended_at or None)
            self._in_episode = False

    def _log_doubt(self) -> None:
        """The doubt gauge's value at the newest logged step, once per step, only while it is fresh."""
        if not self._in_episode or self.rerun.steps == self._doubt_at_step or self.rerun.steps == 0:
            return
        status = self._status()
        doubt = getattr(status, "doubt", None)
        if doubt is not None and "doubt" not in getattr(status, "stale", ()):
            self.rerun.doubt(doubt)
            self._doubt_at_step = self.rerun.steps

    def close(self, timeout_s: float = 30.0) -> str:
        """Log what is queued, finish the file; a line on what was logged (and lost, if anything)."""
        self._stop.set()
        self._thread.join(timeout=timeout_s)
        try:
            self.error = self.error or self.rerun.close()
        except Exception as e:  # a file that cannot be finished: say so, the session's own data is safe
            self.error = self.error or f"{type(e).__name__}: {e}"
        r = self.rerun
        line = f"rerun: {r.steps} steps of {r.episodes} episode{'' if r.episodes == 1 else 's'} sent to {r.target.describe()}"
        if self.viewer_dropped:
            line += f" ({self.viewer_dropped} records dropped: the viewer's log fell behind)"
        if self.error:
            line += f"; the log stopped early: {self.error}"
        return line


def _seed(env_args: str) -> int | None:
    import json

    try:
        return json.loads(env_args or "{}").get("seed")
    except (ValueError, AttributeError):
        return None
