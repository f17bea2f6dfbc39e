"""Sample-weighting presets for aggregated rounds, chosen by name (registry `WEIGHTINGS`).

A preset maps the list of episodes of a training set to per-step weights (one (T,) array per
episode); 0 drops a step. The trainer's loss is sum(w * loss) / sum(w) per batch.

- uniform: every recorded step, weight 1 (plain behaviour cloning on everything).
- hg-dagger: demonstrations plus human-controlled steps of rollouts only (Kelly et al.,
  "HG-DAgger: Interactive Imitation Learning with Human Experts", ICRA 2019).
- iwr: all steps; intervention steps re-weighted so that they make up about half of the total
  weight (Mandlekar et al., "Human-in-the-Loop Imitation Learning using Remote Teleoperation",
  2020, arXiv 2012.06733).
- sirius: per-step classes demo / robot / pre-intervention / intervention with class weights
  (defaults 1 / 1 / 0 / balanced-to-half); pre-intervention is the window of `pre_intervention_s`
  seconds before each takeover, when the robot was heading for the mistake (Liu et al., "Robot
  Learning on the Job: Human-in-the-Loop Autonomy and Learning During Deployment", RSS 2023).
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from hgdagger.common.types import Source
from recorder.dataset import RecordedEpisode

Weighting = Callable[[list[RecordedEpisode]], list[np.ndarray]]


def _is_demo(ep: RecordedEpisode) -> bool:
    kind = ep.attrs.get("kind", "demo")
    kind = kind.decode() if isinstance(kind, bytes) else str(kind)
    return kind == "demo" or ep.source is None


def _human(ep: RecordedEpisode) -> np.ndarray:
    """Steps a human commanded: every step of a demo; `source == human` (or `intervention`) in rollouts."""
    t = len(ep.actions)
    if _is_demo(ep):
        return np.ones(t, bool)
    if ep.intervention is not None:
        return np.asarray(ep.intervention, bool)
    return np.asarray(ep.source) == int(Source.HUMAN)


def uniform(episodes: list[RecordedEpisode]) -> list[np.ndarray]:
    return [np.ones(len(ep.actions), np.float32) for ep in episodes]


def hg_dagger(episodes: list[RecordedEpisode]) -> list[np.ndarray]:
    return [_human(ep).astype(np.float32) for ep in episodes]


def _balance(masks: list[np.ndarray], share: float = 0.5) -> tuple[float, float]:
    """Weights (w_in, w_out) giving the masked steps `share` of the total weight (1, 1 if one side is empty)."""
    n_in = sum(int(m.sum()) for m in masks)
    n_out = sum(int((~m).sum()) for m in masks)
    if n_in == 0 or n_out == 0:
        return 1.0, 1.0
    n = n_in + n_out
    return share * n / n_in, (1 - share) * n / n_out


def iwr(episodes: list[RecordedEpisode]) -> list[np.ndarray]:
    inter = [(_human(ep) & (not _is_demo(ep))) for ep in episodes]
    w_in, w_out = _balance(inter)
    return [np.where(m, w_in, w_out).astype(np.float32) for m in inter]


def _pre_intervention(ep: RecordedEpisode, human: np.ndarray, seconds: float, period: float) -> np.ndarray:
    """Robot steps within `seconds` before the start of each intervention."""
    pre = np.zeros(len(human), bool)
    starts = np.flatnonzero(human & ~np.concatenate([[False], human[:-1]]))
    ts = np.asarray(ep.timestamps, float) if ep.timestamps is not None else np.arange(len(human)) * period
    for s in starts:
        pre |= (ts >= ts[s] - seconds) & (np.arange(len(human)) < s)
    return pre & ~human


def make_sirius(pre_intervention_s: float = 2.0, robot: float = 1.0, pre: float = 0.0, demo: float = 1.0,
                period: float = 0.05) -> Weighting:
    def sirius(episodes: list[RecordedEpisode]) -> list[np.ndarray]:
        inter = [(_human(ep) & (not _is_demo(ep))) for ep in episodes]
        w_in, _ = _balance(inter)
        out = []
        for ep, m in zip(episodes, inter):
            if _is_demo(ep):
                out.append(np.full(len(m), demo, np.float32))
                continue
            w = np.full(len(m), robot, np.float32)
            w[_pre_intervention(ep, m, pre_intervention_s, period)] = pre
            w[m] = w_in
            out.append(w)
        return out

    return sirius


WEIGHTINGS: dict[str, Callable[..., Weighting]] = {
    "uniform": lambda **_: uniform,
    "hg-dagger": lambda **_: hg_dagger,
    "iwr": lambda **_: iwr,
    "sirius": lambda pre_intervention_s=2.0, **_: make_sirius(pre_intervention_s),
}


def make_weighting(name: str, **kw) -> Weighting:
    """A weighting preset by name."""
    try:
        return WEIGHTINGS[name](**kw)
    except KeyError:
        raise ValueError(f"unknown weighting {name!r}; choose from {sorted(WEIGHTINGS)}") from None
