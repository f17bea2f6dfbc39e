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


# ---------------------------------------------------------------- record size and operator view
@pytest.fixture(scope="module")
def coloured_video(tmp_path_factory):
    """48x64 frames, blue in OpenCV's BGR order, with a brightness that tells the frame's index."""
    path = tmp_path_factory.mktemp("cam") / "blue.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), FPS, (64, 48))
    for i in range(20):
        writer.write(np.full((48, 64, 3), (100 + 5 * i, 0, 0), np.uint8))
    writer.release()
    return str(path)


def test_frames_are_observed_at_the_record_size_in_rgb_with_the_operator_view_kept_apart(coloured_video):
    cams = CameraSet([CameraConfig("front", coloured_video, height=48, width=64, record_size=(12, 16),
                                   operator_view=True)])
    try:
        assert cams.shapes() == {"front": (12, 16)}  # what the driver's spec and the policy see
        assert wait_for(lambda: cams.streams["front"].peek() is not None)
        image = cams.newest()["front_rgb"]
        assert image.shape == (12, 16, 3) and image.dtype == np.uint8
        assert image[..., 2].mean() > 80 > image[..., 0].mean()  # blue in BGR is blue in RGB: the last channel
        view = cams.views()["front"]
        assert view.shape == (48, 64, 3) and view[..., 2].mean() > 80 > view[..., 0].mean()
        assert abs(float(view[..., 2].mean()) - float(image[..., 2].mean())) < 3  # the same frame, shrunk
        assert set(cams.newest()) == {"front_rgb"}  # the view is never part of the observation
    finally:
        cams.close()


def test_without_operator_view_no_full_size_frame_is_kept(video):
    cams = CameraSet([CameraConfig("front", video, height=48, width=64, record_size=(24, 32))])
    try:
        assert wait_for(lambda: cams.streams["front"].peek() is not None)
        assert cams.streams["front"].peek().view is None and cams.views() == {}
        assert cams.newest()["front_rgb"].shape == (24, 32, 3)
    finally:
        cams.close()


def test_generated_frames_at_the_record_size_have_increasing_timestamps_and_sequence_numbers():
    cam = CameraStream(CameraConfig("wrist", "pattern", height=480, width=640, fps=60, record_size=(96, 128)))
    try:
        seen = []
        deadline = time.monotonic() + 3.0
        while len(seen) < 10 and time.monotonic() < deadline:
            frame = cam.newest()
            if frame is not None and (not seen or frame.seq != seen[-1].seq):
                seen.append(frame)
            time.sleep(0.005)
        assert len(seen) == 10
        assert all(f.image.shape == (96, 128, 3) and f.view is None for f in seen)
        assert all(b.seq > a.seq and b.timestamp > a.timestamp for a, b in zip(seen, seen[1:]))
        assert seen[-1].timestamp <= time.time()
    finally:
        cam.close()


def test_newest_returns_the_last_frame_at_once_while_the_camera_waits_for_the_next(tmp_path):
    path = tmp_path / "slow.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 2.0, (64, 48))  # 2 fps: 0.5 s a frame
    for i in range(4):
        writer.write(np.full((48, 64, 3), 60 * i, np.uint8))
    writer.release()
    cams = CameraSet([CameraConfig("front", str(path), height=48, width=64, record_size=(24, 32))])
    try:
        before = cams.newest()["front_rgb"]  # before the first frame: a black placeholder of the record size
        assert before.shape == (24, 32, 3) and not before.any() and not before.flags.writeable
        assert wait_for(lambda: cams.streams["front"].peek() is not None)
        first = cams.streams["front"].newest()
        t0 = time.perf_counter()
        frames = [cams.streams["front"].newest() for _ in range(200)]
        assert time.perf_counter() - t0 < 0.05  # 200 reads while the next frame is ~0.5 s away: none waited
        assert {f.seq for f in frames} <= {first.seq, first.seq + 1}
    finally:
        cams.close()


def test_record_size_from_a_config_file_is_checked():
    assert CameraConfig("front", "pattern", record_size=[96, 128]).record_size == (96, 128)  # JSON gives a list
    assert CameraConfig("front", "pattern").frame_size == (480, 640)
    for bad in ([96], [0, 128], [96.5, 128], "96x128", [True, 128]):
        with pytest.raises(CameraError, match="record_size must be"):
            CameraConfig("front", "pattern", record_size=bad)


def test_a_capture_thread_runs_under_the_real_time_priority_it_is_given_and_back_again():
    """Beside a SCHED_FIFO control loop a capture thread preempted while holding the GIL stalls the
    loop (priority inversion); given a priority below the loop's, it is not preempted by ordinary work."""
    import os
    import threading

    cams = CameraSet([CameraConfig("wrist", "pattern", height=48, width=64, fps=100, record_size=(12, 16))])
    stream = cams.streams["wrist"]
    try:
        tid = next(t.native_id for t in threading.enumerate() if t.name == "camera-wrist")
        assert stream.scheduler == "normal scheduler" and os.sched_getscheduler(tid) == os.SCHED_OTHER
        cams.rt_priority = 10
        assert wait_for(lambda: stream.scheduler != "normal scheduler") and cams.rt_priority == 10
        if stream.scheduler.startswith("SCHED_FIFO"):  # permitted here (root, CAP_SYS_NICE or an rtprio limit)
            assert os.sched_getscheduler(tid) == os.SCHED_FIFO and os.sched_getparam(tid).sched_priority == 10
        else:  # refused: it says so and keeps capturing under the normal scheduler
            assert "refused" in stream.scheduler and os.sched_getscheduler(tid) == os.SCHED_OTHER
        assert stream.stats()["scheduler"] == stream.scheduler
        seq = stream.newest().seq
        assert wait_for(lambda: stream.newest().seq > seq + 3)  # still capturing
        cams.rt_priority = None
        assert wait_for(lambda: stream.scheduler == "normal scheduler")
        assert os.sched_getscheduler(tid) == os.SCHED_OTHER
    finally:
        cams.close()
