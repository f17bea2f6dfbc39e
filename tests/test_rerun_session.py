"""Live sessions in rerun (--rerun on the session commands): real hgd-rehearse / hgd-collect processes
on the sim, a real policy server, the .rrd read back with rerun's own reader and held against the
HDF5 files the same records made."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

pytest.importorskip("rerun", reason="the viewer extra (rerun-sdk) is not installed")

from operator_helpers import Operator, Session  # noqa: E402
from rerun_files import read_rrd, scalars, states, texts  # noqa: E402
from hgdagger.cli.session_rerun import RerunTap  # noqa: E402
from hgdagger.common.record_queue import RecordQueue  # noqa: E402
from recorder.rerun_log import RerunLog, RerunTarget  # noqa: E402
from recorder.synthetic_episodes import episode_messages  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
JOINTS = [f"joint{i}" for i in range(1, 8)] + ["gripper"]  # the sim arm's own joint names


@pytest.fixture
def doubting_server(tmp_path):
    """A policy server whose replies carry doubt (the toy policy with noise between samples)."""
    endpoint = f"ipc://{tmp_path}/srv"
    proc = subprocess.Popen([sys.executable, "-m", "hgdagger.cli.serve", "--endpoint", endpoint, "--log-level", "WARNING",
                             "--policy", "toy", "--toy-noise", "0.2", "--doubt-samples", "4"],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    line = proc.stdout.readline()
    assert "serving" in line, line + proc.stdout.read()
    yield endpoint
    proc.kill()
    proc.wait()


def recorded(folder: Path) -> list[dict[str, np.ndarray]]:
    out = []
    for path in sorted(folder.glob("ep_*.hdf5")):
        with h5py.File(path, "r") as f:
            g = f["data/demo_0"]
            out.append({k: g[k][()] for k in ("actions", "source", "intervention", "obs/joint_pos")})
    return out


@pytest.mark.slow
def test_a_supervised_session_in_rerun_holds_every_recorded_step_takeover_and_the_doubt(tmp_path, doubting_server):
    rrd, data = tmp_path / "session.rrd", tmp_path / "data"
    out = subprocess.run([sys.executable, "-m", "hgdagger.cli.rehearse", "--robot", "reach", "--server", doubting_server,
                          "--takeover-at", "1.0", "--episodes", "2", "--cameras", "front", "--image-size", "48x64",
                          "--out", str(data), "--rerun", str(rrd), "--intent-endpoint", f"ipc://{tmp_path}/intent"],
                         cwd=ROOT, capture_output=True, text=True, timeout=240)
    said = out.stdout + out.stderr
    assert f"logging to rerun: {rrd}" in said and out.stdout.count("saved ") == 2, said
    episodes = recorded(data)
    total = sum(len(e["actions"]) for e in episodes)
    assert f"rerun: {total} steps of 2 episodes sent to {rrd}" in said, said

    rows = read_rrd(rrd)
    assert {f"/joints/{j}/{what}" for j in JOINTS for what in ("target", "position")} <= set(rows)
    assert [r["step"] for r in rows["/cameras/front"]] == list(range(total))  # every step, none dropped
    start = 0
    for ep in episodes:  # the same records: what rerun shows is what was saved, value for value
        n = len(ep["actions"])
        for i, j in enumerate(JOINTS):
            steps, target = scalars(rows, f"/joints/{j}/target")
            assert np.array_equal(target[start:start + n], ep["actions"][:, i])
            if j != "gripper":
                assert np.allclose(scalars(rows, f"/joints/{j}/position")[1][start:start + n], ep["obs/joint_pos"][:, i])
        episode_steps = [r["episode_step"] for r in rows["/joints/joint1/target"][start:start + n]]
        assert episode_steps == list(range(n))
        start += n

    driver = dict(states(rows, "/control/driver"))
    sources = np.concatenate([e["source"] for e in episodes])
    changes = [0] + [t for t in range(1, total) if sources[t] != sources[t - 1]]
    assert list(driver) == changes and {"policy", "human"} <= set(driver.values())
    taken = [s for s, t in texts(rows) if t.startswith("TAKEOVER")]
    went = np.concatenate([e["intervention"] for e in episodes])
    assert taken == [t for t in range(1, total) if went[t] and not went[t - 1]] and len(taken) == 2
    doubt_steps, doubt = scalars(rows, "/policy/doubt")
    assert len(doubt) >= 5 and np.all(doubt > 0.05)  # 0.2 rad of noise between samples: well past the line
    assert doubt_steps == sorted(set(doubt_steps))  # once per step at most


@pytest.mark.slow
def test_collect_unrecorded_still_logs_to_rerun_and_the_file_has_the_steps(tmp_path):
    """--no-record with --rerun: nothing is kept as training data, the viewer still sees every step."""
    rrd, intent = tmp_path / "look.rrd", f"ipc://{tmp_path}/intent"
    s = Session("hgdagger.cli.collect", "--robot", "reach", "--episodes", "1", "--cameras", "", "--max-steps", "40",
                "--intent-endpoint", intent, "--no-record", "--rerun", str(rrd))
    op = None
    try:
        s.expect("press n / X to start episode 1 of 1")
        op = Operator(intent)
        op.press("start")
        s.expect("episode over")
        op.press("success")
        said = s.finish()
    finally:
        if op:
            op.close()
        if s.proc.poll() is None:
            s.proc.kill()
    assert s.proc.returncode == 0, said
    assert "rerun: 40 steps of 1 episode" in said, said
    rows = read_rrd(rrd)
    assert [r["step"] for r in rows["/joints/joint1/target"]] == list(range(40))
    assert "/policy/doubt" not in rows and "/cameras/front" not in rows  # no policy, no camera: nothing made up
    assert texts(rows)[-1][1] == "episode 1 ends: success (the task's check: failure), 40 steps"  # the label is the person's


@pytest.mark.parametrize("flag, says", [
    ("--rerun look.txt", "a rerun file must end in .rrd"),
    ("--rerun-connect rerun+http://127.0.0.1:{port}/proxy", "no rerun viewer answers at"),
])
def test_a_rerun_mistake_stops_the_session_before_anything_starts(tmp_path, flag, says):
    import socket

    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    name, value = flag.format(port=port).split()
    out = subprocess.run([sys.executable, "-m", "hgdagger.cli.collect", "--robot", "reach", "--cameras", "",
                          "--intent-endpoint", f"ipc://{tmp_path}/intent", "--out", str(tmp_path / "data"),
                          name, str(tmp_path / value) if name == "--rerun" else value],
                         cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and says in out.stderr, out.stderr
    assert len(out.stderr.strip().splitlines()) == 1 and not (tmp_path / "data").exists()


def test_the_tap_never_holds_back_the_recorder_and_counts_what_the_viewer_missed(tmp_path):
    """Drop policy: a full viewer queue drops the viewer's copy, counted; the recorder's copy always goes on."""
    inner = RecordQueue(4096)
    tap = RerunTap(RerunLog(RerunTarget(save=tmp_path / "t.rrd")), inner, maxsize=2)
    messages = list(episode_messages(300, cameras=("front",), image_size=(96, 128)))
    started = time.perf_counter()
    for msg in messages:
        assert tap.put(msg)
    put_s = time.perf_counter() - started
    line = tap.close()
    assert inner.size() == len(messages) and tap.dropped == 0
    logged = len(read_rrd(tmp_path / "t.rrd").get("/cameras/front", []))
    steps = sum(1 for m in messages if type(m).__name__ == "StepRecord")
    assert tap.viewer_dropped > 0 and logged + tap.viewer_dropped >= steps  # dropped, or logged: never lost silently
    assert f"({tap.viewer_dropped} records dropped" in line
    assert put_s < 0.5, f"putting {len(messages)} records took {put_s:.3f} s: the loop must never wait on the viewer"
