"""Camera frames on disk (recorder.image_storage): JPEG by default, small and close to what the
camera saw, standard JPEG files in the right colours, surviving a kill -9 of the recorder, decoded
by every reader of the project and by the robomimic export; lossless storages bit-exact."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import h5py
import numpy as np
import pytest

from hgdagger.common import wire
from hgdagger.common.record_queue import RecordQueue
from recorder import layout
from recorder.dataset import read_file
from recorder.image_storage import STORAGES
from recorder.recording_session import RecordingSession
from teleop.record_sink import RecordForwarder

REPO = Path(__file__).resolve().parents[1]
ENV = os.environ | {"PYTHONPATH": str(REPO)}
H, W = 96, 128


def camera_frames(n: int, seed: int = 0, channels: int = 3) -> list[np.ndarray]:
    """A smooth moving scene plus sensor noise (sigma 4), like a camera's frames."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    out = []
    for i in range(n):
        base = np.stack([128 + 60 * np.sin((xx + 5 * i) / 20), 128 + 60 * np.cos(yy / 15 + i / 8), 90 + xx], -1)
        frame = np.clip(base + rng.normal(0, 4, base.shape), 0, 255).astype(np.uint8)
        out.append(frame[..., :channels] if channels < 3 else frame)
    return out


def messages(frames: list[np.ndarray], episode_id: str = "e", key: str = "front_rgb", end: bool = True):
    start = wire.EpisodeStart(task="reach", kind="demo")
    start.header.episode_id = episode_id
    yield start
    nan = np.full(4, np.nan)
    for t, frame in enumerate(frames):
        rec = wire.StepRecord(step=t, observation={key: frame, "joint_pos": np.full(3, float(t))},
                              action=np.full(4, t / 10), policy_action=nan, human_action=nan, source=1,
                              intervention=False, timestamp=float(t))
        rec.header.episode_id = episode_id
        yield rec
    if end:
        e = wire.EpisodeEnd(outcome="success", success=True, num_steps=len(frames))
        e.header.episode_id = episode_id
        yield e


def record(folder: Path, frames, **kw) -> Path:
    s = RecordingSession(folder, fsync=False, **kw)
    for m in messages(frames):
        s.handle(m)
    s.close()
    (path,) = sorted(folder.glob("ep_*.hdf5"))
    return path


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b) ** 2))
    return 10 * np.log10(255**2 / mse)


def test_jpeg_is_the_default_and_keeps_camera_frames_close_at_a_fraction_of_the_bytes(tmp_path):
    frames = camera_frames(40)
    jpeg = record(tmp_path / "jpeg", frames)
    raw = record(tmp_path / "raw", frames, image_storage="raw")
    with h5py.File(jpeg) as f:
        assert f[f"data/{layout.DEMO}/obs/front_rgb"].attrs["image_codec"] == "jpeg"
    (ep,) = read_file(jpeg)
    back = ep.obs["front_rgb"]
    assert back.shape == (40, H, W, 3) and back.dtype == np.uint8
    assert psnr(back, np.stack(frames)) > 35  # sigma-4 sensor noise alone is ~36 dB
    np.testing.assert_array_equal(ep.obs["joint_pos"][:, 0], np.arange(40))
    assert raw.stat().st_size > 4 * jpeg.stat().st_size


def test_stored_frames_are_standard_jpeg_files_in_the_right_colours(tmp_path):
    red = np.zeros((H, W, 3), np.uint8)
    red[..., 0] = 255
    path = record(tmp_path / "d", [red] * 3)
    with h5py.File(path) as f:
        stored = f[f"data/{layout.DEMO}/obs/front_rgb"][1]
    assert bytes(stored[:2]) == b"\xff\xd8"  # a JPEG file's start-of-image marker
    bgr = cv2.imdecode(stored, cv2.IMREAD_COLOR)  # any JPEG reader: colours as stored
    assert bgr[..., 2].mean() > 240 and bgr[..., 0].mean() < 15
    assert read_file(path)[0].obs["front_rgb"][..., 0].mean() > 240


def test_grey_frames_are_jpeg_and_rgba_frames_stay_raw(tmp_path):
    grey = camera_frames(5, channels=1)
    (ep,) = read_file(record(tmp_path / "g", grey))
    assert ep.obs["front_rgb"].shape == (5, H, W, 1) and psnr(ep.obs["front_rgb"], np.stack(grey)) > 35
    rgba = [np.concatenate([f, np.full((H, W, 1), 255, np.uint8)], -1) for f in camera_frames(5)]
    path = record(tmp_path / "a", rgba)
    with h5py.File(path) as f:
        assert "image_codec" not in f[f"data/{layout.DEMO}/obs/front_rgb"].attrs
    np.testing.assert_array_equal(read_file(path)[0].obs["front_rgb"], np.stack(rgba))


@pytest.mark.parametrize("name", [n for n, s in STORAGES.items() if s.lossless])
def test_lossless_storages_give_back_every_bit(tmp_path, name):
    frames = camera_frames(6)
    (ep,) = read_file(record(tmp_path / name, frames, image_storage=name))
    np.testing.assert_array_equal(ep.obs["front_rgb"], np.stack(frames))


def test_the_robomimic_export_holds_decoded_frames_any_h5py_reader_can_use(tmp_path):
    from recorder.export import export
    from recorder.run import open_run

    frames = camera_frames(10)
    record(tmp_path / "run" / "round_0" / "data", frames)
    run = open_run(tmp_path / "run")
    out = tmp_path / "export.hdf5"
    export(run, run.episodes, out, progress=False)
    with h5py.File(out) as f:
        ds = f["data/demo_0/obs/front_rgb"]
        assert ds.dtype == np.uint8 and ds.shape == (10, H, W, 3) and "image_codec" not in ds.attrs
        assert psnr(ds[()], np.stack(frames)) > 35


def test_a_recorder_killed_mid_episode_leaves_jpeg_frames_that_recover(tmp_path):
    out = tmp_path / "run" / "round_0" / "data"
    endpoint = f"ipc://{tmp_path}/rec.sock"
    proc = subprocess.Popen([sys.executable, "-m", "hgdagger.cli.record", "--endpoint", endpoint, "--out", str(out),
                             "--flush", "0.2"], cwd=REPO, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        records = RecordQueue()
        fwd = RecordForwarder(records, endpoint)
        assert fwd.probe(timeout_s=60) is not None
        frames = camera_frames(30)
        for m in messages(frames, end=False):
            records.put(m)
        deadline = time.monotonic() + 120  # a loaded machine: the recorder may start slowly
        while time.monotonic() < deadline:
            partial = list(out.glob("*.partial"))
            try:  # before its first step the writer has not switched SWMR on: not readable yet
                with h5py.File(partial[0], "r", libver="latest", swmr=True, locking=False) as f:
                    if f[f"data/{layout.DEMO}/actions"].shape[0] == 30:
                        break
            except (OSError, KeyError, IndexError):
                pass
            time.sleep(0.1)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        fwd.close(timeout=1)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    got = subprocess.run([sys.executable, "-m", "hgdagger.cli.recover", str(tmp_path / "run")], cwd=REPO, env=ENV,
                         capture_output=True, text=True, timeout=60)
    assert got.returncode == 0, got.stdout + got.stderr
    (path,) = sorted(out.glob("ep_*.hdf5"))
    (ep,) = read_file(path)
    assert ep.attrs["label"] == layout.ABORTED and len(ep.actions) == 30
    assert psnr(ep.obs["front_rgb"], np.stack(frames)) > 35
    from recorder.verify import verify_file

    assert verify_file(path).ok


def test_an_unknown_storage_is_one_line(tmp_path):
    got = subprocess.run([sys.executable, "-m", "hgdagger.cli.record", "--out", str(tmp_path / "r"),
                          "--image-storage", "webp"], cwd=REPO, env=ENV, capture_output=True, text=True, timeout=60)
    assert got.returncode == 2 and "argument --image-storage: invalid choice: 'webp'" in got.stderr
    assert "Traceback" not in got.stderr
