"""The in-memory training set: per-step observations, action chunks, padding mask, sample weights.

Whatever reads files (HDF5 rounds via `recorder.dataset`) produces a `ChunkDataset`; the trainer
only ever sees this.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from recorder.dataset import RecordedEpisode
from recorder.weighting import Weighting, uniform


@dataclass
class ChunkDataset:
    """N training samples.

    obs:      {key: (N, *shape)} or, with history, {key: (N, T_o, *shape)}; physical units
    actions:  (N, H, A) action chunks starting at each sample's step
    pad_mask: (N, H) bool, True where the chunk ran past the episode end (padding)
    weights:  (N,) non-negative sample weights (a weighting preset's output); 0 drops a sample
    episode:  (N,) integer episode ids, used to split validation by episode (not by step)
    """

    obs: dict[str, np.ndarray]
    actions: np.ndarray
    pad_mask: np.ndarray | None = None
    weights: np.ndarray | None = None
    episode: np.ndarray | None = None
    sources: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.actions = np.asarray(self.actions, np.float32)
        if self.actions.ndim != 3:
            raise ValueError(f"actions must be (N, H, A) chunks, got shape {self.actions.shape}")
        n, h, _ = self.actions.shape
        if self.pad_mask is None:
            self.pad_mask = np.zeros((n, h), bool)
        if self.weights is None:
            self.weights = np.ones(n, np.float32)
        if self.episode is None:
            self.episode = np.arange(n)
        self.pad_mask = np.asarray(self.pad_mask, bool)
        self.weights = np.asarray(self.weights, np.float32)
        self.episode = np.asarray(self.episode)
        for k, v in self.obs.items():
            if len(v) != n:
                raise ValueError(f"obs '{k}' has {len(v)} samples, actions have {n}")
        if self.pad_mask.shape != (n, h):
            raise ValueError(f"pad_mask must be {(n, h)}, got {self.pad_mask.shape}")
        if self.weights.shape != (n,) or self.episode.shape != (n,):
            raise ValueError("weights and episode must be (N,)")
        if not np.all(np.isfinite(self.weights)) or np.any(self.weights < 0):
            raise ValueError("weights must be finite and non-negative")

    def __len__(self) -> int:
        return len(self.actions)

    @property
    def horizon(self) -> int:
        return self.actions.shape[1]

    @property
    def action_dim(self) -> int:
        return self.actions.shape[2]

    def subset(self, idx: np.ndarray) -> "ChunkDataset":
        return ChunkDataset(
            {k: v[idx] for k, v in self.obs.items()},
            self.actions[idx], self.pad_mask[idx], self.weights[idx], self.episode[idx], self.sources,
        )

    def split(self, val_fraction: float, seed: int = 0) -> tuple["ChunkDataset", "ChunkDataset | None"]:
        """Hold out whole episodes (about `val_fraction` of them) for validation."""
        eps = np.unique(self.episode)
        n_val = int(round(len(eps) * val_fraction))
        if val_fraction <= 0 or n_val == 0 or n_val >= len(eps):
            return self, None
        rng = np.random.default_rng(seed)
        val_eps = rng.choice(eps, n_val, replace=False)
        is_val = np.isin(self.episode, val_eps)
        return self.subset(np.flatnonzero(~is_val)), self.subset(np.flatnonzero(is_val))

    @staticmethod
    def concatenate(parts: list["ChunkDataset"]) -> "ChunkDataset":
        """Join datasets (e.g. rounds); episode ids are offset so they stay distinct."""
        if not parts:
            raise ValueError("nothing to concatenate: no datasets")
        keys = set(parts[0].obs)
        for p in parts[1:]:
            if set(p.obs) != keys:
                raise ValueError(f"datasets disagree on observation keys: {sorted(keys)} vs {sorted(p.obs)}")
        eps, off = [], 0
        for p in parts:
            _, inv = np.unique(p.episode, return_inverse=True)
            eps.append(inv + off)
            off += int(inv.max()) + 1 if len(inv) else 0
        return ChunkDataset(
            {k: np.concatenate([p.obs[k] for p in parts]) for k in keys},
            np.concatenate([p.actions for p in parts]),
            np.concatenate([p.pad_mask for p in parts]),
            np.concatenate([p.weights for p in parts]),
            np.concatenate(eps),
            [s for p in parts for s in p.sources],
        )


def chunks_from_episode(actions: np.ndarray, horizon: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-step chunks (T, H, A) of an episode's actions (T, A), padded at the end by repeating
    the last action, and the padding mask (T, H) (True = padded)."""
    actions = np.asarray(actions, np.float32)
    t = len(actions)
    idx = np.arange(t)[:, None] + np.arange(horizon)[None, :]
    pad = idx >= t
    return actions[np.minimum(idx, t - 1)], pad


def stack_history(x: np.ndarray, n: int) -> np.ndarray:
    """(T, *shape) -> (T, n, *shape): the last n frames at each step, first frame repeated at start."""
    t = len(x)
    idx = np.arange(t)[:, None] - np.arange(n - 1, -1, -1)[None, :]
    return x[np.maximum(idx, 0)]


def episodes_to_dataset(
    episodes: list[RecordedEpisode], horizon: int, weights: Weighting = uniform
) -> ChunkDataset:
    """Per-step samples (obs at t, actions t..t+H-1 padded at the end) with preset sample weights."""
    obs: dict[str, list[np.ndarray]] = {}
    acts, pads, ws, eids = [], [], [], []
    all_w = weights(episodes)
    for i, ep in enumerate(episodes):
        if ep.planned is not None:
            if ep.planned.shape[1] < horizon:
                raise ValueError(f"'{ep.file}:{ep.name}' has planned chunks of {ep.planned.shape[1]} steps, fewer than H = {horizon}")
            c, p = np.asarray(ep.planned[:, :horizon], np.float32), np.zeros((len(ep.planned), horizon), bool)
        else:
            c, p = chunks_from_episode(ep.actions, horizon)
        acts.append(c)
        pads.append(p)
        w = np.asarray(all_w[i], np.float32)
        if w.shape != (len(c),):
            raise ValueError(f"weighting returned shape {w.shape} for '{ep.file}:{ep.name}' with {len(c)} steps")
        ws.append(w)
        eids.append(np.full(len(c), i))
        for k, v in ep.obs.items():
            obs.setdefault(k, []).append(np.asarray(v))
    return ChunkDataset({k: np.concatenate(v) for k, v in obs.items()}, np.concatenate(acts), np.concatenate(pads),
                        np.concatenate(ws), np.concatenate(eids), sorted({ep.file for ep in episodes}))
