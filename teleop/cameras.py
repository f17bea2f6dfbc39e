"""Cameras through OpenCV, each captured on its own thread: the control loop never waits for one.

Each ``CameraStream`` reads frames as fast as the source gives them, stamps each with the time it
was captured, and keeps only the newest (older unread frames are dropped and counted). ``newest``
returns at once. A source is a device index (``0`` = /dev/video0), a device path, a video file or
URL (replayed at its own frame rate, looping, so a file behaves like a live camera), or
``pattern`` (a generated moving test image: rehearse without any camera).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass

import cv2
import numpy as np

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


@dataclass(frozen=True)
class Frame:
    image: np.ndarray  # H x W x 3 uint8, RGB
    timestamp: float  # time.time() when it was captured
    seq: int


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
    def __init__(self, config: CameraConfig, start: bool = True):
        self.config = config
        self.frames = 0  # captured
        self.dropped = 0  # captured, then replaced before anyone read them
        self.errors = 0  # failed reads
        self.status = "starting"
        self._newest: Frame | None = None
        self._taken_seq = -1
        self._rate_window: list[float] = []
        self._stop = threading.Event()
        self._cap = None if config.source == "pattern" else self._open()
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
        period = 1.0 / self.config.fps
        if self._cap is not None and self.is_file:
            period = 1.0 / (self._cap.get(cv2.CAP_PROP_FPS) or self.config.fps)
        paced = self._cap is None or self.is_file  # a device paces itself by blocking in read()
        next_t = time.monotonic()
        failures = 0
        while not self._stop.is_set():
            if paced:
                next_t += period
                delay = next_t - time.monotonic()
                if delay > 0:
                    self._stop.wait(delay)
                else:
                    next_t = time.monotonic()
            image = self._grab()
            stamp = time.time()
            if image is None:
                failures += 1
                self.errors += 1
                if failures >= 5:
                    self.status = "no frames: camera unplugged or busy"
                    self._stop.wait(self.config.reopen_after_s)
                    self._reopen()
                continue
            failures = 0
            self._publish(image, stamp)

    def _grab(self) -> np.ndarray | None:
        cfg = self.config
        if self._cap is None:
            return _pattern(self.frames, cfg.height, cfg.width)
        ok, bgr = self._cap.read()
        if not ok and self.is_file and cfg.loop:
            self._cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
            ok, bgr = self._cap.read()
        if not ok or bgr is None:
            return None
        if bgr.shape[:2] != (cfg.height, cfg.width):
            bgr = cv2.resize(bgr, (cfg.width, cfg.height), interpolation=cv2.INTER_AREA)
        return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)

    def _reopen(self) -> None:
        try:
            if self._cap is not None:
                self._cap.release()
            self._cap = self._open()
        except CameraError as exc:
            self.status = str(exc)

    def _publish(self, image: np.ndarray, stamp: float) -> None:
        previous = self._newest
        if previous is not None and previous.seq != self._taken_seq:
            self.dropped += 1
        self._newest = Frame(image, stamp, self.frames)  # one reference swap: readers never see half a frame
        self.frames += 1
        self.status = "ok"
        self._rate_window = [t for t in self._rate_window if stamp - t < 2.0] + [stamp]

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
        w = self._rate_window
        return (len(w) - 1) / (w[-1] - w[0]) if len(w) > 2 and w[-1] > w[0] else 0.0

    def stats(self) -> dict:
        return {"frames": self.frames, "dropped": self.dropped, "errors": self.errors, "fps": round(self.fps, 2),
                "status": self.status}

    def close(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=2)
        if self._cap is not None:
            self._cap.release()


def _pattern(i: int, height: int, width: int) -> np.ndarray:
    """A moving colour bar and a frame counter: obviously live, obviously not a real camera."""
    image = np.zeros((height, width, 3), np.uint8)
    x = (i * 7) % width
    image[:, max(0, x - 20): x + 20] = (255, 128, 0)
    image[: height // 8, : width // 8] = (i % 256, 255 - i % 256, 64)
    return image


class CameraSet:
    """Several cameras, as observation entries ``<name>_rgb`` (a black image until the first frame)."""

    def __init__(self, configs: list[CameraConfig]):
        self.streams: dict[str, CameraStream] = {}
        try:
            for cfg in configs:
                self.streams[cfg.name] = CameraStream(cfg)
        except CameraError:
            self.close()
            raise

    def shapes(self) -> dict[str, tuple[int, int]]:
        return {name: (s.config.height, s.config.width) for name, s in self.streams.items()}

    def newest(self) -> dict[str, np.ndarray]:
        out = {}
        for name, s in self.streams.items():
            frame = s.newest()
            out[f"{name}_rgb"] = frame.image if frame is not None else np.zeros((s.config.height, s.config.width, 3), np.uint8)
        return out

    def ages(self) -> dict[str, float | None]:
        """Seconds since each camera's newest frame was captured (None: no frame yet)."""
        now = time.time()
        return {n: (now - f.timestamp if (f := s.peek()) is not None else None) for n, s in self.streams.items()}

    def close(self) -> None:
        for s in self.streams.values():
            s.close()
