"""The two metadata tables of a v3.0 dataset, with pyarrow alone (no pandas on a robot-side install).

``meta/tasks.parquet`` is what LeRobot writes with pandas: a ``task_index`` column indexed by the task
text. pandas finds its index through the ``pandas`` schema metadata, so that is written here by hand;
without it LeRobot's reader would index tasks by row number and lose their text.
``meta/episodes/...parquet`` holds one row per episode (where its rows and video spans are).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def write_tasks(tasks: dict[str, int], path: Path) -> None:
    """{task text: task_index} -> meta/tasks.parquet."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    order = sorted(tasks, key=tasks.get)
    table = pa.table({"task_index": pa.array([tasks[t] for t in order], pa.int64()),
                      "task": pa.array(order, pa.string())})
    pandas_meta = {
        "index_columns": ["task"],
        "column_indexes": [{"name": None, "field_name": None, "pandas_type": "unicode", "numpy_type": "object",
                            "metadata": {"encoding": "UTF-8"}}],
        "columns": [{"name": "task_index", "field_name": "task_index", "pandas_type": "int64", "numpy_type": "int64",
                     "metadata": None},
                    {"name": "task", "field_name": "task", "pandas_type": "unicode", "numpy_type": "object",
                     "metadata": None}],
        "creator": {"library": "pyarrow", "version": pa.__version__}, "pandas_version": "2.2.3"}
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table.replace_schema_metadata({"pandas": json.dumps(pandas_meta)}), path)


def read_tasks(path: Path) -> dict[int, str]:
    """meta/tasks.parquet -> {task_index: task text} (the text is the ``task`` column or pandas index)."""
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    text = "task" if "task" in table.column_names else next(
        (c for c in table.column_names if c != "task_index"), None)
    if text is None:
        raise ValueError(f"'{path}' has no task text column (columns {table.column_names})")
    return dict(zip(table.column("task_index").to_pylist(), map(str, table.column(text).to_pylist())))


def write_episodes(rows: list[dict[str, Any]], path: Path) -> None:
    """One row per episode, columns as in the dicts (all rows have the same keys)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows), path)


def read_episodes(root: Path) -> list[dict[str, Any]]:
    """Every row of meta/episodes/*/*.parquet, by episode_index (per-episode stats columns skipped)."""
    import pyarrow.parquet as pq

    rows: list[dict[str, Any]] = []
    for p in sorted((root / "meta" / "episodes").glob("*/*.parquet")):
        names = pq.read_schema(p).names
        rows += pq.read_table(p, columns=[n for n in names if not n.startswith("stats/")]).to_pylist()
    return sorted(rows, key=lambda r: r["episode_index"])
