"""The co-location benchmark runs each workload with the thread count its row names, quiet and loaded."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from hgdagger.benchmarks import bench_colocation
from hgdagger.common import threads


def _real_time_permitted() -> bool:
    return subprocess.run([sys.executable, "-c", "import os; os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(40))"],
                          capture_output=True).returncode == 0


@pytest.mark.slow
def test_the_colocation_benchmark_compares_torch_threads_with_the_chosen_ones_side_by_side(tmp_path):
    out = tmp_path / "colocation.json"
    bench_colocation.run(["--load", "1", "--chunks", "3", "--train-steps", "1", "--threads", "1", "--out", str(out)])
    report = json.loads(out.read_text())
    cores = threads.available_cores()
    seen = {(r["work"], r["mode"]): r for r in report["rows"]}
    assert set(seen) == {(w, m) for w in ("chunk", "train") for m in ("torch default", "chosen")} | {
        ("chunk", bench_colocation.REALTIME)}
    for (work, mode), row in seen.items():
        assert row["threads"] == (cores if mode == "torch default" else 1)  # what torch ran with, in the child
        assert row["realtime"] is (mode == bench_colocation.REALTIME and _real_time_permitted())
        assert 0 < row["quiet_ms"]["median"] and 0 < row["loaded_ms"]["median"]
        assert row["loaded_over_quiet"] == pytest.approx(row["loaded_ms"]["median"] / row["quiet_ms"]["median"])
