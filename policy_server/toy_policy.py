"""A deterministic stand-in ChunkPolicy for wire tests, fault tests and benchmarks.

It plans a smooth joint trajectory from the observed ``joint_pos`` toward a slowly moving sine
target, optionally adds a per-call random offset (to mimic a sampler whose successive chunks
disagree, which is what makes chunk boundaries jerky), optionally sleeps to inject inference
delay, and, when given a committed prefix, agrees with it the way real-time chunking's inpainting
does: exactly on the frozen steps, then a soft blend toward its own plan (Black et al. 2025,
arXiv 2506.07339, Eq. 5's exponentially decaying mask).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from hgdagger.common.types import PolicyInfo


@dataclass
class ToyConfig:
    chunk_length: int = 16
    num_joints: int = 7
    control_period: float = 0.05
    delay_s: float = 0.0
    noise: float = 0.0  # std (rad) of the per-call offset of the whole chunk
    speed: float = 0.02  # rad per step toward the target
    image_shape: tuple[int, int, int] | None = None  # also expect a front_rgb image
    seed: int = 0
    checkpoint_id: str = "toy"


class ToyPolicy:
    """Plans from observation['joint_pos']; honours an RTC prefix when given one."""

    supports_prefix = True

    def __init__(self, cfg: ToyConfig | None = None) -> None:
        self.cfg = c = cfg or ToyConfig()
        shapes: dict[str, tuple[int, ...]] = {"joint_pos": (c.num_joints,)}
        if c.image_shape:
            shapes["front_rgb"] = tuple(c.image_shape)
        self.info = PolicyInfo(chunk_length=c.chunk_length, action_dim=c.num_joints + 1,
                               control_period=c.control_period, observation_shapes=shapes,
                               checkpoint_id=c.checkpoint_id, checkpoint_hash="toy", normalization_hash="none")
        self.rng = np.random.default_rng(c.seed)
        self.calls = 0

    def plan(self, q: np.ndarray) -> np.ndarray:
        """(H, A) chunk from one joint position: step toward a sine target, gripper half closed."""
        c = self.cfg
        target = 0.5 * np.sin(0.3 * self.calls * c.control_period + np.arange(c.num_joints))
        out = np.empty((c.chunk_length, c.num_joints + 1))
        pos = np.asarray(q, np.float64).copy()
        for h in range(c.chunk_length):
            pos += np.clip(target - pos, -c.speed, c.speed)
            out[h, :-1] = pos
        out[:, -1] = 0.5
        if c.noise:
            out[:, :-1] += self.rng.normal(0.0, c.noise, c.num_joints)
        return out

    def predict_chunks(self, observations, prefix=None, frozen_steps=None) -> np.ndarray:
        if self.cfg.delay_s:
            time.sleep(self.cfg.delay_s)
        self.calls += 1
        q = np.asarray(observations["joint_pos"])
        chunks = np.stack([self.plan(q[b]) for b in range(q.shape[0])])
        if prefix is not None:
            for b in range(q.shape[0]):
                d = int(frozen_steps[b]) if frozen_steps is not None else 0
                chunks[b] = inpaint_like_rtc(chunks[b], prefix[b], d)
        return chunks.astype(np.float32)


def inpaint_like_rtc(own: np.ndarray, prefix: np.ndarray, frozen: int, horizon: int | None = None) -> np.ndarray:
    """What guided inpainting converges to, in closed form: prefix on the frozen steps, an
    exponentially decaying weight on the prefix until it runs out (NaN), the own plan after."""
    H = own.shape[0]
    have = ~np.isnan(prefix).any(axis=1)
    n = int(have.sum()) if horizon is None else horizon
    w = np.zeros(H)
    for i in range(H):
        if not have[i]:
            continue
        if i < frozen:
            w[i] = 1.0
        elif i < n:
            r = (n - i) / max(1, n - frozen + 1)
            w[i] = r * (np.exp(r) - 1) / (np.e - 1)
    out = own.copy()
    sel = w > 0
    out[sel] = w[sel, None] * prefix[sel] + (1 - w[sel, None]) * own[sel]
    return out
