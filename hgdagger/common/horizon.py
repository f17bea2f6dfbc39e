"""How failure grows with the horizon: the measures behind the compounding-error claim (Ross &
Bagnell, AISTATS 2010), computed from watched evaluations (`sim.evaluation.evaluate(watch=True)`).
Pure functions of arrays."""

from __future__ import annotations

import numpy as np


def cumulative_off_track(divergences: list[np.ndarray], successes: list[bool], horizon: int,
                         threshold: float, run: int = 1) -> np.ndarray:
    """Mean number of off-track steps among the first T, for T = 1..horizon: the cost whose growth
    with T the imitation-learning bounds are about (Ross & Bagnell 2010: O(eps T^2) for behavioural
    cloning, O(eps T) for DAgger-style training on the learner's own states).

    A step is off track when the policy's divergence from the expert exceeds `threshold` for at
    least `run` consecutive steps (a lone disagreeing step is noise, not a mistake; with the
    supervisor's own `divergence_steps`, off track means "the supervisor would have acted"). An
    episode that ended in success costs nothing afterwards; one that ended in failure before
    `horizon` stays off track for the rest (it can no longer recover).
    """
    cost = np.zeros((len(divergences), horizon))
    for i, (gaps, ok) in enumerate(zip(divergences, successes)):
        off = off_track_steps(np.asarray(gaps, float) > threshold, run)[:horizon].astype(float)
        cost[i, : len(off)] = off
        if not ok:
            cost[i, len(off):] = 1.0
    return np.cumsum(cost, axis=1).mean(axis=0)


def failure_by_milestone(milestone_steps: list[list[int]], count: int) -> np.ndarray:
    """`failure_by_reached` from the steps at which each episode reached its milestones."""
    return failure_by_reached([len(m) for m in milestone_steps], count)


def failure_by_reached(reached: list[int], count: int) -> np.ndarray:
    """For k = 1..count, the share of episodes that never reached the task's k-th milestone (reached:
    how many each episode reached): the failure rate of the task cut off at that sub-goal, i.e.
    against a growing horizon."""
    counts = np.asarray(reached)
    return np.array([float(np.mean(counts < k)) for k in range(1, count + 1)])


def failure_per_sub_goal(failure_before: np.ndarray) -> np.ndarray:
    """From the share of episodes failing before each sub-goal, the share of those that reached the
    previous sub-goal but not this one: how often each stage fails when it is tried. Compounding
    errors show as the same kind of stage (a second lift, a second place) failing more often when it
    comes later in the episode."""
    f = np.asarray(failure_before, float)
    before = np.concatenate([[0.0], f[:-1]])
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(before < 1.0, (f - before) / (1.0 - before), np.nan)


def off_track_steps(disagrees: np.ndarray, run: int) -> np.ndarray:
    """The steps that belong to a streak of at least `run` consecutive disagreeing steps."""
    out = np.zeros(len(disagrees), bool)
    start = None
    for t, d in enumerate(list(disagrees) + [False]):
        if d and start is None:
            start = t
        elif not d and start is not None:
            if t - start >= run:
                out[start:t] = True
            start = None
    return out


def first_off_track(divergences: list[np.ndarray], threshold: float, run: int = 1) -> np.ndarray:
    """Per episode, the first step at which the policy has been off track for `run` consecutive steps
    (-1 when it never was)."""
    firsts = []
    for gaps in divergences:
        off = np.asarray(gaps, float) > threshold
        streak, at = 0, -1
        for t, o in enumerate(off):
            streak = streak + 1 if o else 0
            if streak >= run:
                at = t - run + 1
                break
        firsts.append(at)
    return np.array(firsts, int)
