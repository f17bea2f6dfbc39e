"""Round aggregation: the episodes a round trains on and the weight of each of their steps.

Round r trains on every episode recorded in rounds 0..r (DAgger's aggregation: Ross et al.,
AISTATS 2011) that `recorder.selection`'s label rule takes (no discarded attempts, no failed
demonstrations unless included), read through the one episode reader and weighted by a named preset
of `recorder.weighting` (HG-DAgger's: demonstrations and human-controlled steps only).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from recorder import run_folder
from recorder.dataset import RecordedEpisode, load_selected
from recorder.selection import LeftOut, describe
from recorder.weighting import make_weighting


@dataclass
class Aggregate:
    episodes: list[RecordedEpisode]
    weights: list[np.ndarray]  # one (T,) array per episode; 0 drops a step
    left_out: list[LeftOut] = field(default_factory=list)  # episodes the label rule did not take

    @property
    def files(self) -> list[str]:
        return sorted({ep.file for ep in self.episodes})

    @property
    def left_out_line(self) -> str:
        """'left out: 2 discarded (--include discard to use them)', or '' when nothing was."""
        return describe(w.reason for w in self.left_out)


def weigh(files: Iterable[str | Path], weighting: str = "uniform", obs_keys: Iterable[str] | None = None,
          include: Iterable[str] = (), **weighting_kw: Any) -> Aggregate:
    """The episodes of `files` (folders searched) that the label rule takes (`include`: what else,
    see recorder.selection), with the preset's per-step weights. Raises recorder.dataset.DatasetError,
    naming the file, on data that cannot be trained on."""
    chosen = load_selected(files, obs_keys, include)
    return Aggregate(chosen.episodes, make_weighting(weighting, **weighting_kw)(chosen.episodes), chosen.left_out)


def round_training_set(run: str | Path, r: int, weighting: str = "uniform", obs_keys: Iterable[str] | None = None,
                       include: Iterable[str] = (), **weighting_kw: Any) -> Aggregate:
    """Round r's training set: rounds 0..r of `run` (RoundError names a missing or empty round)."""
    return weigh(run_folder.training_files(run, r), weighting, obs_keys, include, **weighting_kw)
