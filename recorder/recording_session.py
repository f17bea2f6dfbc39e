"""A recording session: turns the runtime's message stream into episode files in one folder.

The same ``RecordingSession`` sits behind both front ends (the ``hgd-record`` process reading a
PULL socket, and the in-process :class:`recorder.thread_writer.QueueWriter`). It owns the folder
through a lock file, so two recorders pointed at one folder fail at once with a clear message
instead of interleaving episodes. On a write error (disk full, folder turned read-only) it stops
accepting, keeps the error visible in ``stats.error``, and counts every record it refuses; the
episode being written stays as a ``.partial`` file readable up to its last flush.
"""

from __future__ import annotations

import dataclasses
import errno
import fcntl
import logging
import os
import re
from dataclasses import asdict, dataclass
from pathlib import Path

from hgdagger.common import wire
from recorder import image_storage as storages
from recorder import layout, run_folder
from recorder.episode_writer import DiskFull, EpisodeMeta, EpisodeWriter, RecordError

log = logging.getLogger("hgd.recorder")


class FolderLocked(RecordError):
    """Another recorder holds this folder."""


@dataclass
class RecorderStats:
    episodes_finished: int = 0
    steps_written: int = 0
    records_refused: int = 0  # after a fatal error, or malformed steps
    steps_without_episode: int = 0
    implicit_starts: int = 0  # episodes opened from a step because their EpisodeStart was lost
    step_gaps: int = 0  # steps missing from the runtime's numbering (dropped upstream)
    bad_messages: int = 0
    empty_episodes: int = 0  # ended before their first step: no file kept (nothing to train on or lose)
    flushes: int = 0
    flush_seconds: float = 0.0  # of finished episodes
    flush_max_s: float = 0.0
    error: str = ""

    def as_dict(self) -> dict:
        return asdict(self)


class FolderLock:
    """An exclusive ``flock`` on ``<folder>/.recorder.lock``; the kernel drops it when the process dies
    (kill -9 included), so a crash never leaves a stale lock behind."""

    def __init__(self, folder: Path) -> None:
        self.path = Path(folder) / layout.LOCK_NAME
        try:
            self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as e:
            raise RecordError(f"cannot create the lock file '{self.path}': {e.strerror}") from e
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(self.fd, 64, 0).decode(errors="replace").strip() or "unknown"
            os.close(self.fd)
            raise FolderLocked(f"'{folder}' is already being recorded into by another recorder (pid {holder}); "
                               "point this one at another folder or stop the other first") from None
        os.ftruncate(self.fd, 0)
        os.pwrite(self.fd, str(os.getpid()).encode(), 0)

    @staticmethod
    def is_held(folder: Path) -> bool:
        """Whether a live process holds the lock of ``folder`` (used by hgd-recover)."""
        p = Path(folder) / layout.LOCK_NAME
        if not p.exists():
            return False
        fd = os.open(p, os.O_RDONLY)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            fcntl.flock(fd, fcntl.LOCK_UN)
            return False
        except BlockingIOError:
            return True
        finally:
            os.close(fd)

    def release(self) -> None:
        if self.fd >= 0:
            fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
            self.fd = -1


def check_writable(folder: Path) -> Path:
    """Create ``folder`` and prove it is writable, or raise RecordError saying why."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise RecordError(f"cannot create the output folder '{folder}': {e.strerror}") from e
    if not os.access(folder, os.W_OK):
        raise RecordError(f"output folder '{folder}' is not writable (read-only mount or permissions?)")
    return folder


@dataclass
class EpisodeSaved:
    """How an episode ended at the recorder: its file, or why there is none (what a session reports)."""

    episode_id: str
    file: str = ""
    steps: int = 0
    label: str = ""
    error: str = ""


class RecordingSession:
    """Consumes EpisodeStart / StepRecord / EpisodeEnd messages and writes ``ep_<n>.hdf5`` files."""

    def __init__(self, folder: Path, round_index: int | None = None, compression: str | None = "lzf",
                 flush_interval: float = 0.5, fsync: bool = True, min_free_bytes: int | None = None,
                 image_storage: str | None = storages.DEFAULT) -> None:
        self.folder = check_writable(folder)
        r = run_folder.round_of(self.folder / "x")
        self.round = round_index if round_index is not None else (r if r is not None else 0)
        self.compression = compression
        self.flush_interval = flush_interval
        self.fsync = fsync
        self.writer_kw: dict = {"image_storage": image_storage}
        if min_free_bytes is not None:
            self.writer_kw["min_free_bytes"] = min_free_bytes
        self.lock = FolderLock(self.folder)
        self.stats = RecorderStats()
        self.writer: EpisodeWriter | None = None
        self.finished: list[Path] = []
        self._last_step: int | None = None
        self._last_meta: EpisodeMeta | None = None
        self._ended_ids: set[str] = set()
        self.last_saved: EpisodeSaved | None = None  # set by every EpisodeEnd this session answers

    @property
    def failed(self) -> bool:
        return bool(self.stats.error)

    def handle(self, msg: wire.Message) -> None:
        """Apply one message. Never raises for a bad record: it is refused and counted."""
        if self.failed:
            self.stats.records_refused += 1
            if isinstance(msg, wire.EpisodeEnd):
                self.last_saved = EpisodeSaved(msg.header.episode_id, error=self.stats.error)
            return
        try:
            if isinstance(msg, wire.StepRecord):
                self._step(msg)
            elif isinstance(msg, wire.EpisodeStart):
                self._start(msg)
            elif isinstance(msg, wire.EpisodeEnd):
                self.last_saved = EpisodeSaved(msg.header.episode_id, error="no episode open (its start and steps never arrived)")
                self._end(msg.outcome, msg.success, msg.header.episode_id, msg.verdict)
            else:
                self.stats.bad_messages += 1
        except RecordError as e:
            if e.fatal:
                self._fail(e)
            else:
                self.stats.records_refused += 1
                log.warning("refused a record: %s", e)
        except (OSError, RuntimeError) as e:  # h5py reports failed writes as RuntimeError
            self._fail(e)
        except (ValueError, TypeError, OverflowError, KeyError, IndexError) as e:
            # A record the file cannot hold (a field out of range, an observation whose shape
            # changed mid-episode): that record is refused, the episode and the process go on.
            self.stats.records_refused += 1
            log.warning("refused a record: %s: %s", type(e).__name__, e)
        if isinstance(msg, wire.EpisodeEnd) and self.last_saved is not None and not self.last_saved.file:
            self.last_saved.error = self.stats.error or self.last_saved.error  # a failed write says why

    def _fail(self, e: Exception) -> None:
        text = str(e)
        code = getattr(e, "errno", None)
        hint = ""
        if isinstance(e, DiskFull) or code in (errno.ENOSPC, errno.EFBIG, errno.EDQUOT) or any(
                w in text for w in ("No space left", "File too large", "Disk quota")):
            hint = " (disk full: free space, then run hgd-recover on the run to close the interrupted episode)"
        elif code in (errno.EROFS, errno.EACCES, errno.EPERM) or any(
                w in text for w in ("Read-only", "Permission denied")):
            hint = " (folder not writable)"
        first = text.split(" (file write failed")[0].splitlines()[0] if text else type(e).__name__
        m = re.search(r"error message = '([^']+)'", text)
        if m:
            first += f": {m.group(1)}"
        self.stats.error = f"recording stopped: {first}{hint}"
        self.stats.records_refused += 1
        log.error("%s; episode in progress left as %s", self.stats.error,
                  self.writer.path if self.writer else "none")
        if self.writer is not None:
            self.writer.abandon()
            self.writer = None

    def _start(self, msg: wire.EpisodeStart) -> None:
        self._open(EpisodeMeta.from_start(msg, self.round))

    def _open(self, meta: EpisodeMeta) -> None:
        if self.writer is not None:  # the runtime never sent the end: keep what we have
            self._end("abort", False)
        idx = layout.next_episode_index(self.folder)
        self.writer = EpisodeWriter(self.folder / layout.episode_name(idx), meta,
                                    self.compression, self.flush_interval, self.fsync, **self.writer_kw)
        self._last_meta = meta
        self._last_step = None

    def _step(self, msg: wire.StepRecord) -> None:
        eid = msg.header.episode_id
        if self.writer is not None and eid and self.writer.meta.episode_id and eid != self.writer.meta.episode_id:
            self._end("abort", False)  # a new episode whose start was lost: close the old one
        if self.writer is None:
            if self._last_meta is None or not eid or eid in self._ended_ids:
                self.stats.steps_without_episode += 1
                return
            # The EpisodeStart was dropped upstream (drop-new queue): open the episode from the last
            # known start's facts rather than lose it; the file says so (attr start_missing).
            self.stats.implicit_starts += 1
            self._open(dataclasses.replace(self._last_meta, episode_id=eid, started_at=msg.timestamp,
                                           start_missing=True))
        gap = 0 if self._last_step is None else max(0, msg.step - self._last_step - 1)
        self.writer.append(msg)
        self._last_step = msg.step
        self.stats.step_gaps += gap
        self.stats.steps_written += 1

    def _end(self, outcome: str, success: bool, episode_id: str = "", verdict: str = "") -> None:
        if self.writer is None:
            return
        if episode_id and self.writer.meta.episode_id and episode_id != self.writer.meta.episode_id:
            self.stats.bad_messages += 1  # the end of an episode that is not the one open
            return
        w, self.writer = self.writer, None
        self._ended_ids.add(w.meta.episode_id)
        if w.num_steps == 0:  # an episode with no step is no data: a file would only confuse every reader
            w.abandon()
            w.path.unlink(missing_ok=True)
            self.stats.empty_episodes += 1
            self.last_saved = EpisodeSaved(w.meta.episode_id, error="no step arrived: nothing to keep")
            return
        try:
            path = w.finish(outcome, success, verdict)
        except Exception as e:
            w.abandon()
            self.last_saved = EpisodeSaved(w.meta.episode_id, error=f"write failed: {e}")
            raise
        self.last_saved = EpisodeSaved(w.meta.episode_id, str(path), w.flushed_steps, layout.LABELS.get(outcome, outcome))
        self.stats.flush_seconds += w.flush_seconds
        self.stats.flushes += w.flush_count
        self.stats.flush_max_s = max(self.stats.flush_max_s, w.flush_max_s)
        self.stats.episodes_finished += 1
        self.finished.append(path)
        log.info("episode %s: %d steps, %s", path.name, w.flushed_steps, layout.LABELS.get(outcome, outcome))

    def tick(self) -> None:
        """Call often (idle or not): flushes the open episode on its timer."""
        if self.writer is not None and not self.failed:
            try:
                self.writer.maybe_flush()
            except (OSError, RuntimeError) as e:  # RecordError (DiskFull) and h5py write failures
                self._fail(e)

    def close(self, outcome_if_open: str = "abort") -> None:
        """Finish an open episode (labelled ``aborted`` by default) and release the folder."""
        if self.writer is not None and not self.failed:
            try:
                self._end(outcome_if_open, False)
            except (OSError, RuntimeError) as e:  # RecordError (DiskFull) and h5py write failures
                self._fail(e)
        self.lock.release()
