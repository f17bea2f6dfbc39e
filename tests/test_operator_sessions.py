"""Sessions with a person in them (issue 16), as an operator runs them: real hgd-collect / hgd-run /
hgd-record processes, a device on the real intent socket reacting to what the command prints, and
the HDF5 files they leave. Each test is a way data was lost or polluted before."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from operator_helpers import Operator, Session, episode_attrs, seed_of

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_collect_records_by_itself_waits_for_start_keeps_discards_aside_and_honours_max_steps(tmp_path):
    """Before: nothing was recorded without a separate hgd-record (and every episode was reported a
    success); the first episode ran before any device connected; a discarded attempt was an ordinary
    file and its redo a new scene; --max-steps was cut short by the task's own 100-step limit."""
    intent, data = f"ipc://{tmp_path}/intent", tmp_path / "lab" / "round_0" / "data"
    s = Session("hgdagger.cli.collect", "--robot", "reach", "--episodes", "2", "--cameras", "", "--max-steps", "400",
                "--intent-endpoint", intent, "--out", str(data))
    op = None
    try:
        s.expect("press n / X to start episode 1 of 2")
        time.sleep(1.5)  # nobody there yet: nothing may run or be recorded
        assert not list(data.glob("ep_*"))
        op = Operator(intent)
        op.press("start")
        time.sleep(1.0)
        op.press("discard")  # episode 1, first attempt: thrown away
        s.expect("discarded: episode 1 again, on the same scene")
        s.expect("press n / X to start episode 1 of 2")
        op.press("start")
        time.sleep(7.5)  # 150 steps at 20 Hz, past reach's own 100-step limit
        op.press("success")
        s.expect("episode 1/2")
        s.expect("press n / X to start episode 2 of 2")
        op.press("start")
        time.sleep(1.0)
        op.press("failure")
        out = s.finish()
    finally:
        if op:
            op.close()
        if s.proc.poll() is None:
            s.proc.kill()
    assert s.proc.returncode == 0, out
    eps = episode_attrs(data)
    assert [e["label"] for e in eps] == ["discard", "success", "failure"], out
    assert seed_of(eps[0]) == seed_of(eps[1]) == 0 and seed_of(eps[2]) == 1  # the redo replays the scene
    assert eps[1]["steps"] > 120, "--max-steps 400 must replace the task's 100-step limit"
    assert all(e["kind"] == "demo" for e in eps)
    assert out.count(f"saved {data}/ep_") == 2 and "NOT SAVED" not in out, out
    assert f"kept aside, never trained on: {data}/ep_0000.hdf5" in out
    assert "2 episodes (1 successful), 2 saved" in out and "1 discarded attempt kept aside" in out, out
    print(out)


@pytest.mark.slow
def test_a_session_refuses_to_start_when_its_recorder_does_not_answer(tmp_path):
    """Before: --record-to a port nobody listened on ran every episode and reported each as done."""
    r = subprocess.run([sys.executable, "-m", "hgdagger.cli.collect", "--robot", "reach", "--episodes", "1",
                        "--cameras", "", "--intent-endpoint", f"ipc://{tmp_path}/intent",
                        "--record-to", f"ipc://{tmp_path}/nobody"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert r.returncode == 2, r.stdout + r.stderr
    assert "no recorder answered" in r.stderr and "Traceback" not in r.stderr
    assert "press n" not in r.stdout  # no episode was offered


@pytest.mark.slow
def test_collect_into_a_running_recorder_is_confirmed_per_episode(tmp_path):
    rec_ep, data = f"ipc://{tmp_path}/rec", tmp_path / "run" / "round_0" / "data"
    recorder = subprocess.Popen([sys.executable, "-m", "hgdagger.cli.record", "--endpoint", rec_ep, "--out", str(data)],
                                cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    op = s = None
    try:
        assert "listening" in recorder.stdout.readline()
        intent = f"ipc://{tmp_path}/intent"
        s = Session("hgdagger.cli.collect", "--robot", "reach", "--episodes", "1", "--cameras", "",
                    "--intent-endpoint", intent, "--record-to", rec_ep)
        s.expect("press n / X")
        op = Operator(intent)
        op.press("start")
        time.sleep(1.0)
        op.press("success")
        out = s.finish()
    finally:
        if op:
            op.close()
        if s:
            s.kill()
        recorder.terminate()
        recorder.wait(10)
    assert s.proc.returncode == 0, out
    line = next(x for x in out.splitlines() if x.startswith("episode 1/1"))
    assert "success" in line and f"saved {data}/ep_0000.hdf5" in line, out


@pytest.mark.slow
def test_a_session_killed_mid_episode_leaves_the_episode_closed_and_no_recorder_behind(tmp_path):
    """kill -9 of the session command: its own recorder sees its parent go, closes the open episode
    as 'aborted' (readable, every flushed step in it) and exits."""
    import os
    import signal

    intent, data = f"ipc://{tmp_path}/intent", tmp_path / "round_0" / "data"
    s = Session("hgdagger.cli.collect", "--robot", "reach", "--episodes", "1", "--cameras", "", "--max-steps", "2000",
                "--intent-endpoint", intent, "--out", str(data))
    op = Operator(intent)
    try:
        s.expect("press n / X")
        recorder_pid = int(next(p for p in os.listdir("/proc") if p.isdigit() and _is_recorder_of(p, s.proc.pid)))
        op.press("start")
        deadline = time.monotonic() + 30  # a loaded machine: the episode may take a while to begin
        while not list(data.glob("*.partial")) and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(2.0)
        os.kill(s.proc.pid, signal.SIGKILL)
        s.proc.wait(10)
        deadline = time.monotonic() + 30
        while Path(f"/proc/{recorder_pid}").exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not Path(f"/proc/{recorder_pid}").exists(), "the session's recorder outlived it"
    finally:
        op.close()
        s.kill()
    eps = episode_attrs(data)
    assert len(eps) == 1 and eps[0]["label"] == "aborted" and eps[0]["steps"] > 10, eps


def _is_recorder_of(pid: str, parent: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return int(stat.rsplit(")", 1)[1].split()[1]) == parent and b"hgdagger.cli.record" in cmdline
