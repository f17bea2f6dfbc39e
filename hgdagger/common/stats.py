"""Summaries every benchmark reports the same way: medians with spread, rates with confidence intervals."""

from __future__ import annotations

import math

import numpy as np


def spread(samples) -> dict[str, float]:
    """Median with the 10th and 90th percentiles and the sample count."""
    values = np.asarray(samples, dtype=float)
    return {
        "median": float(np.median(values)),
        "p10": float(np.percentile(values, 10)),
        "p90": float(np.percentile(values, 90)),
        "n": int(values.size),
    }


def wilson_interval(successes: int, trials: int, z: float = 1.96) -> tuple[float, float]:
    """95% Wilson score interval for a success rate (sound near 0 and 1, unlike the normal one)."""
    if trials == 0:
        return (0.0, 1.0)
    p = successes / trials
    denom = 1 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denom
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


def difference_interval(wins_a: int, trials_a: int, wins_b: int, trials_b: int,
                        z: float = 1.96) -> tuple[float, float]:
    """95% interval for the difference of two success rates, a - b, by Newcombe's hybrid score method
    (Statistics in Medicine, 1998, method 10): built from each rate's Wilson interval, so it stays
    sound near 0 and 1 and with 50 episodes a side, where the normal approximation does not."""
    p_a = wins_a / trials_a if trials_a else 0.0
    p_b = wins_b / trials_b if trials_b else 0.0
    lo_a, hi_a = wilson_interval(wins_a, trials_a, z)
    lo_b, hi_b = wilson_interval(wins_b, trials_b, z)
    d = p_a - p_b
    return (d - math.sqrt((p_a - lo_a) ** 2 + (hi_b - p_b) ** 2), d + math.sqrt((hi_a - p_a) ** 2 + (p_b - lo_b) ** 2))


def print_table(headers: list[str], rows: list[list]) -> None:
    cells = [[str(h) for h in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    for i, row in enumerate(cells):
        print("  ".join(c.ljust(w) for c, w in zip(row, widths)))
        if i == 0:
            print("  ".join("-" * w for w in widths))
