"""Reading an .rrd back with rerun's own reader (``rerun.chunk.RrdReader``), for the rerun tests."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import numpy as np


def read_rrd(path: Path) -> dict[str, list[dict]]:
    """Every timed row of the recording, per entity path, in `step` order: {column: value} with the
    timelines as numbers (wall_time in seconds) and each component as Python values."""
    import pyarrow as pa
    from rerun.chunk import RrdReader

    rows: dict[str, list[dict]] = defaultdict(list)
    for chunk in RrdReader(path).stream().collect().stream():
        if chunk.is_static:
            continue
        batch = chunk.to_record_batch()
        cols = {}
        for name in batch.schema.names:
            col = batch.column(name)
            if name == "wall_time":
                cols[name] = [None if v is None else v / 1e9 for v in col.cast(pa.int64()).to_pylist()]
            elif name in ("step", "episode_step") or ":" in name:
                cols[name] = col.to_pylist()
        for i in range(batch.num_rows):
            rows[chunk.entity_path].append({name: values[i] for name, values in cols.items()})
    for entity in rows.values():
        entity.sort(key=lambda r: (r.get("step") is None, r.get("step") or 0))
    return dict(rows)


def scalars(rows: dict[str, list[dict]], entity: str) -> tuple[list[int], np.ndarray]:
    """(steps, values) of a one-value Scalars entity."""
    got = rows[entity]
    return [r["step"] for r in got], np.array([r["Scalars:scalars"][0] for r in got])


def states(rows: dict[str, list[dict]], entity: str) -> list[tuple[int, str]]:
    """(step, state) of each StateChange of a lane."""
    return [(r["step"], r["StateChange:state"][0]) for r in rows[entity]]


def texts(rows: dict[str, list[dict]], entity: str = "/control/events") -> list[tuple[int, str]]:
    return [(r["step"], r["TextLog:text"][0]) for r in rows[entity]]
