"""kill -9 of a real recorder process fed over a real ZeroMQ socket: every finished episode intact,
the interrupted one recoverable up to about its last flush; the in-process queue writer."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import zmq

from hgdagger.common import wire
from recorder.dataset import read_file
from recorder.synthetic_episodes import episode_messages
from recorder.thread_writer import QueueWriter
from teleop.record_sink import RecordForwarder
from hgdagger.common.record_queue import RecordQueue

REPO = Path(__file__).resolve().parents[1]
ENV = os.environ | {"PYTHONPATH": str(REPO)}


def start_recorder(out: Path, endpoint: str, *extra: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "hgdagger.cli.record", "--endpoint", endpoint, "--out", str(out),
                             "--flush", "0.5", *extra], cwd=REPO, env=ENV, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def wait_for(pred, timeout: float = 20.0) -> None:
    t_end = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > t_end:
            raise AssertionError("timed out")
        time.sleep(0.05)


@pytest.mark.slow
def test_kill_9_of_the_recorder_process_loses_at_most_about_a_second(tmp_path):
    out = tmp_path / "run" / "round_1" / "data"
    endpoint = f"ipc://{tmp_path}/rec.sock"
    proc = start_recorder(out, endpoint)
    push = zmq.Context.instance().socket(zmq.DEALER)  # the recorder is a ROUTER
    push.setsockopt(zmq.LINGER, 0)
    push.connect(endpoint)
    try:
        for i in range(3):
            for m in episode_messages(25, cameras=("front",), episode_id=f"e{i}", seed=i):
                wire.send(push, m)
        wait_for(lambda: len(list(out.glob("ep_*.hdf5"))) == 3)
        # the 4th episode streams at 50 Hz for ~2 s, then the recorder dies mid-episode
        sent_t = []
        for m in episode_messages(100, cameras=("front",), episode_id="e3", end=False, t0=time.time()):
            wire.send(push, m)
            if isinstance(m, wire.StepRecord):
                sent_t.append(m.timestamp)
                time.sleep(0.02)
        time.sleep(0.1)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        push.close()
        if proc.poll() is None:
            proc.kill()
    for i in range(3):  # finished episodes are intact
        (ep,) = read_file(out / f"ep_{i:04d}.hdf5")
        assert len(ep.actions) == 25 and ep.attrs["label"] == "success"
    assert (out / "ep_0003.hdf5.partial").exists()
    r = subprocess.run([sys.executable, "-m", "hgdagger.cli.recover", str(tmp_path / "run")], cwd=REPO, env=ENV,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert "recovered" in r.stdout and "ep_0003.hdf5" in r.stdout
    (ep,) = read_file(out / "ep_0003.hdf5")
    assert ep.attrs["label"] == "aborted" and bool(ep.attrs["recovered"]) and not bool(ep.attrs["success"])
    from recorder.verify import verify_file

    checked = verify_file(out / "ep_0003.hdf5")  # a recovered file carries the checksums of what was recovered
    assert checked.ok and not checked.unverified, checked
    lost_s = sent_t[-1] - ep.timestamps[-1]
    assert 0 <= lost_s <= 1.2, lost_s
    assert not list(out.glob("*.partial"))


@pytest.mark.slow
def test_an_episode_killed_before_its_first_step_recovers_as_empty_not_corrupt(tmp_path):
    out = tmp_path / "run" / "round_0" / "data"
    endpoint = f"ipc://{tmp_path}/rec.sock"
    proc = start_recorder(out, endpoint)
    push = zmq.Context.instance().socket(zmq.DEALER)  # the recorder is a ROUTER
    push.setsockopt(zmq.LINGER, 0)
    push.connect(endpoint)
    try:
        start = next(iter(episode_messages(1, episode_id="e0")))
        assert isinstance(start, wire.EpisodeStart)
        wire.send(push, start)
        wait_for(lambda: (out / "ep_0000.hdf5.partial").exists())
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        push.close()
        if proc.poll() is None:
            proc.kill()
    r = subprocess.run([sys.executable, "-m", "hgdagger.cli.recover", str(tmp_path / "run")], cwd=REPO, env=ENV,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.startswith("empty-removed ") and ("nothing lost" in r.stdout or "no steps" in r.stdout), r.stdout
    assert not list(out.glob("ep_0000*"))


def test_recover_quarantines_a_file_that_is_not_hdf5_and_leaves_finished_files_alone(tmp_path):
    d = tmp_path / "round_0" / "data"
    d.mkdir(parents=True)
    (d / "ep_0000.hdf5.partial").write_bytes(b"not an hdf5 file at all")
    from recorder.recover import recover_run
    (r,) = recover_run(tmp_path)
    assert r.action == "quarantined" and (d / "ep_0000.hdf5.corrupt").exists()
    assert recover_run(tmp_path) == []


@pytest.mark.parametrize("content", [b"", bytes(512)])
def test_recover_removes_a_partial_killed_before_hdf5_wrote_its_superblock(tmp_path, content):
    """Found in CI: a recorder SIGKILLed in a burst left a partial without even HDF5's signature;
    recover quarantined it and exited 1, though nothing was in it."""
    d = tmp_path / "round_0" / "data"
    d.mkdir(parents=True)
    (d / "ep_0029.hdf5.partial").write_bytes(content)
    from recorder.recover import recover_run
    (r,) = recover_run(tmp_path)
    assert r.action == "empty-removed" and "nothing lost" in r.message and not list(d.iterdir())


def test_a_partial_still_being_written_is_readable_and_not_touched_by_recover(tmp_path):
    from recorder.recover import recover_run
    from recorder.recording_session import RecordingSession

    s = RecordingSession(tmp_path / "round_0" / "data", flush_interval=0.0)
    msgs = list(episode_messages(10, end=False))
    for m in msgs:
        s.handle(m)
    (r,) = recover_run(tmp_path)
    assert r.action == "skipped-locked"
    import h5py
    with h5py.File(s.writer.path, "r", swmr=True) as f:  # a live reader sees the flushed steps
        assert f["data/demo_0/actions"].shape == (10, 8)
    s.close()


def test_queue_writer_drains_the_runtime_queue_without_blocking_the_producer(tmp_path):
    q = RecordQueue(maxsize=64)
    w = QueueWriter(q, tmp_path / "round_0" / "data")
    worst = 0.0
    for i in range(3):
        for m in episode_messages(40, cameras=("front",), episode_id=f"q{i}", seed=i):
            t0 = time.perf_counter()
            q.put(m)
            worst = max(worst, time.perf_counter() - t0)
            time.sleep(0.002)
    w.close()
    assert worst < 0.01  # put never waits on the disk
    assert w.stats.steps_written + q.dropped == 120 and w.stats.episodes_finished == 3 and not w.error
    assert q.dropped == 0
    eps = [read_file(p)[0] for p in sorted((tmp_path / "round_0" / "data").glob("ep_*.hdf5"))]
    assert [len(e.actions) for e in eps] == [40, 40, 40]
    assert np.all(eps[0].source[5:9] == 1)


@pytest.mark.slow
def test_runtime_record_forwarder_feeds_hgd_record_end_to_end(tmp_path):
    from teleop.record_sink import RecordForwarder

    out = tmp_path / "round_0" / "data"
    endpoint = f"ipc://{tmp_path}/fwd.sock"
    proc = start_recorder(out, endpoint, "--seconds", "30")
    q = RecordQueue(maxsize=256)
    fwd = RecordForwarder(q, endpoint)
    for i in range(2):
        for m in episode_messages(30, cameras=("front",), episode_id=f"f{i}", seed=i):
            q.put(m)
            time.sleep(0.005)
    fwd.close()
    wait_for(lambda: len(list(out.glob("ep_*.hdf5"))) == 2)
    proc.send_signal(signal.SIGINT)  # Ctrl-C: a clean stop that prints the stats
    stdout, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 0, stderr
    import json
    stats = json.loads(stdout[stdout.index("{"):])
    assert stats["steps_written"] == 60 and stats["episodes_finished"] == 2 and stats["step_gaps"] == 0
    assert q.dropped == 0 and fwd.dropped == 0
    assert [len(read_file(p)[0].actions) for p in sorted(out.glob("ep_*.hdf5"))] == [30, 30]


def test_hgd_record_refuses_a_folder_another_recorder_holds(tmp_path):
    from recorder.recording_session import RecordingSession

    s = RecordingSession(tmp_path / "d")
    try:
        r = subprocess.run([sys.executable, "-m", "hgdagger.cli.record", "--out", str(tmp_path / "d"),
                            "--endpoint", f"ipc://{tmp_path}/x.sock", "--seconds", "1"], cwd=REPO, env=ENV,
                           capture_output=True, text=True, timeout=60)
    finally:
        s.close()
    assert r.returncode == 2 and "already being recorded into" in r.stderr and "Traceback" not in r.stderr


KILLED_WHILE_FINALISING = r"""
import os, sys, h5py
from pathlib import Path
from recorder.episode_writer import EpisodeMeta, EpisodeWriter
from recorder.synthetic_episodes import episode_messages
from hgdagger.common import wire
w = EpisodeWriter(Path(sys.argv[1]), EpisodeMeta(task="reach"))
for m in episode_messages(40):
    if isinstance(m, wire.StepRecord):
        w.append(m)
w.flush(); w.f.close()
f = h5py.File(w.path, "r+", libver="latest")   # the window in finish(): final attributes being set
f["data/demo_0"].attrs["label"] = "success"
f["data/demo_0"].attrs["num_samples"] = 40
f.flush()
os.kill(os.getpid(), 9)
"""


def test_a_kill_while_the_final_attributes_are_written_is_recovered_with_its_label(tmp_path):
    from recorder.h5flags import superblock_checksum_ok
    from recorder.recover import recover_run

    final = tmp_path / "round_0" / "data" / "ep_0000.hdf5"
    final.parent.mkdir(parents=True)
    r = subprocess.run([sys.executable, "-c", KILLED_WHILE_FINALISING, str(final)], cwd=REPO, env=ENV, timeout=60)
    assert r.returncode == -9
    partial = final.with_name(final.name + ".partial")
    import h5py
    with pytest.raises(OSError, match="already open for write"):
        h5py.File(partial, "r")
    (rec,) = recover_run(tmp_path)
    assert rec.action == "recovered" and rec.steps == 40
    (ep,) = read_file(final)
    assert ep.attrs["label"] == "success" and len(ep.actions) == 40 and superblock_checksum_ok(final)


@pytest.mark.slow
def test_a_curve_recorder_records_a_keyed_robot_and_ignores_everyone_else(tmp_path):
    """hgd-record bound beyond loopback only with CURVE: a robot holding a key it admits is
    recorded; a sender without keys, or with a key it does not know, writes nothing."""
    keys = tmp_path / "keys"
    made = subprocess.run([sys.executable, "-m", "hgdagger.cli.serve", "--gen-keys", str(keys)], cwd=REPO, env=ENV,
                          capture_output=True, text=True, timeout=60)
    assert made.returncode == 0, made.stderr
    out = tmp_path / "data"
    refused = subprocess.run([sys.executable, "-m", "hgdagger.cli.record", "--endpoint", "tcp://0.0.0.0:5599",
                              "--out", str(out)], cwd=REPO, env=ENV, capture_output=True, text=True, timeout=60)
    assert refused.returncode == 2 and "no CURVE" in refused.stderr and not out.exists()

    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = start_recorder(out, f"tcp://0.0.0.0:{port}", "--curve-secret", str(keys / "server.key_secret"),
                          "--curve-clients", str(keys / "clients"))
    stranger_keys = tmp_path / "stranger"
    assert subprocess.run([sys.executable, "-m", "hgdagger.cli.serve", "--gen-keys", str(stranger_keys)], cwd=REPO,
                          env=ENV, capture_output=True, timeout=60).returncode == 0
    try:
        wait_for(lambda: out.exists())
        senders = {
            "plain": RecordForwarder(RecordQueue(), f"tcp://127.0.0.1:{port}"),
            "stranger": RecordForwarder(RecordQueue(), f"tcp://127.0.0.1:{port}",
                                        curve_server_public_file=str(keys / "server.key"),
                                        curve_client_secret_file=str(stranger_keys / "robot.key_secret")),
            "robot": RecordForwarder(RecordQueue(), f"tcp://127.0.0.1:{port}",
                                     curve_server_public_file=str(keys / "server.key"),
                                     curve_client_secret_file=str(keys / "robot.key_secret")),
        }
        for name, fwd in senders.items():
            for m in episode_messages(5, episode_id=name):
                fwd.records.put(m)
        for fwd in senders.values():
            fwd.close()
        wait_for(lambda: len(list(out.glob("ep_*.hdf5"))) >= 1)
        time.sleep(1.0)  # whatever else would arrive has arrived
    finally:
        proc.terminate()
        proc.wait(20)
    files = sorted(out.glob("ep_*.hdf5"))
    assert len(files) == 1
    (ep,) = read_file(files[0])
    assert len(ep.actions) == 5


@pytest.mark.slow
def test_a_recorder_killed_during_a_burst_loses_only_what_was_in_flight(tmp_path):
    """A burst of 3-step episodes faster than the recorder writes them; the recorder is killed
    mid-burst and started again. The backlog waited in the runtime's queue (back-pressure), so only
    what was in flight between the processes (the two high-water marks) can be lost."""
    out = tmp_path / "run" / "round_0" / "data"
    endpoint = f"ipc://{tmp_path}/rec.sock"
    proc = start_recorder(out, endpoint)
    wait_for(lambda: out.exists())
    records = RecordQueue(maxsize=100_000)  # the runtime's queue: large enough that it drops nothing here
    fwd = RecordForwarder(records, endpoint)
    episodes = 600
    for i in range(episodes):
        for m in episode_messages(3, episode_id=f"b{i}", seed=i, takeover=None):
            records.put(m)
    try:
        wait_for(lambda: len(list(out.glob("ep_*.hdf5"))) >= 20, timeout=60)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        assert records.size() > 100 * 5  # the kill really came in the middle of the burst
        recover = subprocess.run([sys.executable, "-m", "hgdagger.cli.recover", str(tmp_path / "run")], cwd=REPO,
                                 env=ENV, capture_output=True, text=True, timeout=60)
        assert recover.returncode == 0, recover.stdout + recover.stderr
        proc = start_recorder(out, endpoint)  # the same folder and endpoint: the forwarder reconnects
        wait_for(lambda: records.empty(), timeout=120)
        fwd.close(timeout=30)
        wait_for(lambda: sum(1 for _ in out.glob("ep_*.hdf5")) >= episodes - 200, timeout=60)
        time.sleep(1.0)
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(20)
    complete = 0
    for path in out.glob("ep_*.hdf5"):
        (ep,) = read_file(path)
        complete += len(ep.actions) == 3 and ep.attrs["label"] == "success"
    lost = episodes - complete
    # In flight: the forwarder's 100 + the recorder's 200 queued messages (5 an episode), what the
    # two 64 KiB kernel buffers held, and the episodes the recorder had read but not yet closed.
    # Measured 77-119 of 600; before back-pressure the recorder's 10,000-message queue held the burst.
    print(f"burst kill: {lost} of {episodes} episodes lost (all in flight), {fwd.dropped} dropped by the forwarder")
    assert fwd.dropped == 0 and lost <= 150, (lost, complete)
