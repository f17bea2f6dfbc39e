"""One episode -> one crash-safe HDF5 file.

Why it is built this way:
- The file is written in HDF5's SWMR mode (single writer, multiple readers). SWMR orders every
  metadata write so that the file on disk is consistent at any instant, which is what lets a reader
  open it while it grows -- and equally what lets ``hgd-recover`` open it after the writer was killed
  with SIGKILL. Without SWMR a killed h5py writer usually leaves a file nobody can open.
- Steps are buffered in memory and written in one block per dataset on a timer (``flush_interval``,
  0.5 s by default) followed by ``File.flush()``: one resize and one write per dataset instead of one
  per step keeps the writer's CPU low; a kill loses at most the unflushed buffer (~0.5 s).
- SWMR forbids creating objects or attributes once it is on, so every dataset is created at the
  first step (when the observation shapes are known) and the final attributes (num_samples, label,
  success...) are written after a clean close, by reopening the file without SWMR, before the atomic
  rename from ``ep_<n>.hdf5.partial`` to ``ep_<n>.hdf5``.
- Images (uint8, H x W x C) are stored as ``recorder.image_storage`` says: JPEG per frame by
  default (one variable-length row per step, encoded here in the recorder process, off the control
  loop), or raw / lossless-filtered with one chunk per frame so reading frame t touches only frame t.
  Measured in ``hgd-bench-recorder``: camera frames with sensor noise do not shrink under lzf and
  cost ~6 ms of CPU a 480x640 frame; JPEG at quality 90 shrinks them ~19x for ~1 ms. Low-dim data
  uses lzf (cheap, and it shrinks).
"""

from __future__ import annotations

import json
import os
import resource
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from hgdagger.common import wire
from recorder import image_storage as storages
from recorder import layout


class RecordError(RuntimeError):
    """A record or a file the writer cannot take, with a message a person can act on.
    ``fatal``: recording cannot go on (the session stops accepting); otherwise one record is refused."""

    fatal = False

    def __init__(self, message: str, fatal: bool | None = None) -> None:
        super().__init__(message)
        if fatal is not None:
            self.fatal = fatal


class DiskFull(RecordError):
    """Stopped *before* the disk (or the file-size limit) ran out, so the file closes cleanly."""

    fatal = True


MIN_FREE_BYTES = 64 * 1024 * 1024
"""Free space kept in reserve: an HDF5 write that fails half-way leaves the library in a state
where even closing the file can crash the process, so the writer stops while it still fits."""


@dataclass
class EpisodeMeta:
    """Per-episode facts, from ``wire.EpisodeStart`` plus the recorder's round."""

    task: str = ""
    kind: str = "rollout"
    operator: str = ""
    checkpoint: str = ""
    env_args: str = "{}"
    started_at: float = 0.0
    round: int = 0
    episode_id: str = ""
    start_missing: bool = False  # opened from a step: the EpisodeStart never arrived

    @classmethod
    def from_start(cls, msg: wire.EpisodeStart, round_index: int) -> "EpisodeMeta":
        return cls(task=msg.task, kind=msg.kind, operator=msg.operator, checkpoint=msg.checkpoint_id,
                   env_args=msg.env_args, started_at=msg.started_at or msg.header.send_time or time.time(),
                   round=round_index, episode_id=msg.header.episode_id)


def normalise_env_args(env_args: str, task: str) -> str:
    """robomimic's env_args JSON with a ``type`` (2 = gym) and ``env_name`` (the task) always present."""
    try:
        d = json.loads(env_args) if env_args else {}
    except json.JSONDecodeError:
        d = {"raw": env_args}
    if not isinstance(d, dict):
        d = {"raw": d}
    d.setdefault("type", 2)
    d.setdefault("env_name", task)
    d.setdefault("env_kwargs", {})
    return json.dumps(d)


def is_image(a: np.ndarray) -> bool:
    return a.dtype == np.uint8 and a.ndim == 3 and a.shape[-1] in (1, 3, 4)


@dataclass
class _Column:
    """A growing dataset plus the rows waiting to be written to it."""

    ds: h5py.Dataset
    pending: list = field(default_factory=list)
    encode: Any = None  # a frame -> its stored row (JPEG), or None: stored as it comes
    crc: int = 0  # CRC-32 of every row written so far, in order (layout.CHECKSUM_ATTR at close)


class EpisodeWriter:
    """Writes one episode into ``<final>.partial``; ``finish`` finalises and renames it to ``final``."""

    def __init__(self, final_path: Path, meta: EpisodeMeta, compression: str | None = "lzf",
                 flush_interval: float = 0.5, fsync: bool = True,
                 min_free_bytes: int = MIN_FREE_BYTES, image_storage: str | None = storages.DEFAULT) -> None:
        """``image_storage``: a name from ``recorder.image_storage.STORAGES`` (None: raw)."""
        self.final_path = Path(final_path)
        self.path = self.final_path.with_name(self.final_path.name + layout.PARTIAL_SUFFIX)
        self.meta = meta
        self.compression = None if compression in (None, "none") else compression
        self.image_storage = storages.storage(image_storage)
        self.flush_interval = flush_interval
        self.fsync = fsync
        self.min_free_bytes = min_free_bytes
        self.poisoned = False  # an HDF5 write failed: never touch this file handle again
        self.num_steps = 0  # steps accepted (flushed or pending)
        self.flushed_steps = 0
        self.flush_count = 0
        self.flush_seconds = 0.0
        self.flush_max_s = 0.0
        self._cols: dict[str, _Column] = {}
        self._obs_spec: dict[str, tuple[tuple[int, ...], np.dtype]] = {}
        self._action_dim = 0
        self._last_flush = time.monotonic()
        if self.final_path.exists() or self.path.exists():
            raise RecordError(f"'{self.final_path}' already exists; refusing to overwrite a recorded episode",
                              fatal=True)
        try:
            self.f = h5py.File(self.path, "w", libver="latest")
        except OSError as e:
            raise RecordError(f"cannot create '{self.path}': {e}", fatal=True) from e
        data = self.f.create_group("data")
        data.attrs["total"] = 0
        data.attrs["env_args"] = normalise_env_args(meta.env_args, meta.task)
        data.attrs["round"] = meta.round
        data.attrs["schema_version"] = layout.SCHEMA_VERSION
        g = data.create_group(layout.DEMO)
        for k, v in self._demo_attrs(0, "", False).items():
            g.attrs[k] = v
        self.g = g

    def _demo_attrs(self, n: int, label: str, success: bool) -> dict:
        m = self.meta
        return {"num_samples": n, "success": success, "label": label, "kind": m.kind, "operator": m.operator,
                "checkpoint": m.checkpoint, "started_at": float(m.started_at), "task": m.task,
                "episode_id": m.episode_id, "round": m.round, "start_missing": m.start_missing}

    # ------------------------------------------------------------------ datasets
    def _create(self, rec: wire.StepRecord) -> None:
        """Create every dataset from the first step's shapes, then switch SWMR on."""
        comp = {"compression": self.compression} if self.compression else {}
        act = np.asarray(rec.action)
        if act.ndim != 1:
            raise RecordError(f"action has shape {act.shape}, expected (A,)")
        self._action_dim = act.shape[0]
        a_dt = act.dtype if act.dtype.kind == "f" else np.dtype("f8")

        def col(name: str, shape: tuple[int, ...], dtype, chunk_rows: int = layout.LOWDIM_CHUNK_ROWS) -> None:
            self._cols[name] = _Column(self.g.create_dataset(
                name, shape=(0, *shape), maxshape=(None, *shape), dtype=dtype,
                chunks=(chunk_rows, *shape) if shape else (chunk_rows,), **comp))

        for key, value in rec.observation.items():
            a = np.asarray(value)
            self._obs_spec[key] = (a.shape, a.dtype)
            if is_image(a):
                st = self.image_storage
                if not storages.can_encode(st, a.shape):
                    st = storages.storage("raw")
                ds = self.g.create_dataset(f"obs/{key}", **st.dataset_kwargs(a.shape))
                for k, v in st.column_attrs(a.shape).items():
                    ds.attrs[k] = v
                self._cols[f"obs/{key}"] = _Column(ds, encode=st.encode)
            else:
                col(f"obs/{key}", a.shape, a.dtype)
        for name in ("actions", "policy_actions", "human_actions"):
            col(name, (self._action_dim,), a_dt)
        col("source", (), np.uint8)
        col("intervention", (), bool)
        col("timestamps", (), np.float64)
        col("rewards", (), np.float64)
        col("dones", (), bool)
        col("chunk_id", (), np.int64)
        col("chunk_index", (), np.int32)
        col("checkpoint", (), layout.CHECKPOINT_DTYPE)
        col("steps", (), np.int64)  # the runtime's step numbers: a gap is a dropped record
        self.f.swmr_mode = True

    def append(self, rec: wire.StepRecord) -> None:
        """Buffer one step (validated against the first step's shapes); flushes on the timer."""
        if not self._cols:
            self._create(rec)
        obs = rec.observation
        if obs.keys() != self._obs_spec.keys():
            raise RecordError(f"step {rec.step}: observation keys {sorted(obs)} differ from the episode's "
                              f"{sorted(self._obs_spec)}")
        for k, (shape, _) in self._obs_spec.items():
            if np.shape(obs[k]) != shape:
                raise RecordError(f"step {rec.step}: obs '{k}' has shape {np.shape(obs[k])}, episode has {shape}")
        for name in ("action", "policy_action", "human_action"):
            if np.shape(getattr(rec, name)) != (self._action_dim,):
                raise RecordError(f"step {rec.step}: {name} has shape {np.shape(getattr(rec, name))}, "
                                  f"expected ({self._action_dim},)")
        c = self._cols
        for k in self._obs_spec:
            column = c[f"obs/{k}"]
            column.pending.append(column.encode(np.asarray(obs[k])) if column.encode else obs[k])
        c["actions"].pending.append(rec.action)
        c["policy_actions"].pending.append(rec.policy_action)
        c["human_actions"].pending.append(rec.human_action)
        c["source"].pending.append(rec.source)
        c["intervention"].pending.append(rec.intervention)
        c["timestamps"].pending.append(rec.timestamp)
        c["rewards"].pending.append(rec.reward)
        c["dones"].pending.append(rec.done)
        c["chunk_id"].pending.append(rec.chunk_id)
        c["chunk_index"].pending.append(rec.chunk_index)
        c["checkpoint"].pending.append(rec.checkpoint_id.encode("utf-8", "replace")[:128])
        c["steps"].pending.append(rec.step)
        self.num_steps += 1
        self.maybe_flush()

    def maybe_flush(self, now: float | None = None) -> bool:
        """Flush when ``flush_interval`` has passed since the last flush; True if it did."""
        now = time.monotonic() if now is None else now
        if now - self._last_flush >= self.flush_interval:
            self.flush()
            return True
        return False

    def flush(self) -> None:
        """Write every buffered step (one block per dataset) and make it durable against a kill."""
        t0 = time.monotonic()
        n_new = self.num_steps - self.flushed_steps
        if n_new and self._cols:
            self._check_space(sum(sum(np.asarray(r).nbytes for r in c.pending[:1]) for c in self._cols.values()) * n_new)
            n = self.flushed_steps
            for name, col in self._cols.items():
                block = _rows(col.pending, col.ds.dtype)
                try:
                    col.ds.resize(n + n_new, axis=0)
                    if block.dtype.kind == "O":  # h5py broadcasts a block of one variable-length row wrongly
                        for i, row in enumerate(block):
                            col.ds[n + i] = row
                    else:
                        col.ds[n:n + n_new] = block
                    col.crc = layout.crc32(block, col.crc)
                except Exception:
                    self.poisoned = True
                    raise
                col.pending.clear()
            self.flushed_steps = self.num_steps
            try:
                self.f.flush()
            except Exception:
                self.poisoned = True
                raise
            self.flush_count += 1
        self._last_flush = time.monotonic()
        self.flush_seconds += self._last_flush - t0
        self.flush_max_s = max(self.flush_max_s, self._last_flush - t0)

    def _check_space(self, raw_bytes: int) -> None:
        """Raise DiskFull unless ``raw_bytes`` (uncompressed, an upper bound) fit with the reserve."""
        need = int(raw_bytes * 1.1) + (1 << 20)
        st = os.statvfs(self.path.parent)
        free = st.f_bavail * st.f_frsize
        if free - need < self.min_free_bytes:
            raise DiskFull(f"disk nearly full: {free / 1e6:.0f} MB free in '{self.path.parent}', "
                           f"keeping {self.min_free_bytes / 1e6:.0f} MB in reserve")
        soft, _ = resource.getrlimit(resource.RLIMIT_FSIZE)
        if soft != resource.RLIM_INFINITY and self.path.stat().st_size + need > soft:
            raise DiskFull(f"file size limit reached: '{self.path.name}' would pass the process's "
                           f"{soft / 1e6:.1f} MB limit (ulimit -f)")

    # ------------------------------------------------------------------ ending
    def finish(self, outcome: str, success: bool | None = None, verdict: str = "") -> Path:
        """Flush, close, write the final attributes, rename atomically; returns the final path.
        ``verdict``: the task's own check, kept beside the operator's label (attr ``task_verdict``)."""
        label = layout.LABELS.get(outcome, outcome)
        success = (label == "success") if success is None else bool(success)
        self.flush()
        n = self.flushed_steps
        self.f.close()
        with h5py.File(self.path, "r+", libver="latest") as f:
            f["data"].attrs["total"] = n
            g = f["data"][layout.DEMO]
            for k, v in self._demo_attrs(n, label, success).items():
                g.attrs[k] = v
            g.attrs["ended_at"] = time.time()
            if verdict:
                g.attrs["task_verdict"] = verdict
            # One attribute for all datasets (an attribute each cost 8% of a short episode's writing time).
            g.attrs[layout.CHECKSUM_ATTR] = json.dumps({name: col.crc for name, col in self._cols.items()})
        if self.fsync:
            _fsync_path(self.path)
        os.replace(self.path, self.final_path)
        if self.fsync:
            _fsync_path(self.final_path.parent)
        return self.final_path

    def abandon(self) -> None:
        """Close without finalising (the partial file stays for ``hgd-recover``); never raises.

        After a failed HDF5 write the handle is kept open, never closed: closing a file whose
        write failed can crash the HDF5 library, and the file on disk is already as good as the
        last successful flush."""
        if self.poisoned:
            _POISONED.append(self.f)
            return
        try:
            self.f.close()
        except Exception:
            pass


def _rows(pending: list, dtype: np.dtype) -> np.ndarray:
    """The pending rows as one block; variable-length rows (encoded frames) one object each, never
    merged into a 2-D array when they happen to be of equal length."""
    if dtype.kind != "O":
        return np.ascontiguousarray(pending, dtype=dtype)
    block = np.empty(len(pending), dtype=object)
    for i, row in enumerate(pending):
        block[i] = row
    return block


_POISONED: list = []  # handles of files whose writes failed, deliberately never closed


def _fsync_path(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
