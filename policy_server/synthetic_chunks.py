"""Small synthetic chunk datasets with known answers, for tests and benchmarks (no simulator needed).

`bimodal`: a 1-D fork. Each sample goes up (+1) or down (-1) with equal probability, whatever the
observation; an L2 policy must predict ~0 (the average of the modes), a generative policy must
produce both modes.

`reaching`: an arm-like task with a 7-joint state and a 3-D target; the chunk moves the joints
smoothly toward a target-dependent configuration, with a left/right detour bump on one joint
(two modes). `mode_chunks` gives both true chunks, so accuracy = distance to the nearest mode.
"""

from __future__ import annotations

import numpy as np

from policy_server.data import ChunkDataset


def bimodal(n: int = 2000, horizon: int = 4, seed: int = 0, up_fraction: float = 0.5) -> ChunkDataset:
    """obs {'x': (n, 1)} uniform in [-1, 1]; action dim 0 = +-(0.5 + 0.5 h/H), dim 1 = x."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, (n, 1)).astype(np.float32)
    sign = np.where(rng.random(n) < up_fraction, 1.0, -1.0)
    ramp = 0.5 + 0.5 * np.arange(1, horizon + 1) / horizon
    a0 = sign[:, None] * ramp[None, :] + 0.03 * rng.standard_normal((n, horizon))
    a1 = np.repeat(x, horizon, axis=1)
    actions = np.stack([a0, a1], -1).astype(np.float32)
    return ChunkDataset({"x": x}, actions, episode=np.arange(n) // 20)


_W = np.random.default_rng(1234).normal(size=(7, 3))


def _goal_joints(target: np.ndarray) -> np.ndarray:
    return np.tanh(target @ _W.T)


def mode_chunks(joint_pos: np.ndarray, target: np.ndarray, horizon: int) -> np.ndarray:
    """Both true chunks (2, N, H, 8) for the reaching task: detour left (-) and right (+)."""
    q_goal = _goal_joints(target)
    h = np.arange(1, horizon + 1) / horizon
    frac = (1 - np.exp(-3 * h))[None, :, None]
    base = joint_pos[:, None, :] + (q_goal - joint_pos)[:, None, :] * frac
    bump = 0.6 * np.sin(np.pi * h)[None, :]
    grip = np.broadcast_to(h[None, :, None] > 0.5, (len(target), horizon, 1)).astype(np.float64)
    out = []
    for s in (-1.0, 1.0):
        q = base.copy()
        q[:, :, 1] += s * bump
        out.append(np.concatenate([q, grip], -1))
    return np.stack(out).astype(np.float32)


def reaching(n: int = 4000, horizon: int = 16, seed: int = 0) -> ChunkDataset:
    """obs {'joint_pos': (n, 7), 'target_pos': (n, 3)}; actions (n, H, 8), two modes 50/50."""
    rng = np.random.default_rng(seed)
    q = rng.uniform(-1, 1, (n, 7)).astype(np.float32)
    target = rng.uniform(-1, 1, (n, 3)).astype(np.float32)
    modes = mode_chunks(q, target, horizon)
    pick = rng.random(n) < 0.5
    actions = np.where(pick[:, None, None], modes[1], modes[0])
    actions = actions + 0.01 * rng.standard_normal(actions.shape).astype(np.float32)
    return ChunkDataset({"joint_pos": q, "target_pos": target}, actions, episode=np.arange(n) // 50)


def nearest_mode_error(chunks: np.ndarray, joint_pos: np.ndarray, target: np.ndarray) -> tuple[float, float]:
    """(mean squared error to the nearest true mode, fraction of samples in the '+' mode)."""
    modes = mode_chunks(joint_pos, target, chunks.shape[1])
    err = ((chunks[None] - modes) ** 2).mean(axis=(2, 3))  # (2, N)
    return float(err.min(0).mean()), float((err[1] < err[0]).mean())
