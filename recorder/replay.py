"""Look at a recorded episode: render its camera frames, or play its actions back in the sim.

``frames``: the episode's own recorded images (``obs/*_rgb``) -- what the robot saw.
``sim`` (``sim.replay``, which builds on this module): the recorded ``actions`` (what was actually
sent) are stepped open-loop through the task reset with the recorded seed (``env_args``), rendering a
camera; the joint positions reached are compared with the recorded ``obs/joint_pos`` so a person can
tell whether the replay is faithful (it is when the seed and control rate are known and the episode
came from the sim).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from recorder.dataset import RecordedEpisode, read_file


@dataclass
class Replay:
    mode: str
    frames: list[np.ndarray]
    fps: float
    task: str = ""
    seed: int | None = None
    max_joint_error: float | None = None  # rad, sim replay vs recorded joint_pos
    notes: list[str] = field(default_factory=list)


def load_one(path: Path, demo: str | None = None) -> tuple[RecordedEpisode, dict]:
    """The episode (first, or ``demo``) and the file's env_args."""
    import h5py

    eps = read_file(Path(path))
    if not eps:
        raise ValueError(f"'{path}' holds no episode")
    ep = eps[0] if demo is None else next((e for e in eps if e.name == demo), None)
    if ep is None:
        raise ValueError(f"'{path}' has no {demo} (has {[e.name for e in eps]})")
    with h5py.File(path, "r") as f:
        env_args = json.loads(f["data"].attrs.get("env_args", "{}"))
    return ep, env_args


def recorded_fps(ep: RecordedEpisode, default: float = 20.0) -> float:
    ts = ep.timestamps
    if ts is None or len(ts) < 3:
        return default
    dt = float(np.median(np.diff(ts)))
    return 1.0 / dt if dt > 0 else default


def camera_keys(ep: RecordedEpisode) -> list[str]:
    return [k for k, v in ep.obs.items() if v.dtype == np.uint8 and v.ndim == 4]


def replay_frames(ep: RecordedEpisode, camera: str | None = None) -> Replay:
    cams = camera_keys(ep)
    if not cams:
        raise ValueError(f"'{ep.file}' recorded no camera frames (obs keys {sorted(ep.obs)}); use --mode sim")
    key = camera if camera in cams else (f"{camera}_rgb" if camera and f"{camera}_rgb" in cams else cams[0])
    if camera and key != camera and key != f"{camera}_rgb":
        raise ValueError(f"no camera '{camera}' in '{ep.file}' (has {cams})")
    return Replay("frames", list(ep.obs[key]), recorded_fps(ep), notes=[f"camera {key}"])


def strip(frames: list[np.ndarray], count: int) -> np.ndarray:
    """``count`` frames evenly spaced from first to last, side by side."""
    picks = np.linspace(0, len(frames) - 1, num=max(1, min(count, len(frames)))).round().astype(int)
    return np.concatenate([frames[i] for i in picks], axis=1)


def write_outputs(rep: Replay, out_stem: Path, strip_frames: int = 8, video: bool = True) -> list[Path]:
    """A PNG strip and (optionally) an MP4 next to ``out_stem``."""
    import cv2

    out_stem.parent.mkdir(parents=True, exist_ok=True)
    png = out_stem.with_suffix(".png")
    cv2.imwrite(str(png), strip(rep.frames, strip_frames)[:, :, ::-1])
    written = [png]
    if video:
        mp4 = out_stem.with_suffix(".mp4")
        h, w = rep.frames[0].shape[:2]
        vw = cv2.VideoWriter(str(mp4), cv2.VideoWriter_fourcc(*"mp4v"), max(rep.fps, 1.0), (w, h))
        if vw.isOpened():
            for fr in rep.frames:
                vw.write(np.ascontiguousarray(fr[:, :, ::-1]))
            vw.release()
            written.append(mp4)
    return written
