"""hgd-bench-settings: one loop setting against another, success and chunk latency side by side."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from hgdagger.benchmarks.bench_settings import parse_args, parse_vary, summarise


def test_vary_reads_json_values_and_refuses_what_cannot_be_compared():
    assert parse_vary("width=256,192") == ("width", [256, 192])
    assert parse_vary("weighting=hg-dagger,uniform") == ("weighting", ["hg-dagger", "uniform"])
    assert parse_vary("from_scratch=true,false") == ("from_scratch", [True, False])
    for bad in ("width", "width=256", "=1,2", "width=256,", "width=1,1"):
        with pytest.raises(ValueError, match="--vary"):
            parse_vary(bad)


def test_each_value_is_compared_with_the_first_over_the_pooled_episodes():
    args = parse_args(["--vary", "width=256,192,128"])
    units = [{"value": v, "seed": s, "success": w / 50, "successes": w, "episodes": 50, "train_seconds": t}
             for v, wins, t in ((256, (40, 42, 38), 300), (192, (39, 41, 40), 200), (128, (10, 12, 8), 100))
             for s, w in enumerate(wins)]
    base, same, worse = summarise(args, units)
    assert "difference" not in base and base["mean"] == pytest.approx(0.8) and base["per_seed"] == [0.8, 0.84, 0.76]
    assert same["difference"] == pytest.approx(0.0) and same["difference_ci95"][0] < 0 < same["difference_ci95"][1]
    assert worse["difference"] == pytest.approx(-0.6) and worse["difference_ci95"][1] < 0
    assert worse["train_seconds_mean"] == 100 and base["pooled_ci95"][0] < 0.8 < base["pooled_ci95"][1]


@pytest.mark.parametrize("argv, says", [
    (["--vary", "width=256"], "two values or more"),
    (["--vary", "nosuch=1,2"], "unknown loop settings"),
    (["--vary", "width=0,256"], "width: must be at least 8"),
    (["--vary", "width=256,192", "--task", "nope"], "unknown task"),
])
def test_a_mistake_is_one_line_before_any_loop_runs(tmp_path, argv, says):
    done = subprocess.run([sys.executable, "-m", "hgdagger.benchmarks.bench_settings", *argv, "--runs", str(tmp_path / "r")],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and says in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "r").exists()


@pytest.mark.slow
def test_both_values_run_their_loops_and_are_timed_side_by_side(tmp_path):
    from hgdagger.benchmarks.bench_settings import run
    from hgdagger.common import realtime

    tiny = ["--preset", "quick", "--set", "rounds=0", "--set", "demos=2", "--set", "train_steps=30",
            "--set", "eval_episodes=2", "--set", "batch_size=32"]
    argv = ["--task", "reach", "--vary", "width=32,16", "--seeds", "0", "--calls", "5", "--threads", "1",
            "--runs", str(tmp_path / "runs"), "--out", str(tmp_path), *tiny]
    report = run(argv)
    rows = {r["value"]: r for r in report["rows"]}
    assert set(rows) == {32, 16} and all(r["episodes"] == 2 and r["chunk_ms"]["n"] == 5 for r in rows.values())
    # timed as hgd-serve serves: from a real-time thread where permitted, and it says which
    under = {r["chunk_timed_under"] for r in rows.values()}
    if realtime.permitted(40):
        assert under == {"SCHED_FIFO priority 40"}
    else:
        assert len(under) == 1 and under.pop().startswith("normal scheduler (SCHED_FIFO ")
    for width in (32, 16):  # each value's loop trained its own network at its own width
        config = json.loads(next((tmp_path / "runs" / "reach_width" / f"width={width}").rglob("train_config.json")).read_text())
        assert json.dumps(config).count(f'"hidden": {width}') == 1
    saved = json.loads((tmp_path / "settings_reach_width.json").read_text())
    assert [r["value"] for r in saved["rows"]] == [32, 16] and "difference_ci95" in saved["rows"][1]
    again = run(argv)  # a rerun reuses the finished loops: the same successes
    assert [r["successes"] for r in again["rows"]] == [r["successes"] for r in report["rows"]]
