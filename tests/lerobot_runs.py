"""A small run folder for the LeRobot round trip, recorded through the real recorder.

Synthetic runtime messages (recorder.synthetic_episodes) with two cameras go through
RecordingSession into <run>/round_<r>/data, frames stored as JPEG as a real session stores them.
Their camera frames are replaced by camera-like ones (a smooth scene that moves every step, plus
sensor noise): pure noise, the synthetic default, says little about a video codec's fidelity, and a
scene that moves makes a frame shifted by one step clearly worse than the right one.
Also used by tests_lerobot/check_lerobot_load.py, in LeRobot's own environment.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from hgdagger.common import wire
from recorder.recording_session import RecordingSession
from recorder.synthetic_episodes import episode_messages

CAMERAS = ("front", "wrist")
SIZE = (48, 64)
# (round, steps, kind, outcome): demos and rollouts with takeovers; one discarded attempt.
EPISODES = [(0, 14, "demo", "success"), (0, 11, "demo", "success"), (0, 9, "demo", "discard"),
            (1, 17, "rollout", "success"), (1, 12, "rollout", "failure")]
KEPT = [0, 1, 3, 4]  # what an export takes by default (the discarded attempt is left out)


def camera_frame(t: int, cam: int, rng: np.random.Generator, size: tuple[int, int] = SIZE) -> np.ndarray:
    """A smooth coloured scene shifted by step t, with noise of sigma 3."""
    h, w = size
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    phase = 0.35 * t + 1.3 * cam
    img = np.stack([128 + 90 * np.sin(x / 7 + phase), 128 + 90 * np.cos(y / 5 - phase),
                    128 + 60 * np.sin((x + y) / 9 + 2 * phase)], -1)
    return np.clip(img + rng.normal(0, 3, img.shape), 0, 255).astype(np.uint8)


def record_run(root: Path, episodes: list[tuple[int, int, str, str]] = EPISODES, size: tuple[int, int] = SIZE) -> Path:
    """Record ``episodes`` into ``root``; returns ``root``."""
    sessions: dict[int, RecordingSession] = {}
    for i, (r, steps, kind, outcome) in enumerate(episodes):
        s = sessions.get(r) or sessions.setdefault(r, RecordingSession(root / f"round_{r}" / "data"))
        rng = np.random.default_rng(1000 + i)
        takeover = None if kind == "demo" else (2 + i % 3, 6 + i % 3)
        for m in episode_messages(steps, episode_id=f"ep{i}", kind=kind, outcome=outcome, seed=i, takeover=takeover,
                                  cameras=CAMERAS, image_size=size, task="reach the cube", period=0.02):
            if isinstance(m, wire.StepRecord):
                for c, cam in enumerate(CAMERAS):
                    m.observation[f"{cam}_rgb"] = camera_frame(m.step + 50 * i, c, rng, size)
            s.handle(m)
    for s in sessions.values():
        s.close()
    return root


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """Peak signal-to-noise ratio of two uint8 images, in dB."""
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)
