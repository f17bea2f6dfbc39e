"""The episode writer and the recording session: layout, readability by the training reader,
episode boundaries, bad records, locking, full disks and read-only folders."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import h5py
import numpy as np
import pytest

from hgdagger.common import wire
from recorder.dataset import load_episodes, read_file
from recorder import layout
from recorder.recording_session import FolderLocked, RecordingSession
from recorder.synthetic_episodes import episode_messages, step_message

REPO = Path(__file__).resolve().parents[1]


def record(folder: Path, *episodes: list, **kw) -> RecordingSession:
    s = RecordingSession(folder, **kw)
    for msgs in episodes:
        for m in msgs:
            s.handle(m)
    return s


def test_written_episode_is_read_back_by_the_training_reader(tmp_path):
    folder = tmp_path / "run" / "round_2" / "data"
    msgs = list(episode_messages(30, cameras=("front", "wrist"), takeover=(5, 12), seed=3))
    s = record(folder, msgs, image_storage="raw")  # bit-exact frames (JPEG: tests/test_recorder_images.py)
    s.close()
    assert s.stats.steps_written == 30 and s.stats.episodes_finished == 1 and not s.stats.error
    path = folder / "ep_0000.hdf5"
    assert path.exists() and not list(folder.glob("*.partial"))
    (ep,) = read_file(path)
    steps = [m for m in msgs if isinstance(m, wire.StepRecord)]
    np.testing.assert_array_equal(ep.actions, np.stack([m.action for m in steps]))
    np.testing.assert_array_equal(ep.obs["front_rgb"], np.stack([m.observation["front_rgb"] for m in steps]))
    np.testing.assert_array_equal(ep.source, [m.source for m in steps])
    np.testing.assert_array_equal(ep.intervention, [m.intervention for m in steps])
    np.testing.assert_array_equal(ep.timestamps, [m.timestamp for m in steps])
    assert ep.intervention[5:12].all() and not ep.intervention[:5].any()
    assert ep.attrs["num_samples"] == 30 and ep.attrs["label"] == "success" and bool(ep.attrs["success"])
    assert ep.attrs["kind"] == "rollout" and ep.attrs["operator"] == "alice" and ep.attrs["checkpoint"] == "ckpt-a"
    assert ep.attrs["round"] == 2 and ep.attrs["started_at"] > 0
    assert len(load_episodes([folder])) == 1
    with h5py.File(path) as f:
        d = f["data"]
        assert d.attrs["total"] == 30 and d.attrs["round"] == 2 and d.attrs["schema_version"] == 1
        env = json.loads(d.attrs["env_args"])
        assert env["type"] == 2 and env["env_name"] == "reach" and env["seed"] == 3
        g = d["demo_0"]
        assert g["obs/front_rgb"].chunks == (1, 48, 64, 3) and g["obs/front_rgb"].dtype == np.uint8
        assert g["obs/front_rgb"].compression is None and g["obs/joint_pos"].compression == "lzf"
        for name in ("policy_actions", "human_actions", "rewards", "dones", "chunk_id", "chunk_index", "checkpoint"):
            assert g[name].shape[0] == 30, name
        assert np.isnan(g["human_actions"][0]).all() and np.isfinite(g["human_actions"][6]).all()
        assert g["checkpoint"][0] == b"ckpt-a" and g["chunk_id"][15] == 1


def test_episodes_get_consecutive_files_and_an_unended_episode_is_kept_as_aborted(tmp_path):
    folder = tmp_path / "round_0" / "data"
    s = record(folder, list(episode_messages(10, episode_id="a", end=False)),
               list(episode_messages(12, episode_id="b", outcome="failure")),
               list(episode_messages(5, kind="demo", takeover=None, episode_id="c", outcome="discard")))
    s.close()
    labels = [read_file(folder / layout.episode_name(i))[0].attrs["label"] for i in range(3)]
    assert labels == ["aborted", "failure", "discard"]
    assert read_file(folder / "ep_0000.hdf5")[0].attrs["num_samples"] == 10
    s2 = record(folder, list(episode_messages(3)))  # a new session continues the numbering
    s2.close()
    assert (folder / "ep_0003.hdf5").exists()


def test_malformed_steps_and_stray_records_are_refused_and_counted(tmp_path):
    rng = np.random.default_rng(0)
    s = RecordingSession(tmp_path / "d")
    s.handle(step_message(0, rng))  # no episode open
    msgs = list(episode_messages(6))
    for m in msgs[:4]:
        s.handle(m)
    bad = step_message(3, rng)
    bad.action = np.zeros(5)
    s.handle(bad)
    gap = step_message(7, rng)  # steps 3..6 missing -> counted as a gap of 4
    s.handle(gap)
    s.handle(msgs[-1])
    s.close()
    assert s.stats.steps_without_episode == 1 and s.stats.records_refused == 1 and s.stats.step_gaps == 4
    (ep,) = read_file(tmp_path / "d" / "ep_0000.hdf5")
    assert len(ep.actions) == 4


def test_an_episode_whose_start_was_dropped_is_opened_from_its_steps_not_lost(tmp_path):
    folder = tmp_path / "round_0" / "data"
    first = list(episode_messages(8, episode_id="a", end=False))
    second = list(episode_messages(6, episode_id="b", task="reach", seed=1))[1:]  # EpisodeStart lost
    s = record(folder, first, second)
    s.close()
    assert s.stats.implicit_starts == 1 and s.stats.steps_written == 14
    a, b = read_file(folder / "ep_0000.hdf5")[0], read_file(folder / "ep_0001.hdf5")[0]
    assert a.attrs["label"] == "aborted" and len(a.actions) == 8
    assert b.attrs["label"] == "success" and bool(b.attrs["start_missing"]) and b.attrs["episode_id"] == "b"
    assert len(b.actions) == 6


def test_lookup3_matches_the_published_test_vectors():
    from recorder.h5flags import lookup3
    assert lookup3(b"") == 0xDEADBEEF
    assert lookup3(b"Four score and seven years ago") == 0x17770551
    assert lookup3(b"Four score and seven years ago", 1) == 0xCD628161


def test_two_recorders_on_one_folder_fail_clearly_and_the_lock_dies_with_its_process(tmp_path):
    folder = tmp_path / "d"
    s = RecordingSession(folder)
    with pytest.raises(FolderLocked, match="already being recorded into"):
        RecordingSession(folder)
    s.close()
    RecordingSession(folder).close()  # released on close
    code = ("import os, time, sys; from recorder.recording_session import RecordingSession;"
            f"s = RecordingSession({str(folder)!r}); print('locked', flush=True); time.sleep(60)")
    p = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, cwd=REPO,
                         env=os.environ | {"PYTHONPATH": str(REPO)})
    try:
        assert p.stdout.readline().strip() == "locked"
        with pytest.raises(FolderLocked, match=f"pid {p.pid}"):
            RecordingSession(folder)
    finally:
        p.kill()
        p.wait()
    RecordingSession(folder).close()  # kill -9 left no stale lock


DISK_FULL = r"""
import resource, signal, sys
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)   # a write past the limit fails with EFBIG instead
from recorder.recording_session import RecordingSession
from recorder.synthetic_episodes import episode_messages
s = RecordingSession(sys.argv[1], flush_interval=0.0)
for m in episode_messages(20, cameras=("front",), episode_id="a"):
    s.handle(m)
print("first done", flush=True)
resource.setrlimit(resource.RLIMIT_FSIZE, (3_000_000, 3_000_000))
for m in episode_messages(400, cameras=("front",), image_size=(96, 128), episode_id="b"):
    s.handle(m)
print("ERROR:", s.stats.error)
print("REFUSED:", s.stats.records_refused)
s.close()
"""


def test_disk_full_stops_recording_with_a_clear_error_and_damages_nothing(tmp_path):
    folder = tmp_path / "round_0" / "data"
    r = subprocess.run([sys.executable, "-c", DISK_FULL, str(folder)], capture_output=True, text=True, cwd=REPO,
                       env=os.environ | {"PYTHONPATH": str(REPO)}, timeout=60)
    assert r.returncode == 0, r.stderr
    assert "recording stopped" in r.stdout and "disk full" in r.stdout
    refused = int(r.stdout.split("REFUSED:")[1].split()[0])
    assert refused > 0
    (ep,) = read_file(folder / "ep_0000.hdf5")  # the finished episode is intact
    assert len(ep.actions) == 20
    from recorder.recover import recover_run
    (rec,) = recover_run(tmp_path)  # the interrupted one keeps what was flushed
    assert rec.action == "recovered" and rec.steps > 0
    (ep2,) = read_file(folder / "ep_0001.hdf5")
    assert ep2.attrs["label"] == "aborted" and len(ep2.actions) == rec.steps


READ_ONLY = r"""
import os, sys
from recorder.recording_session import RecordingSession   # imported before dropping privileges
from recorder.episode_writer import RecordError
os.setgid(65534); os.setuid(65534)
try:
    RecordingSession(sys.argv[1])
except RecordError as e:
    print("ERR", e)
"""


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to drop to an unprivileged user")
def test_read_only_folder_is_refused_with_a_clear_error():
    base = Path(tempfile.mkdtemp())
    try:
        os.chmod(base, 0o555)
        r = subprocess.run([sys.executable, "-c", READ_ONLY, str(base)], capture_output=True, text=True,
                           cwd=REPO, env=os.environ | {"PYTHONPATH": str(REPO)}, timeout=60)
        if "Permission denied" in r.stderr and "ERR" not in r.stdout:
            pytest.skip("the unprivileged user cannot run this Python")
        assert "ERR" in r.stdout and "not writable" in r.stdout, r.stdout + r.stderr
    finally:
        os.chmod(base, 0o755)
        os.rmdir(base)


def test_an_episode_that_ends_before_its_first_step_leaves_no_file(tmp_path):
    from hgdagger.common import wire
    from recorder.recording_session import RecordingSession

    s = RecordingSession(tmp_path / "data", flush_interval=0.0)
    s.handle(wire.EpisodeStart(task="reach", header=wire.Header(type="episode_start", episode_id="e0")))
    s.handle(wire.EpisodeEnd(outcome="success", success=True, num_steps=0,
                             header=wire.Header(type="episode_end", episode_id="e0")))
    s.close()
    assert not list((tmp_path / "data").glob("ep_*")) and s.stats.empty_episodes == 1
