"""Repair what a crash left: turn every ``ep_<n>.hdf5.partial`` into a closed ``ep_<n>.hdf5``.

A partial file was written in SWMR mode, so after a kill it opens (with ``swmr=True``) up to its
last flush. Recovery never edits it in place: it copies every readable step (the shortest per-step
dataset decides, so all datasets stay aligned) into a fresh file, sets ``num_samples`` and the label
``aborted`` (or keeps the label when the crash hit between finalising and renaming), renames it
atomically, and only then deletes the partial. A partial that cannot be opened is renamed
``.corrupt`` (kept for a person to look at, ignored by readers); one with no steps is removed.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from recorder import layout
from recorder.h5flags import clear_open_flags
from recorder.recording_session import FolderLock


NOTHING_WRITTEN_BYTES = 1024
"""An unreadable HDF5 partial this small holds no step: the datasets of even one step take more
room, so such a file was killed before its first flush and nothing was lost."""
HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


@dataclass
class Recovery:
    partial: Path
    action: str  # recovered | empty-removed | quarantined | skipped-locked
    steps: int = 0
    seconds: float = 0.0
    result: Path | None = None
    message: str = ""


def find_partials(run: Path) -> list[Path]:
    return sorted(p for p in Path(run).rglob("ep_*" + layout.PARTIAL_SUFFIX) if layout.PARTIAL_RE.match(p.name))


def _open_any(path: Path) -> h5py.File:
    """Open a partial: SWMR read first (a killed SWMR writer), plain read as a fallback; a file
    killed while open for plain writing (the short window in which the writer sets the final
    attributes) has its superblock's open-for-write flags cleared first, as h5clear would."""
    try:
        return h5py.File(path, "r", libver="latest", swmr=True, locking=False)
    except OSError:
        pass
    try:
        return h5py.File(path, "r", locking=False)
    except OSError as e:
        if "already open for write" not in str(e) or not clear_open_flags(path):
            raise
    return h5py.File(path, "r", locking=False)


def _copy_attrs(src, dst) -> None:
    for k, v in src.attrs.items():
        dst.attrs[k] = v


def recover_partial(partial: Path) -> Recovery:
    """Recover one partial file (see module doc)."""
    partial = Path(partial)
    final = partial.with_name(partial.name[: -len(layout.PARTIAL_SUFFIX)])
    tmp = partial.with_name(final.name + ".recovering")
    try:
        src = _open_any(partial)
    except Exception as e:
        size = partial.stat().st_size
        with open(partial, "rb") as f:
            head = f.read(NOTHING_WRITTEN_BYTES + 1)
        # Killed between creating the file and its first step: HDF5's signature and little else, or (killed
        # before the library wrote even its superblock) nothing but zeros. Anything else small is not ours.
        if size <= NOTHING_WRITTEN_BYTES and (head.startswith(HDF5_SIGNATURE) or not head.strip(b"\0")):
            partial.unlink()
            return Recovery(partial, "empty-removed",
                            message=f"killed before its first step was written ({size} bytes, nothing lost)")
        bad = partial.with_name(final.name + ".corrupt")
        os.replace(partial, bad)
        return Recovery(partial, "quarantined", result=bad, message=f"unreadable ({type(e).__name__}: {e})")
    with src:
        g = src.get(f"data/{layout.DEMO}")
        per_step = []
        if g is not None:
            g.visititems(lambda name, obj: per_step.append(name) if isinstance(obj, h5py.Dataset) else None)
        n = min((g[name].shape[0] for name in per_step), default=0)
        if n == 0:
            src.close()
            partial.unlink()
            return Recovery(partial, "empty-removed", message="no steps were flushed before the crash")
        with h5py.File(tmp, "w", libver="latest") as dst:
            data = dst.create_group("data")
            _copy_attrs(src["data"], data)
            dg = data.create_group(layout.DEMO)
            _copy_attrs(g, dg)
            checksums: dict[str, int] = {}
            for name in per_step:
                d = g[name]
                rows = d[:n]
                out = dg.create_dataset(name, data=rows, dtype=d.dtype, chunks=d.chunks, compression=d.compression,
                                        maxshape=(None, *d.shape[1:]))
                _copy_attrs(d, out)  # an encoded image column's codec and frame shape
                checksums[name] = layout.crc32(rows)  # of what was recovered
                del out
            label = g.attrs.get("label", "")
            label = label.decode() if isinstance(label, bytes) else str(label)
            if not label:
                dg.attrs["label"] = layout.ABORTED
                dg.attrs["success"] = False
            dg.attrs[layout.CHECKSUM_ATTR] = json.dumps(checksums)
            dg.attrs["num_samples"] = n
            dg.attrs["recovered"] = True
            data.attrs["total"] = n
            ts = g["timestamps"][:n] if "timestamps" in g else np.zeros(1)
            seconds = float(ts[-1] - ts[0]) if n > 1 else 0.0
    os.replace(tmp, final)
    partial.unlink()
    return Recovery(partial, "recovered", steps=n, seconds=seconds, result=final,
                    message=f"kept {n} steps ({seconds:.1f} s), label {label or layout.ABORTED}")


def recover_run(run: Path, force: bool = False) -> list[Recovery]:
    """Recover every partial under ``run``; folders a live recorder holds are skipped unless ``force``."""
    out = []
    for p in find_partials(run):
        if not force and FolderLock.is_held(p.parent):
            out.append(Recovery(p, "skipped-locked", message="a recorder is still writing into this folder"))
            continue
        out.append(recover_partial(p))
    return out
