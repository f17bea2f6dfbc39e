"""The one way a policy is trained on recorded episodes: `hgd-train` and the unattended loop both
call `train_round` (a round of a run folder) or `train_on_files` (plain files), so a round trained
by hand and a round trained by the loop read the same data, weight it the same way and write the
same files. What a round's settings are is decided in one place too: `round_recipe.plan_round`.

A round (HG-DAgger: Kelly et al., ICRA 2019) trains on everything recorded in rounds 0..r that the
label rule of `recorder.selection` takes (no discarded attempts; failed or aborted demonstrations
only when included), weighted by a preset of `recorder.weighting`, and writes
`round_<r>/checkpoints/` and `round_<r>/train_config.json` (the settings, where they came from, the
exact files trained on and the episodes left out).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from policy_server.checkpoint import CheckpointError, load_checkpoint
from policy_server.data import ChunkDataset, episodes_to_dataset
from policy_server.round_recipe import PREVIOUS, RoundPlan
from policy_server.train import TrainConfig, TrainResult, train
from recorder import aggregation, run_folder
from recorder.selection import LeftOut, describe

__all__ = ["PREVIOUS", "Prepared", "prepare", "prepare_round", "resolve_init", "train_on_files", "train_round"]


@dataclass
class Prepared:
    """What a training run will read, before it starts (for a summary line and the round's record)."""

    dataset: ChunkDataset
    episodes: int
    files: list[str]
    left_out: list[LeftOut] = field(default_factory=list)

    @property
    def left_out_line(self) -> str:
        """'left out: 3 discarded, 1 failed demonstration (--include discard failure to use them)', or ''."""
        return describe(w.reason for w in self.left_out)


def prepare(files: list[Path], cfg: TrainConfig, weighting: str = "uniform", include: Iterable[str] = (),
            **weighting_kw: Any) -> Prepared:
    """Read the episodes of `files` the label rule takes (`include`: what else) through the recorder's
    reader and cut them into weighted chunks of the model's horizon.
    Raises recorder.dataset.DatasetError (naming the file) on data that cannot be trained on."""
    return _prepared(aggregation.weigh(files, weighting, cfg.observation_keys(), include, **weighting_kw), cfg)


def _prepared(agg: aggregation.Aggregate, cfg: TrainConfig) -> Prepared:
    dataset = episodes_to_dataset(agg.episodes, cfg.model.horizon, lambda _: agg.weights)
    return Prepared(dataset, len(agg.episodes), agg.files, agg.left_out)


def resolve_init(run: str | Path, r: int, init_from: str | Path | None) -> str | None:
    """`previous` -> round r-1's checkpoint if it exists (None for round 0); a path as given; None: from scratch."""
    if init_from is None or str(init_from) == "none":
        return None
    if str(init_from) == PREVIOUS:
        prev = run_folder.checkpoint_path(run, r - 1) if r > 0 else None
        return str(prev) if prev is not None and prev.exists() else None
    return str(init_from)


def train_on_files(prepared: Prepared, cfg: TrainConfig, out: Path, init_from: str | None = None, resume: bool = False,
                   progress: bool = True, meta: dict[str, Any] | None = None) -> TrainResult:
    """Train on already prepared data into `out` (last.pt, best.pt, loss.csv and TensorBoard events)."""
    meta = dict(meta or {}) | {"data_files": prepared.files, "init_from": init_from}
    return train(prepared.dataset, cfg, out, resume=resume, init_from=init_from, progress=progress, extra_meta=meta)


def prepare_round(run: str | Path, r: int, plan: RoundPlan, **weighting_kw: Any) -> Prepared:
    """Round r's training set: the episodes of rounds 0..r the plan's label rule takes
    (RoundError names a missing or empty round)."""
    agg = aggregation.round_training_set(run, r, plan.weighting, plan.config.observation_keys(), plan.include,
                                         **weighting_kw)
    return _prepared(agg, plan.config)


def _round_record(run: str | Path, r: int, plan: RoundPlan, prepared: Prepared) -> dict[str, Any]:
    """Round r's train_config.json for this plan and data."""
    cfg = plan.config
    return run_folder.round_config(
        r, cfg.to_dict(), [Path(f) for f in prepared.files], weighting=plan.weighting, include=plan.include,
        left_out=[{"episode": w.where, "reason": w.reason} for w in prepared.left_out],
        settings_from=plan.origin, init_from=resolve_init(run, r, plan.init_from), horizon=cfg.model.horizon)


def interrupted_step(run: str | Path, r: int, plan: RoundPlan, prepared: Prepared) -> int | None:
    """The step round r's own training had saved when it was stopped (Ctrl-C, SIGTERM), if it was training
    on exactly these files with exactly these settings: resuming it gives the same policy as an
    uninterrupted run. None when there is nothing of this training to resume (start afresh)."""
    last, record = run_folder.checkpoint_path(run, r), run_folder.train_config_path(run, r)
    if not (last.is_file() and record.is_file()):
        return None
    try:
        if json.loads(record.read_text()) != _round_record(run, r, plan, prepared):
            return None
        step = int(load_checkpoint(last)["step"])
    except (OSError, ValueError, CheckpointError):  # unreadable: train afresh (the round's data is untouched)
        return None
    return step if 0 < step <= plan.config.steps else None


def train_round(run: str | Path, r: int, plan: RoundPlan, prepared: Prepared, resume: bool = False,
                progress: bool = True, out: Path | None = None) -> TrainResult:
    """Train round r of `run` on `prepared` (from `prepare_round`) with the plan's settings. `out`:
    train into this folder instead, leaving the round untouched (ablations)."""
    started_from = resolve_init(run, r, plan.init_from)  # what the round starts from, resumed or not
    init = None if resume else started_from
    cfg = plan.config
    if out is None:
        run_folder.write_json(run_folder.train_config_path(run, r), _round_record(run, r, plan, prepared))
    return train_on_files(prepared, cfg, out or run_folder.checkpoints_dir(run, r), init_from=init, resume=resume,
                          progress=progress, meta={"round": r, "weighting": plan.weighting, "include": plan.include})
