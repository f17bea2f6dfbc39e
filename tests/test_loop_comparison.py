"""The main job's comparison: behavioural cloning at equal labels beside each HG-DAgger round, the
failure-against-horizon table, the one sentence that says what a run shows, and a loop stopped by a
signal while behavioural cloning runs beside it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hgdagger.common.stats import difference_interval
from hgdagger.common.horizon import failure_by_reached
from hgdagger.loop.report import stage_table, table, verdict
from hgdagger.loop.round_loop import RoundResult

ROOT = Path(__file__).resolve().parents[1]


def test_the_difference_interval_is_newcombes():
    # Newcombe (Statistics in Medicine 1998), method 10, his worked example: 56/70 against 48/80.
    lo, hi = difference_interval(56, 70, 48, 80)
    assert lo == pytest.approx(0.0524, abs=1e-4) and hi == pytest.approx(0.3339, abs=1e-4)
    lo, hi = difference_interval(0, 50, 0, 50)  # sound at the edge, where the normal interval collapses to a point
    assert lo < 0 < hi


def _rounds(hg: int, bc: int, n: int = 50) -> list[RoundResult]:
    first = RoundResult(0, 5 / n, n, 5, 0.0, 0.0, 18000, 60.0, 60, milestones_reached=[0] * 20 + [4] * 30)
    last = RoundResult(1, hg / n, n, hg, 2.0, 0.3, 24000, 60.0, 20, 0.1, 0.2, milestones_reached=[1] * 10 + [4] * 40,
                       bc={"success_rate": bc / n, "eval_successes": bc, "eval_episodes": n, "labels_so_far": 24100,
                           "episodes_recorded": 80, "milestones_reached": [0] * 5 + [1] * 10 + [2] * 10 + [4] * 25})
    return [first, last]


@pytest.mark.parametrize("hg, bc, says", [
    (40, 10, "worth more than as many spent on more demonstrations"),
    (25, 24, "does not separate them"),
    (5, 40, "behavioural cloning did better: it does not show the claim"),
])
def test_the_verdict_says_what_the_interval_shows_and_no_more(hg, bc, says):
    sentence = verdict(_rounds(hg, bc))
    assert says in sentence and "24000 expert labels" in sentence and "24100 labels as 80 demonstrations" in sentence
    assert verdict(_rounds(hg, bc)[:1]) == ""  # no behavioural cloning: nothing to say


def test_failure_against_horizon_counts_episodes_that_never_reached_each_sub_goal():
    assert failure_by_reached([0, 1, 1, 4], 4).tolist() == [0.25, 0.75, 0.75, 0.75]
    text = stage_table(_rounds(40, 10)[1], ["A lifted", "A placed", "B lifted", "B placed"], [99, 162, 222, 292])
    lines = text.splitlines()
    assert lines[0].startswith("sub-goal") and "HG-DAgger" in lines[0] and "BC, equal labels" in lines[0]
    # BC: 5 of 50 never lift A; 15 never place it (10 of the 45 that lifted it: 0.22 of them)
    assert lines[3].split()[:2] == ["A", "placed"] and "0.30 (0.22)" in lines[3]


def test_the_table_shows_behavioural_cloning_only_when_the_run_has_it():
    compared = table(_rounds(40, 10))
    assert "BC, equal labels" in compared and "(same policy)" in compared and "0.20 [0.11, 0.33]" in compared
    plain = _rounds(40, 10)
    plain[1].bc = None
    assert "BC, equal labels" not in table(plain)


def test_every_preset_is_valid_and_explained_and_the_main_job_compares_on_a_task_with_sub_goals():
    import sim
    from hgdagger.loop.config import PRESET_SUMMARIES, PRESETS, LoopConfig

    assert set(PRESET_SUMMARIES) == set(PRESETS)
    configs = {name: LoopConfig.from_dict(dict(settings)) for name, settings in PRESETS.items()}
    main = configs["main"]
    assert main.compare_bc and main.rounds >= 2 and len(sim.task_milestones(main.task)) >= 4
    assert main.task in sim.task_names() and configs["quick"].train_steps < main.train_steps


def _processes_naming(text: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if text in (entry / "cmdline").read_bytes().decode(errors="replace"):
                    found.append(int(entry.name))
            except OSError:
                pass
    return found


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_loop_stopped_by_a_signal_stops_behavioural_cloning_beside_it_and_resumes(tmp_path, sig):
    run = tmp_path / "run"
    args = [sys.executable, "-m", "hgdagger.cli.loop", "--out", str(run), "--quiet", "--set", "task=reach",
            "--set", "demos=3", "--set", "rounds=1", "--set", "rollouts_per_round=2", "--set", "eval_episodes=4",
            "--set", "train_steps=60", "--set", "finetune_steps=400", "--set", "batch_size=64",
            "--set", "compare_bc=true", "--set", 'supervisor={"policy_calibration_episodes": 0}']
    # As a terminal's foreground job: SIGINT at its default (a suite run as a shell's background job ignores it).
    loop = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    bc_run = str(run / "bc" / "at_round_1")
    deadline = time.monotonic() + 600
    while not _processes_naming(bc_run) and loop.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _processes_naming(bc_run), "behavioural cloning never started beside the loop: " + (
        loop.stdout.read() if loop.poll() is not None else "")
    time.sleep(1.0)  # both training
    loop.send_signal(sig)
    said, _ = loop.communicate(timeout=60)
    assert loop.returncode != 0
    if sig == signal.SIGINT:  # a person's Ctrl-C: one line saying how to go on, no traceback
        assert "interrupted; the run so far is kept in" in said and "Traceback" not in said, said[-3000:]
    deadline = time.monotonic() + 30
    while _processes_naming(bc_run) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _processes_naming(bc_run) == [], "behavioural cloning outlived the loop that started it"
    assert not (run / "policy.sock").exists()  # its policy server was stopped too
    if sig == signal.SIGINT:
        return

    resumed = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    report = json.loads((run / "report.json").read_text())
    assert report[1]["bc"]["labels_so_far"] >= report[1]["labels_so_far"] - 100  # (within one demonstration)
    assert os.path.exists(run / "bc" / "at_round_1" / "round_0" / "eval.json")
