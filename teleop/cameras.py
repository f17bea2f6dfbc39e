"""Cameras through OpenCV, each captured on its own thread: the control loop never waits for one.

Each ``CameraStream`` reads frames as fast as the source gives them, stamps each with the time it
was captured, and keeps only the newest (older unread frames are dropped and counted). ``newest``
returns at once. A source is a device index (``0`` = /dev/video0), a device path, a video file or
URL (replayed at its own frame rate, looping, so a file behaves like a live camera), or
``pattern`` (a generated moving test image: rehearse without any camera).

A camera captures at ``height`` x ``width``; with ``record_size`` its thread shrinks every frame to
the policy's resolution before publishing it, so the control loop, the policy and the recorder
only ever handle the small frame (a 640x480 pair is 92 MB/s to record at 50 Hz; 96x128, 3.7 MB/s).
``operator_view`` keeps the full-size frame beside it for the operator's display; it is never
part of an observation, so it is never recorded. Resizing and colour conversion are OpenCV calls,
which release the GIL: the loop's thread is not held up while a camera works. What little a capture
thread does holding the GIL can still stall a real-time loop if the thread is preempted meanwhile
(priority inversion); ``rt_priority`` runs it under SCHED_FIFO too, below the loop.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Callable

import cv2
import numpy as np

from teleop.timing import set_thread_priority

log = logging.getLogger("hgd.cameras")


class CameraError(RuntimeError):
    """A camera that cannot be used, with what to do about it."""


@dataclass
class CameraConfig:
    name: str
    source: int | str = 0  # device index, /dev/videoN, a video file, a URL, or "pattern"
    height: int = 480
    width: int = 640
    fps: float = 30.0  # asked of a device; the pace of "pattern"; files use their own rate
    loop: bool = True  # files: start again at the end
    reopen_after_s: float = 1.0  # a device that stops delivering is reopened this often
    record_size: tuple[int, int] | None = None  # (h, w) observed and recorded, the policy's; None: height x width
    operator_view: bool = False  # also keep each frame at height x width for the operator (never recorded)

    def __post_init__(self) -> None:
        if self.record_size is not None:  # a config file gives a list
            size = tuple(self.record_size)
            whole = all(isinstance(n, (int, np.integer)) and not isinstance(n, bool) and n > 0 for n in size)
            if len(size) != 2 or not whole:
                raise CameraError(f"camera {self.name!r}: record_size must be [height, width] in pixels, "
                                  f"got {self.record_size!r}")
            self.record_size = size

    @property
    def frame_size(self) -> tuple[int, int]:
        """(h, w) of the frames in observations and records."""
        return self.record_size or (self.height, self.width)


@dataclass(frozen=True)
class Frame:
    image: np.ndarray  # frame_size x 3 uint8, RGB: what the loop observes and records
    timestamp: float  # time.time() when it was captured
    seq: int
    view: np.ndarray | None = None  # height x width x 3 uint8, RGB, for the operator (config.operator_view)


def _device_path(source: int | str) -> str | None:
    if isinstance(source, int):
        return f"/dev/video{source}"
    return source if source.startswith("/dev/") else None


def cameras_found(dev: str = "/dev", sysfs: str = "/sys/class/video4linux") -> list[str]:
    """The video devices there are, each with the name the kernel gives it where readable
    ("/dev/video0 (HD Webcam)")."""
    try:
        nodes = sorted((n for n in os.listdir(dev) if n.startswith("video") and n[5:].isdigit()), key=lambda n: int(n[5:]))
    except OSError:
        return []
    found = []
    for node in nodes:
        try:
            with open(os.path.join(sysfs, node, "name")) as fh:
                found.append(f"{dev}/{node} ({fh.read().strip()})")
        except OSError:
            found.append(f"{dev}/{node}")
    return found


class CameraStream:
    """``render``: a function that makes a frame (RGB, the configured size) instead of a device, e.g.
    a simulator's view; it runs on the capture thread at ``config.fps`` like a real camera, and its
    ``close()``, if it has one, is called on that thread when the stream stops.

    ``rt_priority``: the SCHED_FIFO priority of the capture thread (None: the normal scheduler); give
    it one below a real-time control loop's. It may be changed at any time: the thread applies it
    before its next frame."""

    def __init__(self, config: CameraConfig, start: bool = True, render: Callable[[], np.ndarray] | None = None,
                 rt_priority: int | None = None):
        self.config = config
        self._render = render
        self.rt_priority = rt_priority
        self.scheduler = "normal scheduler"  # what the capture thread runs under now
        self._priority: int | None = None  # the rt_priority the thread has applied
        self.frames = 0  # captured
        self.dropped = 0  # captured, then replaced before anyone read them
        self.errors = 0  # failed reads
        self.status = "starting"
        self._newest: Frame | None = None
        self._taken_seq = -1
        self._rate_window: deque[float] = deque()
        self._stop = threading.Event()
        self._cap = None if config.source == "pattern" or render is not None else self._open()
        self._thread = threading.Thread(target=self._run, name=f"camera-{config.name}", daemon=True)
        if start:
            self._thread.start()

    # ------------------------------------------------------------ opening
    def _open(self) -> cv2.VideoCapture:
        cfg = self.config
        dev = _device_path(cfg.source)
        if dev is not None and not os.path.exists(dev):
            found = cameras_found()
            if not found:
                raise CameraError(f"camera {cfg.name!r}: {dev} does not exist, and no cameras were found (no "
                                  f"/dev/video*): is it plugged in? (check with: v4l2-ctl --list-devices)")
            raise CameraError(f"camera {cfg.name!r}: {dev} does not exist; cameras found: {', '.join(found)}: set its "
                              f"source to one of them (a camera often has two nodes: use the first)")
        if isinstance(cfg.source, str) and dev is None and "://" not in cfg.source and not os.path.exists(cfg.source):
            raise CameraError(f"camera {cfg.name!r}: video file {cfg.source} does not exist")
        cap = cv2.VideoCapture(cfg.source)
        if not cap.isOpened():
            if dev is not None:
                raise CameraError(f"camera {cfg.name!r}: {dev} exists but could not be opened: busy (another program "
                                  f"has it: fuser {dev}) or no permission (add yourself to the 'video' group)")
            raise CameraError(f"camera {cfg.name!r}: OpenCV could not open {cfg.source!r} (unsupported format or URL down)")
        if dev is not None:
            cap.set(cv2.CAP_PROP_FRAME_WIDTH, cfg.width)
            cap.set(cv2.CAP_PROP_FRAME_HEIGHT, cfg.height)
            cap.set(cv2.CAP_PROP_FPS, cfg.fps)
            cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)  # newest frame, not a queue of old ones
        return cap

    @property
    def is_file(self) -> bool:
        src = self.config.source
        return isinstance(src, str) and src != "pattern" and _device_path(src) is None and "://" not in src

    # ------------------------------------------------------------ capture thread
    def _run(self) -> None:
        try:
            self._capture()
        finally:
            if self._render is not None and hasattr(self._render, "close"):
                self._render.close()  # on this thread: a renderer's GL context is this thread's

    def _capture(self) -> None:
        period = 1.0 / self.config.fps
        if self._cap is not None and self.is_file:
            period = 1.0 / (self._cap.get(cv2.CAP_PROP_FPS) or self.config.fps)
        paced = self._cap is None or self.is_file  # a device paces itself by blocking in read()
        next_t = time.monotonic()
        failures = 0
        while not self._stop.is_set():
            if self.rt_priority != self._priority:  # only this thread can change its own scheduling
                self._priority = self.rt_priority
                self.scheduler = set_thread_priority(self._priority)
            if paced:
                next_t += period
                delay = next_t - time.monotonic()
                if delay > 0:
                    self._stop.wait(delay)
                else:
                    next_t = time.monotonic()
            grabbed = self._grab()
            stamp = time.time()
            if grabbed is None:
                failures += 1
                self.errors += 1
                if failures >= 5:
                    self.status = "no frames: camera unplugged or busy"
                    self._stop.wait(self.config.reopen_after_s)
                    self._reopen()
                continue
            failures = 0
            self._publish(*self._prepare(*grabbed), stamp)

    def _grab(self) -> tuple[np.ndarray, bool] | None:
        """The source's next frame, and whether it is BGR (OpenCV's order) rather than RGB."""
        cfg = self.config
        if self._render is not None:
            return self._render(), False
        if self._cap is None:
            return _pattern(self.frames, cfg.height, cfg.width), False
        ok, bgr = self._cap.read()
        if not ok and self.is_file and cfg.loop:
            self._cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
            ok, bgr = self._cap.read()
        if not ok or bgr is None:
            return None
        return bgr, True

    def _prepare(self, raw: np.ndarray, bgr: bool) -> tuple[np.ndarray, np.ndarray | None]:
        """The frame to observe and record (RGB, frame_size) and the operator's view (RGB, height x
        width) when asked for. Shrinking first makes the colour conversion cheap."""
        cfg = self.config
        view = None
        if cfg.operator_view:
            view = _resized(raw, (cfg.height, cfg.width))
            if bgr:
                view = cv2.cvtColor(view, cv2.COLOR_BGR2RGB)
            raw, bgr = view, False
        image = _resized(raw, cfg.frame_size)
        return (cv2.cvtColor(image, cv2.COLOR_BGR2RGB) if bgr else image), view

    def _reopen(self) -> None:
        try:
            if self._cap is not None:
                self._cap.release()
            self._cap = self._open()
        except CameraError as exc:
            self.status = str(exc)

    def _publish(self, image: np.ndarray, view: np.ndarray | None, stamp: float) -> None:
        previous = self._newest
        if previous is not None and previous.seq != self._taken_seq:
            self.dropped += 1
        self._newest = Frame(image, stamp, self.frames, view)  # one reference swap: readers never see half a frame
        self.frames += 1
        self.status = "ok"
        window = self._rate_window
        window.append(stamp)
        while stamp - window[0] >= 2.0:
            window.popleft()

    # ------------------------------------------------------------ the loop's side
    def peek(self) -> Frame | None:
        """The newest frame without counting it as taken (for health displays)."""
        return self._newest

    def newest(self) -> Frame | None:
        """The newest frame, at once (None before the first one)."""
        frame = self._newest
        if frame is not None:
            self._taken_seq = frame.seq
        return frame

    @property
    def fps(self) -> float:
        w = list(self._rate_window)  # a copy: the capture thread appends meanwhile
        return (len(w) - 1) / (w[-1] - w[0]) if len(w) > 2 and w[-1] > w[0] else 0.0

    def stats(self) -> dict:
        return {"frames": self.frames, "dropped": self.dropped, "errors": self.errors, "fps": round(self.fps, 2),
                "status": self.status, "scheduler": self.scheduler}

    def close(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=2)
        if self._cap is not None:
            self._cap.release()


def _resized(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``image`` at (h, w): area averaging, which does not alias when shrinking."""
    if image.shape[:2] == size:
        return image
    return cv2.resize(image, (size[1], size[0]), interpolation=cv2.INTER_AREA)


def _pattern(i: int, height: int, width: int) -> np.ndarray:
    """A moving colour bar and a frame counter: obviously live, obviously not a real camera."""
    image = np.zeros((height, width, 3), np.uint8)
    x = (i * 7) % width
    image[:, max(0, x - 20): x + 20] = (255, 128, 0)
    image[: height // 8, : width // 8] = (i % 256, 255 - i % 256, 64)
    return image


class CameraSet:
    """Several cameras, as observation entries ``<name>_rgb`` at each camera's frame_size (a black
    image until the first frame), and the operators' full-size views apart from them."""

    def __init__(self, configs: list[CameraConfig], renders: dict[str, Callable[[], np.ndarray]] | None = None,
                 rt_priority: int | None = None):
        self.streams: dict[str, CameraStream] = {}
        try:
            for cfg in configs:
                self.streams[cfg.name] = CameraStream(cfg, render=(renders or {}).get(cfg.name),
                                                      rt_priority=rt_priority)
        except CameraError:
            self.close()
            raise
        self._black = {name: _black(s.config.frame_size) for name, s in self.streams.items()}

    def shapes(self) -> dict[str, tuple[int, int]]:
        """(h, w) of each camera's observation entry: its record size."""
        return {name: s.config.frame_size for name, s in self.streams.items()}

    def newest(self) -> dict[str, np.ndarray]:
        """Each camera's newest frame, at once; the arrays are shared, not copied (nobody writes them)."""
        out = {}
        for name, s in self.streams.items():
            frame = s.newest()
            out[f"{name}_rgb"] = frame.image if frame is not None else self._black[name]
        return out

    def views(self) -> dict[str, np.ndarray]:
        """The newest full-size frame of each camera with ``operator_view``, for the operator's
        display (not counted as taken; not part of any observation)."""
        return {name: f.view for name, s in self.streams.items() if (f := s.peek()) is not None and f.view is not None}

    @property
    def rt_priority(self) -> int | None:
        """The capture threads' SCHED_FIFO priority (None: the normal scheduler); set it and each
        thread applies it from its next frame. A real-time loop gives them one below its own."""
        return next((s.rt_priority for s in self.streams.values()), None)

    @rt_priority.setter
    def rt_priority(self, priority: int | None) -> None:
        for s in self.streams.values():
            s.rt_priority = priority

    def ages(self) -> dict[str, float | None]:
        """Seconds since each camera's newest frame was captured (None: no frame yet)."""
        now = time.time()
        return {n: (now - f.timestamp if (f := s.peek()) is not None else None) for n, s in self.streams.items()}

    def close(self) -> None:
        for s in self.streams.values():
            s.close()


def _black(size: tuple[int, int]) -> np.ndarray:
    """A read-only black frame: the placeholder before a camera's first frame, made once."""
    image = np.zeros((*size, 3), np.uint8)
    image.flags.writeable = False
    return image
