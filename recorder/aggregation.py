"""Round aggregation: the episodes a round trains on and the weight of each of their steps.

Round r trains on every episode recorded in rounds 0..r (DAgger's aggregation: Ross et al.,
AISTATS 2011), read through the one episode reader and weighted by a named preset of
`recorder.weighting` (HG-DAgger's: demonstrations and human-controlled steps only).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from recorder import run_folder
from recorder.dataset import RecordedEpisode, load_episodes
from recorder.weighting import make_weighting


@dataclass
class Aggregate:
    episodes: list[RecordedEpisode]
    weights: list[np.ndarray]  # one (T,) array per episode; 0 drops a step

    @property
    def files(self) -> list[str]:
        return sorted({ep.file for ep in self.episodes})


def weigh(files: Iterable[str | Path], weighting: str = "uniform", obs_keys: Iterable[str] | None = None,
          **weighting_kw: Any) -> Aggregate:
    """Every usable episode of `files` (folders searched) with the preset's per-step weights.
    Raises recorder.dataset.DatasetError, naming the file, on data that cannot be trained on."""
    episodes = load_episodes(files, obs_keys)
    return Aggregate(episodes, make_weighting(weighting, **weighting_kw)(episodes))


def round_training_set(run: str | Path, r: int, weighting: str = "uniform", obs_keys: Iterable[str] | None = None,
                       **weighting_kw: Any) -> Aggregate:
    """Round r's training set: rounds 0..r of `run` (RoundError names a missing or empty round)."""
    return weigh(run_folder.training_files(run, r), weighting, obs_keys, **weighting_kw)
