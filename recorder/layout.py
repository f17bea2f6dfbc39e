"""Names and constants of the on-disk layout (ARCHITECTURE.md "The HDF5 layout"), in one place.

An episode file (``<run>/round_<r>/data/ep_<nnnn>.hdf5``; the run folder is ``recorder.run_folder``'s)
is a robomimic-layout file holding exactly one episode as ``/data/demo_0``. An episode being written is
``ep_<nnnn>.hdf5.partial``; it is renamed atomically when the episode ends, so a name without the
suffix always means a finished, closed file.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

SCHEMA_VERSION = 1
DEMO = "demo_0"
PARTIAL_SUFFIX = ".partial"
LOCK_NAME = ".recorder.lock"
EPISODE_RE = re.compile(r"^ep_(\d{4,})\.hdf5$")
PARTIAL_RE = re.compile(r"^ep_(\d{4,})\.hdf5\.partial$")

# EpisodeEnd.outcome -> the label stored in /data/demo_0 attrs "label".
LABELS = {"success": "success", "failure": "failure", "discard": "discard", "abort": "aborted"}
ABORTED = "aborted"

CHECKPOINT_DTYPE = "S128"
"""Per-step checkpoint ids are fixed-length byte strings (not an index into an attribute list, not
variable-length strings): the file is written in SWMR mode, which forbids adding or growing
attributes mid-episode, and variable-length strings live in the global heap, which a crash can leave
half-written. lzf makes the repeated id nearly free on disk."""

LOWDIM_CHUNK_ROWS = 256

CHECKSUM_ATTR = "crc32"
"""A finished episode's group carries, as JSON {dataset path: CRC-32}, the checksum of every
per-step dataset's bytes (rows in order, the stored dtype, C order), computed as the rows were
written: a file damaged later (a bad disk, a copy cut short, flipped bits inside a compressed
chunk) no longer matches."""


def crc32(rows: np.ndarray, previous: int = 0) -> int:
    """CRC-32 of `rows`' bytes, continuing from `previous` (so it can be computed block by block)."""
    import zlib

    rows = np.asarray(rows)
    if rows.dtype.kind == "O":  # variable-length rows (encoded frames): their bytes, in order
        for row in rows:
            previous = zlib.crc32(np.ascontiguousarray(row).view(np.uint8), previous)
        return previous
    return zlib.crc32(np.ascontiguousarray(rows).view(np.uint8), previous)


def episode_name(index: int) -> str:
    return f"ep_{index:04d}.hdf5"


def next_episode_index(folder: Path) -> int:
    """One past the highest episode number in ``folder`` (finished, partial or quarantined)."""
    best = -1
    for p in Path(folder).glob("ep_*"):
        m = re.match(r"^ep_(\d+)\.hdf5", p.name)
        if m:
            best = max(best, int(m.group(1)))
    return best + 1
