"""Observation layout and normalisation statistics.

The policy server alone owns normalisation (ARCHITECTURE.md rule 2): clients send physical units,
the policy maps them to roughly unit scale with statistics computed from its training data and
stored inside the checkpoint, and maps actions back to physical units.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Mapping

import numpy as np

from hgdagger.common.observation_sets import is_frame

STD_FLOOR = 1e-3
"""Dimensions that never move in the data (e.g. a fixed target) get this std, not a divide by 0."""


@dataclass(frozen=True)
class ObsLayout:
    """Which observation keys a policy reads, in which order, with which per-step shapes."""

    lowdim_keys: tuple[str, ...]
    image_keys: tuple[str, ...] = ()
    shapes: Mapping[str, tuple[int, ...]] = field(default_factory=dict)

    @property
    def keys(self) -> tuple[str, ...]:
        return self.lowdim_keys + self.image_keys

    @property
    def lowdim_dim(self) -> int:
        return int(sum(int(np.prod(self.shapes[k])) for k in self.lowdim_keys))

    def to_dict(self) -> dict:
        return {
            "lowdim_keys": list(self.lowdim_keys),
            "image_keys": list(self.image_keys),
            "shapes": {k: list(v) for k, v in self.shapes.items()},
        }

    @staticmethod
    def from_dict(d: Mapping) -> "ObsLayout":
        return ObsLayout(
            tuple(d["lowdim_keys"]),
            tuple(d["image_keys"]),
            {k: tuple(int(x) for x in v) for k, v in d["shapes"].items()},
        )

    @staticmethod
    def infer(
        shapes: Mapping[str, tuple[int, ...]],
        lowdim_keys: tuple[str, ...] | None = None,
        use_images: bool = False,
        image_keys: tuple[str, ...] | None = None,
    ) -> "ObsLayout":
        """Layout from per-step shapes; low-dim keys in `lowdim_keys` order (default: sorted); with
        `use_images`, the camera keys `image_keys` (default: every one, sorted)."""
        lows = tuple(sorted(k for k, s in shapes.items() if not is_frame(tuple(s))))
        imgs = tuple(sorted(k for k, s in shapes.items() if is_frame(tuple(s))))
        wanted = tuple(lowdim_keys or ()) + (tuple(image_keys or ()) if use_images else ())
        missing = [k for k in wanted if k not in shapes]
        if missing:
            raise KeyError(f"observation keys {missing} not in the data (has {sorted(shapes)})")
        not_images = [k for k in (image_keys or ()) if not is_frame(tuple(shapes[k]))] if use_images else []
        if not_images:
            raise KeyError(f"observation keys {not_images} are not camera frames (H, W, 3): {[shapes[k] for k in not_images]}")
        if lowdim_keys is not None:
            lows = tuple(lowdim_keys)
        imgs = (tuple(image_keys) if image_keys is not None else imgs) if use_images else ()
        return ObsLayout(lows, imgs, {k: tuple(shapes[k]) for k in lows + imgs})

    def mismatch(self, shapes: Mapping[str, tuple[int, ...]]) -> str | None:
        """Why `shapes` (per-step, no batch axis) cannot feed this layout, or None if it can."""
        missing = [k for k in self.keys if k not in shapes]
        wrong = [
            f"{k}: expected {tuple(self.shapes[k])}, got {tuple(shapes[k])}"
            for k in self.keys
            if k in shapes and tuple(shapes[k]) != tuple(self.shapes[k])
        ]
        if not missing and not wrong:
            return None
        parts = []
        if missing:
            parts.append(f"missing keys {missing}")
        if wrong:
            parts.append("wrong shapes [" + "; ".join(wrong) + "]")
        return ", ".join(parts)


def check_layout(layout: ObsLayout, shapes: Mapping[str, tuple[int, ...]], what: str) -> None:
    """Raise ValueError naming the differing keys when `shapes` does not fit `layout`."""
    why = layout.mismatch(shapes)
    if why is not None:
        extra = sorted(set(shapes) - set(layout.keys))
        hint = f" (provided but unused: {extra})" if extra else ""
        raise ValueError(f"{what}: observation layout differs from the checkpoint's: {why}{hint}")


def flatten_lowdim(obs: Mapping[str, np.ndarray], layout: ObsLayout, batch_dims: int = 1) -> np.ndarray:
    """Concatenate low-dim keys in layout order: each (*batch, *shape) -> (*batch, D)."""
    parts = []
    for k in layout.lowdim_keys:
        a = np.asarray(obs[k], dtype=np.float32)
        parts.append(a.reshape(*a.shape[:batch_dims], -1))
    if not parts:
        any_arr = np.asarray(next(iter(obs.values())))
        return np.zeros((*any_arr.shape[:batch_dims], 0), np.float32)
    return np.concatenate(parts, axis=-1)


def action_reference(obs: Mapping[str, np.ndarray], key: str, n: int) -> np.ndarray:
    """(B, n): the newest frame of `obs[key]` (B, [T_o,] n), the origin of relative actions."""
    a = np.asarray(obs[key], np.float32)
    return a.reshape(a.shape[0], -1, a.shape[-1])[:, -1, :n]


def to_relative(actions: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """Chunks (B, H, A) with their first k dims expressed relative to ref (B, k)."""
    out = np.array(actions, np.float32, copy=True)
    out[..., : ref.shape[-1]] -= ref[:, None, :]
    return out


def from_relative(actions: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """Inverse of `to_relative`."""
    out = np.array(actions, np.float32, copy=True)
    out[..., : ref.shape[-1]] += ref[:, None, :]
    return out


def discrete_action_levels(actions: np.ndarray, max_levels: int = 2, ramp_share: float = 0.1) -> dict[int, list[float]]:
    """Action dimensions that are two-valued in the data (N, A), with those two values.

    A gripper driven open/closed by a gamepad or a scripted expert is such a dimension. A policy's
    continuous output there (0.2 "a bit closed") puts the robot in states the data never shows,
    such as half-closed fingers in mid-air, which the policy then reads as "closing"; snapping the
    output to the levels seen in the data avoids that (measured: pick_place from 100 demos, 0.03
    success with the raw gripper output, 0.30 snapped).

    Recorded commands are the ones the robot was sent, after the safety filter's rate limit, so an
    open/closed gripper also shows the few values of each ramp between its levels (0.2, 0.4, ... at
    20 Hz): a dimension still counts as two-valued when its two most frequent values hold all but
    `ramp_share` of the samples and every other value lies between them. A leader arm's continuous
    gripper spreads over many values and is left alone.
    """
    out: dict[int, list[float]] = {}
    for dim in range(actions.shape[-1]):
        levels, counts = np.unique(np.round(actions[:, dim].astype(np.float64), 6), return_counts=True)
        if len(levels) < 2:
            continue
        if len(levels) <= max_levels:
            out[dim] = [float(v) for v in levels]
            continue
        low, high = sorted(levels[np.argsort(counts, kind="stable")[-2:]])
        held = counts[(levels == low) | (levels == high)].sum() / counts.sum()
        if held >= 1.0 - ramp_share and levels[0] >= low and levels[-1] <= high:
            out[dim] = [float(low), float(high)]
    return out


def snap_to_levels(actions: np.ndarray, levels: Mapping[int, list[float]]) -> np.ndarray:
    """Each listed dimension of `actions` (..., A) set to its nearest level."""
    out = np.array(actions, copy=True)
    for dim, values in levels.items():
        v = np.asarray(values, out.dtype)
        out[..., dim] = v[np.abs(out[..., dim, None] - v).argmin(-1)]
    return out


@dataclass
class Normalizer:
    """Per-dimension affine maps: z = (x - mean) / std for observations and actions, plus the
    discrete levels of action dimensions that have only a few (see `discrete_action_levels`)."""

    obs_mean: np.ndarray
    obs_std: np.ndarray
    act_mean: np.ndarray
    act_std: np.ndarray
    act_levels: dict[int, list[float]] = field(default_factory=dict)

    @staticmethod
    def fit(lowdim: np.ndarray, actions: np.ndarray, pad_mask: np.ndarray | None = None,
            snap_discrete: bool = True) -> "Normalizer":
        """Statistics from flattened low-dim obs (N, D) and action chunks (N, H, A); padded steps ignored."""
        a = actions.reshape(-1, actions.shape[-1]).astype(np.float64)
        if pad_mask is not None:
            a = a[~pad_mask.reshape(-1).astype(bool)]
        o = lowdim.astype(np.float64)
        return Normalizer(
            o.mean(0).astype(np.float32) if len(o) else np.zeros(lowdim.shape[-1], np.float32),
            np.maximum(o.std(0), STD_FLOOR).astype(np.float32) if len(o) else np.ones(lowdim.shape[-1], np.float32),
            a.mean(0).astype(np.float32),
            np.maximum(a.std(0), STD_FLOOR).astype(np.float32),
            discrete_action_levels(a) if snap_discrete else {},
        )

    def norm_obs(self, x: np.ndarray) -> np.ndarray:
        return (x - self.obs_mean) / self.obs_std

    def norm_act(self, a: np.ndarray) -> np.ndarray:
        return (a - self.act_mean) / self.act_std

    def to_dict(self) -> dict:
        out: dict = {k: getattr(self, k).tolist() for k in ("obs_mean", "obs_std", "act_mean", "act_std")}
        if self.act_levels:  # (absent from older checkpoints, and then left out so their hash is unchanged)
            out["act_levels"] = {str(k): v for k, v in self.act_levels.items()}
        return out

    @staticmethod
    def from_dict(d: Mapping) -> "Normalizer":
        levels = {int(k): [float(x) for x in v] for k, v in d.get("act_levels", {}).items()}
        return Normalizer(**{k: np.asarray(d[k], np.float32) for k in ("obs_mean", "obs_std", "act_mean", "act_std")},
                          act_levels=levels)

    def digest(self) -> str:
        """Short content hash of the statistics (sent to clients as PolicyInfo.normalization_hash)."""
        blob = json.dumps(self.to_dict(), sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:16]
