"""Pure chunk-execution maths: realigning, splicing, ensembling, ramps. Arrays in, arrays out.

Step convention, used everywhere in the runtime: a chunk produced from the observation taken at
control step ``t0`` has ``chunk[i]`` = the action to execute at step ``t0 + i``. Its "start" is t0.
A chunk that arrives while step ``t`` is next to execute has been *consumed* for ``t - t0`` steps
(those steps already ran on older actions), so execution splices in at index ``t - t0``: the count
of actions actually executed, never a wall-clock estimate.
"""

from __future__ import annotations

import math

import numpy as np


def delay_in_steps(latency_s: float, period_s: float) -> int:
    """Control steps that elapse while a request of ``latency_s`` is in flight (rounded up, >= 1
    because the step whose observation was sent has already executed by the time we send)."""
    return max(1, math.ceil(latency_s / period_s - 1e-9))


def index_at(start: int, step: int, chunk_length: int) -> int | None:
    """Index into a chunk started at ``start`` for ``step``; None outside the chunk."""
    i = step - start
    return i if 0 <= i < chunk_length else None


def realign(chunk: np.ndarray, start: int, new_start: int, length: int | None = None) -> np.ndarray:
    """The actions ``chunk`` (started at ``start``) plans for steps ``new_start, new_start+1, ...``,
    as an array of ``length`` rows (default: the chunk's) with NaN rows where it plans nothing.

    This is the committed prefix sent with a real-time-chunking request.
    """
    H, A = chunk.shape
    n = H if length is None else length
    out = np.full((n, A), np.nan, dtype=np.float64)
    off = new_start - start
    lo, hi = max(0, -off), min(n, H - off)
    if hi > lo:
        out[lo:hi] = chunk[lo + off:hi + off]
    return out


def ensemble_weights(n: int, decay: float) -> np.ndarray:
    """ACT's temporal-ensembling weights for ``n`` overlapping chunks, oldest first:
    w_i = exp(-decay * i), normalised (Zhao et al. 2023, arXiv 2304.13705, Sec. IV-B).
    A positive decay favours older chunks, as in the paper."""
    w = np.exp(-decay * np.arange(n, dtype=np.float64))
    return w / w.sum()


def temporal_ensemble(chunks: list[tuple[int, np.ndarray]], step: int, decay: float) -> np.ndarray | None:
    """Weighted average of every chunk's action for ``step``; ``chunks`` are (start, chunk) pairs
    oldest first. None when no chunk covers the step."""
    acts = [c[step - s] for s, c in chunks if 0 <= step - s < len(c)]
    if not acts:
        return None
    w = ensemble_weights(len(acts), decay)
    return np.tensordot(w, np.stack(acts), axes=1)


def ramp(start: np.ndarray, target: np.ndarray, k: int, steps: int) -> np.ndarray:
    """Step ``k`` (0-based) of a linear blend from ``start`` to ``target`` over ``steps`` steps;
    reaches ``target`` exactly at k = steps - 1 and stays there."""
    if steps <= 1 or k >= steps - 1:
        return np.asarray(target, dtype=np.float64).copy()
    a = (k + 1) / steps
    return (1 - a) * np.asarray(start, np.float64) + a * np.asarray(target, np.float64)


def boundary_jumps(actions: np.ndarray, boundary: np.ndarray) -> dict[str, float]:
    """Largest position and velocity (second difference) jumps in an executed action sequence,
    at chunk boundaries (``boundary[t]``: step t used a different chunk than step t-1) and inside
    chunks. Arm joints only (the last column, the gripper, is ignored). For benchmarks."""
    q = np.asarray(actions)[:, :-1]
    if len(q) < 3:
        return {"pos_boundary": 0.0, "pos_inside": 0.0, "vel_boundary": 0.0, "vel_inside": 0.0}
    dq = np.abs(np.diff(q, axis=0)).max(axis=1)  # dq[t-1] = |q_t - q_{t-1}|
    ddq = np.abs(np.diff(q, n=2, axis=0)).max(axis=1)  # ddq[t-2] = change of velocity at t
    b = np.asarray(boundary, bool)
    pb, pi = dq[b[1:]], dq[~b[1:]]
    vb, vi = ddq[b[2:]], ddq[~b[2:]]
    f = lambda x: float(x.max()) if x.size else 0.0  # noqa: E731
    return {"pos_boundary": f(pb), "pos_inside": f(pi), "vel_boundary": f(vb), "vel_inside": f(vi)}
