"""OpenCV camera capture on its own thread, fed by a real video file written with cv2.VideoWriter."""

from __future__ import annotations

import time

import cv2
import numpy as np
import pytest

from teleop.cameras import CameraConfig, CameraError, CameraSet, CameraStream

FPS = 40.0


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    path = tmp_path_factory.mktemp("cam") / "clip.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), FPS, (64, 48))
    assert writer.isOpened()
    for i in range(20):  # frame i is a flat grey of level 10*i (BGR), so a frame tells its index
        writer.write(np.full((48, 64, 3), 10 * i, np.uint8))
    writer.release()
    return str(path)


def wait_for(cond, timeout=3.0):
    t0 = time.monotonic()
    while not cond() and time.monotonic() - t0 < timeout:
        time.sleep(0.01)
    return cond()


def test_file_frames_arrive_in_rgb_at_the_configured_size_with_capture_timestamps(video):
    cam = CameraStream(CameraConfig("front", video, height=24, width=32))
    try:
        assert wait_for(lambda: cam.newest() is not None)
        before = time.time()
        first = cam.newest()
        assert first.image.shape == (24, 32, 3) and first.image.dtype == np.uint8
        assert first.timestamp <= before and before - first.timestamp < 0.5
        assert wait_for(lambda: cam.newest().seq > first.seq + 3)
        later = cam.newest()
        assert later.timestamp > first.timestamp
    finally:
        cam.close()


def test_newest_never_blocks_and_the_file_replays_at_its_own_rate_looping(video):
    cam = CameraStream(CameraConfig("front", video, height=48, width=64))
    try:
        time.sleep(1.0)  # 40 frames at 40 fps: the 20-frame clip has looped
        t0 = time.perf_counter()
        for _ in range(1000):
            cam.newest()
        assert (time.perf_counter() - t0) / 1000 < 1e-4  # no waiting on the camera
        assert cam.frames >= 30 and 30 <= cam.fps <= 50
    finally:
        cam.close()


def test_frames_nobody_read_are_counted_as_dropped(video):
    cam = CameraStream(CameraConfig("front", video, height=48, width=64))
    try:
        time.sleep(0.5)
        assert cam.dropped >= cam.frames - 2 > 5  # nothing was read: all but the newest were dropped
        dropped = cam.dropped
        for _ in range(20):  # now read faster than frames come: none dropped
            cam.newest()
            time.sleep(0.005)
        assert cam.dropped - dropped <= 2
        stats = cam.stats()
        assert stats["status"] == "ok" and stats["frames"] > 0
    finally:
        cam.close()


def test_missing_device_file_and_unreadable_file_are_clear_errors(tmp_path):
    with pytest.raises(CameraError, match="/dev/video97 does not exist"):
        CameraStream(CameraConfig("front", 97))
    with pytest.raises(CameraError, match="does not exist"):
        CameraStream(CameraConfig("front", str(tmp_path / "none.mp4")))
    bogus = tmp_path / "bogus.avi"
    bogus.write_bytes(b"not a video")
    with pytest.raises(CameraError, match="could not open"):
        CameraStream(CameraConfig("front", str(bogus)))


def test_camera_set_gives_observation_images_and_a_generated_stream(video):
    cams = CameraSet([CameraConfig("front", video, height=48, width=64), CameraConfig("wrist", "pattern", height=32, width=40, fps=60)])
    try:
        assert cams.shapes() == {"front": (48, 64), "wrist": (32, 40)}
        images = cams.newest()  # shapes are fixed even before the first frame
        assert images["front_rgb"].shape == (48, 64, 3) and images["wrist_rgb"].shape == (32, 40, 3)
        assert wait_for(lambda: all(a is not None and a < 0.2 for a in cams.ages().values()))
        assert cams.newest()["wrist_rgb"].any()
    finally:
        cams.close()
