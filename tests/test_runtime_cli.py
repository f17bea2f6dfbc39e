"""The commands: hgd-serve and hgd-run as real processes, records arriving at a recorder socket."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import zmq

from hgdagger.common import wire

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
def test_serve_and_run_forward_every_step_to_the_recorder(tmp_path):
    srv_ep, rec_ep = f"ipc://{tmp_path}/srv", f"ipc://{tmp_path}/rec"
    pull = zmq.Context.instance().socket(zmq.PULL)
    pull.bind(rec_ep)
    srv = subprocess.Popen([sys.executable, "-m", "hgdagger.cli.serve", "--policy", "expert:reach", "--endpoint", srv_ep],
                           cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert "serving" in srv.stdout.readline()
        out = _cmd("hgdagger.cli.run_robot", "--server", srv_ep, "--task", "reach", "--max-steps", "80",
                   "--record-to", rec_ep, "--report", str(tmp_path / "rep.json"))
        assert out.returncode == 0, out.stderr
        msgs = []
        while pull.poll(500):
            msgs.append(wire.decode(pull.recv_multipart(copy=False)))
    finally:
        srv.kill()
        pull.close(0)
    rep = json.loads((tmp_path / "rep.json").read_text())[0]
    steps = [m for m in msgs if isinstance(m, wire.StepRecord)]
    assert isinstance(msgs[0], wire.EpisodeStart) and isinstance(msgs[-1], wire.EpisodeEnd)
    assert len(steps) == rep["steps"] and rep["success"]
    assert [m.header.seq for m in msgs] == list(range(1, len(msgs) + 1))  # no gaps
    assert {m.header.episode_id for m in msgs} == {msgs[0].header.episode_id}


def test_hgd_serve_stops_on_sigint_even_as_a_background_job(tmp_path):
    """A shell starts `hgd-serve ... &` with SIGINT ignored; `kill -INT` (or ctrl-c sent to the group)
    must still stop it cleanly, as it stops hgd-record."""
    import signal
    import time

    proc = subprocess.Popen([sys.executable, "-m", "hgdagger.cli.serve", "--policy", "toy", "--endpoint", f"ipc://{tmp_path}/s"],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
    try:
        assert "serving" in proc.stdout.readline()
        time.sleep(0.3)
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=20) == 0
    finally:
        proc.kill()
