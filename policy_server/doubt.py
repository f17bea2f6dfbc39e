"""The policy's doubt: how much several sampled chunks for the same observation disagree.

A flow-matching policy is a distribution; when its samples for one observation spread widely the
policy is unsure what to do — the lecture's question of detecting when an intervention is needed.
The server measures it (hgd-serve --doubt-samples); the console shows it as a gauge and may beep; nothing acts on it.
"""

from __future__ import annotations

import numpy as np


def chunk_spread(samples: np.ndarray, horizon: int | None = None) -> float:
    """Mean over time and action dimensions of the std-dev across samples; samples are (n, H, A).

    ``horizon`` limits it to the first steps, the ones about to run.
    """
    samples = np.asarray(samples, dtype=float)
    if samples.ndim != 3 or samples.shape[0] < 2:
        raise ValueError(f"need (n >= 2, H, A) samples, got shape {samples.shape}")
    if horizon is not None:
        samples = samples[:, :horizon]
    return float(samples.std(axis=0).mean())
