"""Long runs stopped by a signal keep their work: a loop's training stopped by SIGTERM saves its step
and the rerun goes on from it, and a benchmark stopped by SIGTERM stops every worker and policy server
it started (real processes, real signals)."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import torch

from hgdagger.loop.config import LoopConfig
from policy_server import round_training
from policy_server.loss_log import read_csv
from policy_server.round_recipe import plan_round

ROOT = Path(__file__).resolve().parents[1]
SMALL = ["--set", "task=reach", "--set", "demos=3", "--set", "eval_episodes=4", "--set", "batch_size=32",
         "--set", "width=32"]


def _wait_for(path: Path, proc: subprocess.Popen, rows: int = 1, timeout: float = 300) -> None:
    """Until the loss curve at `path` has `rows` rows (training is under way)."""
    deadline = time.monotonic() + timeout
    while len(read_csv(path) if path.exists() else []) < rows:
        assert proc.poll() is None, proc.communicate()[0][-3000:]
        assert time.monotonic() < deadline, f"no training after {timeout} s"
        time.sleep(0.1)


def _descendants(pid: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    found, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def _running(pid: int) -> bool:
    try:
        state = (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def test_a_loop_stopped_during_training_resumes_that_training(tmp_path):
    run = tmp_path / "run"
    args = [sys.executable, "-m", "hgdagger.cli.loop", "--out", str(run), "--quiet", *SMALL,
            "--set", "rounds=0", "--set", "train_steps=1500"]
    loop = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    curve = run / "round_0" / "checkpoints" / "loss.csv"
    try:
        _wait_for(curve, loop, rows=2)
        loop.send_signal(signal.SIGTERM)
        said, _ = loop.communicate(timeout=60)
    finally:
        if loop.poll() is None:
            loop.kill()
    assert loop.returncode != 0 and (run / "round_0" / "checkpoints" / "last.pt").exists(), said
    saved = torch.load(run / "round_0" / "checkpoints" / "last.pt", weights_only=False)["step"]
    assert 100 <= saved < 1500  # the step it had reached, saved on SIGTERM
    assert read_csv(curve)[-1]["step"] == saved

    again = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    assert f"round 0: resuming its training at step {saved} of 1500" in (run / "loop.log").read_text()
    assert torch.load(run / "round_0" / "checkpoints" / "last.pt", weights_only=False)["step"] == 1500
    steps = [row["step"] for row in read_csv(curve)]
    assert steps == sorted(set(steps)) and steps[-1] == 1500 and saved in steps  # one curve, no repeats


def test_only_the_same_training_on_the_same_files_is_resumed(tmp_path):
    run = tmp_path / "run"
    loop = subprocess.Popen([sys.executable, "-m", "hgdagger.cli.loop", "--out", str(run), "--quiet", *SMALL,
                             "--set", "rounds=0", "--set", "train_steps=100000"],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        _wait_for(run / "round_0" / "checkpoints" / "loss.csv", loop)
        loop.send_signal(signal.SIGTERM)
        said, _ = loop.communicate(timeout=60)
    finally:
        if loop.poll() is None:
            loop.kill()
    assert (run / "round_0" / "checkpoints" / "last.pt").exists(), said
    settings = LoopConfig.load(run / "config.json").to_dict()

    def step_to_resume(**changed) -> int | None:
        plan = plan_round(run, 0, settings | changed)
        return round_training.interrupted_step(run, 0, plan, round_training.prepare_round(run, 0, plan))

    saved = torch.load(run / "round_0" / "checkpoints" / "last.pt", weights_only=False)["step"]
    assert step_to_resume() == saved > 0
    assert step_to_resume(train_steps=200) is None  # 100,000 steps' schedule is not 200's
    assert step_to_resume(batch_size=64) is None
    sorted((run / "round_0" / "data").glob("*.hdf5"))[-1].unlink()  # not the files it was training on
    assert step_to_resume() is None


def test_a_benchmark_stopped_by_sigterm_leaves_nothing_running(tmp_path):
    runs = tmp_path / "runs"
    bench = subprocess.Popen(
        [sys.executable, "-m", "hgdagger.benchmarks.bench_dagger", "--seeds", "0", "1", "--jobs", "2",
         "--runs", str(runs), "--out", str(tmp_path / "out"), *SMALL, "--set", "rounds=1",
         "--set", "rollouts_per_round=2", "--set", "train_steps=100000"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        for seed in (0, 1):
            _wait_for(runs / "reach" / f"seed{seed}" / "hgdagger" / "round_0" / "checkpoints" / "loss.csv", bench)
        started = _descendants(bench.pid)  # the seeds' workers and their policy servers
        assert len(started) >= 3  # two workers and multiprocessing's resource tracker, at least
        bench.send_signal(signal.SIGTERM)
        said, _ = bench.communicate(timeout=90)
    finally:
        if bench.poll() is None:
            bench.kill()
    assert bench.returncode == 143 and "Traceback" not in said, said[-3000:]
    deadline = time.monotonic() + 30
    while any(_running(p) for p in started) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not [p for p in started if _running(p)], "the benchmark's workers or policy servers outlived it"
    for seed in (0, 1):  # each worker's training saved the step it had reached
        last = runs / "reach" / f"seed{seed}" / "hgdagger" / "round_0" / "checkpoints" / "last.pt"
        assert torch.load(last, weights_only=False)["step"] > 0
