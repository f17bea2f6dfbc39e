"""The commands: hgd-serve and hgd-run as real processes, records arriving at a recorder socket."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from recorder.dataset import read_file

ROOT = Path(__file__).resolve().parents[1]


def _cmd(module: str, *args: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", module, *args], cwd=ROOT, capture_output=True, text=True, timeout=60, **kw)


@pytest.mark.parametrize("module,words", [("hgdagger.cli.serve", ["--policy", "CURVE", "Example"]),
                                          ("hgdagger.cli.run_robot", ["--mode", "rtc", "ensemble", "hold"])])
def test_help_teaches(module, words):
    out = _cmd(module, "--help")
    assert out.returncode == 0 and all(w in out.stdout for w in words)


def test_clear_errors_without_tracebacks():
    out = _cmd("hgdagger.cli.serve", "--policy", "expert:nope")
    assert out.returncode == 2 and "unknown task" in out.stderr and "Traceback" not in out.stderr
    out = _cmd("hgdagger.cli.run_robot", "--server", "ipc:///tmp/hgd-nobody-here", "--task", "reach", "--no-realtime",
               "--connect-timeout", "1")
    assert out.returncode == 2 and "is `hgd-serve` running" in out.stderr and "Traceback" not in out.stderr


@pytest.mark.slow
def test_serve_and_run_record_every_step_with_their_own_recorder(tmp_path):
    srv_ep, data = f"ipc://{tmp_path}/srv", tmp_path / "run" / "round_1" / "data"
    srv = subprocess.Popen([sys.executable, "-m", "hgdagger.cli.serve", "--policy", "expert:reach", "--endpoint", srv_ep],
                           cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert "serving" in srv.stdout.readline()
        out = _cmd("hgdagger.cli.run_robot", "--server", srv_ep, "--task", "reach", "--max-steps", "80",
                   "--out", str(data), "--report", str(tmp_path / "rep.json"))
        assert out.returncode == 0, out.stderr
    finally:
        srv.kill()
    rep = json.loads((tmp_path / "rep.json").read_text())[0]
    assert rep["saved"] and rep["success"] and rep["verdict"] == "success" and rep["labelled_by"] == "task"
    ep = read_file(data / "ep_0000.hdf5")[0]
    assert len(ep.actions) == rep["steps"] and ep.attrs["kind"] == "rollout" and ep.attrs["label"] == "success"
    assert ep.attrs["task_verdict"] == "success"
    assert f"saved {data}/ep_0000.hdf5 ({rep['steps']} steps)" in out.stdout


def test_hgd_serve_stops_on_sigint_even_as_a_background_job(tmp_path):
    """A shell starts `hgd-serve ... &` with SIGINT ignored; `kill -INT` (or ctrl-c sent to the group)
    must still stop it cleanly, as it stops hgd-record."""
    import signal
    import time

    proc = subprocess.Popen([sys.executable, "-m", "hgdagger.cli.serve", "--policy", "toy", "--endpoint", f"ipc://{tmp_path}/s"],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
    try:
        assert any("serving" in line for line in iter(proc.stdout.readline, ""))  # after its warm-up log lines
        time.sleep(0.3)
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=20) == 0
    finally:
        proc.kill()
