"""meta/stats.json: per-feature min, max, mean, std, count and quantiles, as LeRobot's normalisers read them.

Each episode's statistics are computed as it is written and the dataset's are combined from them:
min, max, mean and std exactly (counts weigh the means, the spread between means adds to the
variance); quantiles as the count-weighted mean of the episodes' quantiles, an approximation LeRobot
makes too. Camera frames count per channel over [0, 1] values of a sample of frames (every
``IMAGE_STRIDE``-th), shaped (3, 1, 1) as LeRobot keeps them; vectors per entry.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

QUANTILES = {"q01": 0.01, "q10": 0.10, "q50": 0.50, "q90": 0.90, "q99": 0.99}
IMAGE_STRIDE = 10  # frames between two sampled for camera statistics
Stats = dict[str, np.ndarray]


def vector_stats(x: np.ndarray) -> Stats:
    """Per-entry statistics of (T, ...) values (T >= 1); count is T."""
    x = np.asarray(x, np.float64).reshape(len(x), -1)
    out = {"min": x.min(0), "max": x.max(0), "mean": x.mean(0), "std": x.std(0), "count": np.array([len(x)])}
    out.update({k: np.quantile(x, q, axis=0) for k, q in QUANTILES.items()})
    return out


def image_stats(frames: np.ndarray) -> Stats:
    """Per-channel statistics of a sample of (T, H, W, 3) uint8 frames, in [0, 1], shaped (3, 1, 1)."""
    sample = frames[::IMAGE_STRIDE].astype(np.float32) / 255.0
    px = sample.reshape(-1, sample.shape[-1])
    out = {"min": px.min(0), "max": px.max(0), "mean": px.mean(0, dtype=np.float64), "std": px.std(0, dtype=np.float64)}
    out.update({k: np.quantile(px, q, axis=0) for k, q in QUANTILES.items()})
    out = {k: np.asarray(v, np.float64).reshape(-1, 1, 1) for k, v in out.items()}
    out["count"] = np.array([len(sample)])
    return out


def combine(parts: list[Stats]) -> Stats:
    """The statistics of the union of the parts (see the module docstring for quantiles)."""
    counts = np.array([float(p["count"][0]) for p in parts])
    w = counts / counts.sum()
    shape = (-1,) + (1,) * (parts[0]["mean"].ndim)
    mean = np.sum(np.stack([p["mean"] for p in parts]) * w.reshape(shape), axis=0)
    var = np.sum(np.stack([p["std"] ** 2 + (p["mean"] - mean) ** 2 for p in parts]) * w.reshape(shape), axis=0)
    out = {"min": np.min(np.stack([p["min"] for p in parts]), axis=0),
           "max": np.max(np.stack([p["max"] for p in parts]), axis=0),
           "mean": mean, "std": np.sqrt(var), "count": np.array([int(counts.sum())])}
    for k in QUANTILES:
        out[k] = np.sum(np.stack([p[k] for p in parts]) * w.reshape(shape), axis=0)
    return out


def write(stats: dict[str, Stats], path: Path) -> None:
    """JSON lists, as LeRobot writes and reads them."""
    path.write_text(json.dumps({f: {k: np.asarray(v).tolist() for k, v in s.items()} for f, s in stats.items()},
                               indent=2))
