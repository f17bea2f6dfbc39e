"""Synthetic episodes as the runtime would send them: for tests, the benchmark and demos.

A rollout with interventions: policy steps, then a human takeover window, with NaN-filled
policy/human actions where absent (as ``teleop.runtime`` does). Cameras are optional and filled
with noise (the worst case for compression).
"""

from __future__ import annotations

import json
import time
from typing import Iterator

import numpy as np

from hgdagger.common import wire

A = 8


def episode_messages(n_steps: int = 20, *, task: str = "reach", kind: str = "rollout", episode_id: str = "ep",
                     cameras: tuple[str, ...] = (), image_size: tuple[int, int] = (48, 64),
                     takeover: tuple[int, int] | None = (5, 9), outcome: str = "success", seed: int = 0,
                     checkpoint: str = "ckpt-a", operator: str = "alice", rng: np.random.Generator | None = None,
                     t0: float | None = None, period: float = 0.02, end: bool = True) -> Iterator[wire.Message]:
    """EpisodeStart, n_steps StepRecords, EpisodeEnd (unless ``end`` is False)."""
    rng = rng if rng is not None else np.random.default_rng(seed)
    t0 = time.time() if t0 is None else t0
    start = wire.EpisodeStart(task=task, kind=kind, operator=operator, checkpoint_id=checkpoint,
                              env_args=json.dumps({"env_name": task, "seed": seed}), started_at=t0)
    start.header.episode_id = episode_id
    yield start
    for t in range(n_steps):
        yield step_message(t, rng, cameras=cameras, image_size=image_size, kind=kind, takeover=takeover,
                           timestamp=t0 + t * period, checkpoint=checkpoint, episode_id=episode_id,
                           done=(t == n_steps - 1))
    if end:
        e = wire.EpisodeEnd(outcome=outcome, success=outcome == "success", num_steps=n_steps, ended_at=t0 + n_steps * period)
        e.header.episode_id = episode_id
        yield e


def step_message(t: int, rng: np.random.Generator, *, cameras: tuple[str, ...] = (),
                 image_size: tuple[int, int] = (48, 64), kind: str = "rollout",
                 takeover: tuple[int, int] | None = None, timestamp: float = 0.0, checkpoint: str = "ckpt-a",
                 episode_id: str = "ep", done: bool = False) -> wire.StepRecord:
    human = kind == "demo" or (takeover is not None and takeover[0] <= t < takeover[1])
    obs = {"joint_pos": rng.normal(size=7).astype(np.float32), "ee_pos": rng.normal(size=3).astype(np.float32),
           "gripper_pos": rng.random(1).astype(np.float32)}
    for cam in cameras:
        obs[f"{cam}_rgb"] = rng.integers(0, 256, (*image_size, 3), dtype=np.uint8)
    policy = np.full(A, np.nan) if kind == "demo" else rng.normal(size=A)
    human_a = rng.normal(size=A) if human else np.full(A, np.nan)
    action = human_a if human else policy
    rec = wire.StepRecord(step=t, observation=obs, action=action, policy_action=policy, human_action=human_a,
                          source=1 if human else 0, intervention=bool(human and kind == "rollout"),
                          timestamp=timestamp, chunk_id=-1 if human else t // 8, chunk_index=-1 if human else t % 8,
                          checkpoint_id="" if kind == "demo" else checkpoint, reward=float(done), done=done)
    rec.header.episode_id = episode_id
    return rec
