"""Thread counts chosen on purpose (issue 19): the default never oversubscribes the cores, the flag
and the environment win in that order, and a real hgd-serve process runs with what was chosen."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hgdagger.common import threads

REPO = Path(__file__).resolve().parents[1]


@given(cores=st.integers(1, 256), processes=st.integers(1, 16))
def test_the_default_leaves_room_for_one_more_busy_process(cores, processes):
    n = threads.default_threads(cores, processes)
    assert 1 <= n <= threads.MAX_DEFAULT
    assert n == 1 or n * (processes + 1) <= cores  # never more threads than cores, with one process to spare


def test_two_cores_get_one_thread_whatever_runs_beside():
    # The machine: 2 cores. 2 threads beside busy processes made a training step 10x slower.
    assert [threads.default_threads(2, p) for p in (1, 2, 3)] == [1, 1, 1]
    assert threads.default_threads(8, 1) == 4 and threads.default_threads(8, 3) == 2


def test_the_flag_beats_the_environment_which_beats_the_settings(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert (threads.choose(2, settings=5).threads, threads.choose(2).source) == (2, "--threads")
    assert (threads.choose(None, settings=5).threads, threads.choose(None).source) == (3, "OMP_NUM_THREADS")
    monkeypatch.delenv("OMP_NUM_THREADS")
    assert (threads.choose(None, settings=5).threads, threads.choose(None, settings=5).source) == (5, "settings")
    monkeypatch.setenv("OMP_NUM_THREADS", "lots")  # not a count: ignored, not a crash
    assert threads.choose(None, processes=1).source == "default"


@pytest.fixture
def torch_threads_kept():
    import torch

    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def test_children_started_after_a_choice_inherit_it(monkeypatch, torch_threads_kept):
    for name in threads.THREAD_ENV:
        monkeypatch.delenv(name, raising=False)
    chosen = threads.apply(threads.choose(2), "test", say=lambda _: None)
    assert chosen.threads == 2
    out = subprocess.run([sys.executable, "-c", "import os, torch; print(torch.get_num_threads(), "
                          "os.environ['OPENBLAS_NUM_THREADS'])"], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["2", "2"]


def _serving_line(extra: list[str], env: dict[str, str], tmp_path: Path) -> str:
    proc = subprocess.Popen([sys.executable, "-m", "hgdagger.cli.serve", "--policy", "toy", "--endpoint",
                             f"ipc://{tmp_path}/srv", "--warmup-rounds", "0", *extra], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        return proc.stdout.readline()
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.mark.parametrize("extra,omp,expected", [(["--threads", "2"], None, 2), ([], "2", 2), ([], None, 1)])
def test_a_served_policy_runs_with_the_threads_chosen_for_it(extra, omp, expected, tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in threads.THREAD_ENV}
    if omp:
        env["OMP_NUM_THREADS"] = omp  # as hgd-loop plans it for the server it starts
    if threads.available_cores() > 2 and not extra and not omp:
        expected = threads.default_threads(threads.available_cores(), 2)
    line = _serving_line(extra, env, tmp_path)
    assert "serving" in line and f"torch threads {expected}," in line, line


@pytest.mark.parametrize("realtime", [True, False])
def test_the_serving_thread_runs_real_time_where_permitted_and_says_which(realtime, tmp_path):
    """A CPU-bound neighbour under the normal scheduler cannot delay a real-time thread's chunk."""
    proc = subprocess.Popen([sys.executable, "-m", "hgdagger.cli.serve", "--policy", "toy", "--endpoint",
                             f"ipc://{tmp_path}/srv", "--warmup-rounds", "0", *([] if realtime else ["--no-realtime"])],
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        policy = os.sched_getscheduler(proc.pid)  # its main thread serves
        io = [os.sched_getscheduler(int(task.name)) for task in Path(f"/proc/{proc.pid}/task").iterdir()
              if (task / "comm").read_text().startswith("ZMQbg/IO")]  # ZeroMQ's I/O threads move its messages
    finally:
        proc.terminate()
        proc.wait(10)
    assert io, "no ZeroMQ I/O thread found"
    if not realtime:
        assert line.rstrip().endswith("normal scheduler)") and policy == os.SCHED_OTHER, line
        assert set(io) == {os.SCHED_OTHER}
    elif "SCHED_FIFO priority 40" in line:
        # (and what it starts later, a reload's thread or a process, begins under the normal scheduler)
        assert policy == os.SCHED_FIFO | os.SCHED_RESET_ON_FORK, (line, policy)
        assert set(io) == {os.SCHED_FIFO}
    else:  # an OS or account that refuses: it serves all the same and says why
        assert "SCHED_FIFO refused" in line and policy == os.SCHED_OTHER and set(io) == {os.SCHED_OTHER}, line


def test_training_runs_with_the_threads_it_says(tmp_path):
    from policy_hdf5 import bimodal_episode, write_episode_file
    import numpy as np

    write_episode_file(tmp_path / "ep.hdf5", [bimodal_episode(np.random.default_rng(0))])
    tiny = ["model.net.hidden=16", "model.net.depth=1", "model.net.cond_dim=8", "model.net.obs_hidden=16",
            "model.net.time_dim=8", "batch_size=8", "warmup_steps=1"]
    env = {k: v for k, v in os.environ.items() if k not in threads.THREAD_ENV}
    out = subprocess.run([sys.executable, "-m", "hgdagger.cli.train", "--data", str(tmp_path / "ep.hdf5"), "--out",
                          str(tmp_path / "ck"), "--steps", "2", "--horizon", "4", "--quiet", "--threads", "2",
                          "--set", *tiny], cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    said = [line for line in out.stdout.splitlines() if "torch thread" in line]
    assert said == ["hgd-train: 2 torch threads (--threads; %d cores here)" % threads.available_cores()]


def test_a_thread_count_that_is_not_positive_is_a_one_line_error():
    for bad in ("0", "-2", "two"):
        out = subprocess.run([sys.executable, "-m", "hgdagger.cli.serve", "--threads", bad], cwd=REPO,
                             capture_output=True, text=True)
        assert out.returncode == 2 and "Traceback" not in out.stderr
        assert out.stderr.strip().splitlines()[-1].startswith("hgd-serve: error: argument --threads:")
