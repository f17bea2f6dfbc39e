"""Writing small episode files in the ARCHITECTURE.md layout for the policy tests."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np


def write_episode_file(path: Path, episodes: list[dict], kind: str = "demo") -> Path:
    """episodes: dicts with 'obs' {key: (T, ...)}, 'actions' (T, A), optional 'source', 'intervention'."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(path, "w") as f:
        data = f.create_group("data")
        data.attrs["total"] = sum(len(e["actions"]) for e in episodes)
        data.attrs["env_args"] = '{"type": 1, "env_name": "synthetic"}'
        for i, e in enumerate(episodes):
            g = data.create_group(f"demo_{i}")
            t = len(e["actions"])
            g.attrs["num_samples"] = t
            g.attrs["kind"] = e.get("kind", kind)
            for k, v in e["obs"].items():
                g.create_dataset(f"obs/{k}", data=v)
            g.create_dataset("actions", data=e["actions"])
            g.create_dataset("source", data=e.get("source", np.ones(t, np.int8)))
            g.create_dataset("intervention", data=e.get("intervention", np.zeros(t, bool)))
            g.create_dataset("timestamps", data=np.arange(t) * 0.05)
    return path


def bimodal_episode(rng: np.random.Generator, t: int = 30) -> dict:
    """A 1-D episode: x drifts, the action keeps one sign (+1 or -1) for the whole episode."""
    x = np.cumsum(rng.normal(0, 0.05, (t, 1)), 0).astype(np.float32)
    sign = rng.choice([-1.0, 1.0])
    actions = np.concatenate([np.full((t, 1), sign), x], -1).astype(np.float32)
    return {"obs": {"x": x, "joint_pos": np.zeros((t, 2), np.float32)}, "actions": actions}
