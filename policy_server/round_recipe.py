"""How a round of a run is trained: one recipe for the unattended loop and for `hgd-train --run`.

The loop's training settings (the fields of `RoundRecipe`) are saved in ``<run>/config.json``.
`plan_round` turns them into round r's training settings; the loop calls it with its own settings,
and hgd-train --run with none, so it reads the run's config.json, or in a run made by hand (no
config.json) the newest earlier round's train_config.json, or else the recipe's defaults, which
are the loop's. A round trained by hand is then the loop's round: the same weighting, data
selection, observation keys, relative actions, horizon, steps and starting checkpoint.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

from hgdagger.common.observation_sets import observation_set
from recorder import run_folder
from recorder.selection import check_include

if TYPE_CHECKING:
    from policy_server.train import TrainConfig

PREVIOUS = "previous"
"""`init_from` value: fine-tune from the previous round's checkpoint when there is one."""


@dataclass
class RoundRecipe:
    """The loop's training settings; `hgdagger.loop.config.LoopConfig` takes its defaults from here."""

    weighting: str = "hg-dagger"  # demonstrations + human-controlled rollout steps (recorder.weighting)
    include: list[str] = field(default_factory=list)  # also train on these labels (recorder.selection)
    train_steps: int = 2000  # round 0 (and every round when from_scratch)
    finetune_steps: int = 1000  # later rounds fine-tune the previous checkpoint
    relative_to: str = "joint_pos"  # learn joint targets relative to the current joints (measured: reach from
    #                                 30 clean demos, 2000 steps: 0.33 success relative vs 0.07 absolute)
    from_scratch: bool = False
    observations: str = "state"  # what the policy sees (hgdagger.common.observation_sets): state | pixels
    batch_size: int = 256
    width: int = 256  # the velocity network's hidden width (model.net.hidden)
    expansion: int = 2  # its residual blocks' inner width in multiples of `width` (model.net.expansion)
    flow_steps: int = 5  # Euler steps per chunk when sampling (model.flow_steps; ModelConfig says why 5)
    horizon: int = 16  # chunk length H
    seed: int = 0
    control_hz: float = 20.0

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> "RoundRecipe":
        """The recipe's fields of a larger set of settings (the loop's config.json); ValueError on a bad include."""
        names = {f.name for f in dataclasses.fields(cls)}
        recipe = cls(**{k: v for k, v in settings.items() if k in names})
        recipe.include = list(check_include(recipe.include))
        observation_set(recipe.observations)  # (ValueError naming the sets)
        return recipe

    def fine_tunes(self, r: int) -> bool:
        return r > 0 and not self.from_scratch

    def train_config(self, r: int) -> "TrainConfig":
        """Round r's TrainConfig: round 0 (and every round when from_scratch) trains from scratch for
        train_steps; later rounds fine-tune the previous checkpoint for finetune_steps, without warm-up."""
        from policy_server.train import TrainConfig

        fine_tune = self.fine_tunes(r)
        cfg = TrainConfig(steps=self.finetune_steps if fine_tune else self.train_steps, batch_size=self.batch_size,
                          seed=self.seed, control_period=1.0 / self.control_hz, val_every=10**9, ckpt_every=10**9,
                          warmup_steps=0 if fine_tune else 100)
        cfg.model.horizon = self.horizon
        cfg.model.net.hidden = self.width
        cfg.model.net.expansion = self.expansion
        cfg.model.flow_steps = self.flow_steps
        cfg.model.relative_to = self.relative_to
        observation_set(self.observations).apply(cfg)
        return cfg


@dataclass
class RoundPlan:
    """Round r's training settings, and where they came from (for the one line hgd-train prints)."""

    config: "TrainConfig"
    weighting: str
    include: list[str]
    init_from: str | None  # PREVIOUS, a checkpoint path, or None (from scratch)
    origin: str  # "the loop's settings in runs/x/config.json", ...
    defaults: bool = False  # the recipe's defaults: the run holds no settings of its own

    def describe(self) -> str:
        """'weighting hg-dagger, 1000 steps, H=16, ... fine-tunes the previous round'."""
        c = self.config
        init = {None: "from scratch", PREVIOUS: "fine-tunes the previous round"}.get(self.init_from,
                                                                                 f"fine-tunes {self.init_from}")
        return (f"weighting {self.weighting}, include {' '.join(self.include) or 'nothing else'}, {c.steps} steps, "
                f"H={c.model.horizon}, batch {c.batch_size}, width {c.model.net.hidden} x{c.model.net.expansion}, "
                f"{c.model.flow_steps} Euler steps, "
                f"{'actions relative to ' + c.model.relative_to if c.model.relative_to else 'absolute actions'}, "
                f"obs keys {' '.join(c.lowdim_keys) if c.lowdim_keys else 'all'}"
                f"{', cameras ' + (' '.join(c.image_keys) if c.image_keys else 'all') if c.use_images else ''}, {init}")


def plan_round(run: str | Path, r: int, settings: Mapping[str, Any] | None = None, origin: str = "") -> RoundPlan:
    """Round r's training settings from `settings` (the loop's own), else the run's config.json, else
    the newest train_config.json of rounds < r, else the loop's defaults. ValueError on a config that
    cannot be read."""
    if settings is not None:
        return _from_recipe(RoundRecipe.from_settings(settings), r, origin or "the loop's settings")
    loop_config = run_folder.config_path(run)
    if loop_config.exists():
        return _from_recipe(RoundRecipe.from_settings(_read(loop_config)), r, f"the loop's settings in {loop_config}")
    earlier = [k for k in run_folder.list_rounds(run) if k < r and run_folder.train_config_path(run, k).exists()]
    if earlier:
        return _from_round(run_folder.train_config_path(run, earlier[-1]), earlier[-1], r)
    plan = _from_recipe(RoundRecipe(), r, "the loop's defaults (no config.json, no earlier train_config.json)")
    plan.defaults = True
    return plan


def _read(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise ValueError(f"cannot read {path}: {e}") from None


def _from_recipe(recipe: RoundRecipe, r: int, origin: str) -> RoundPlan:
    return RoundPlan(recipe.train_config(r), recipe.weighting, list(recipe.include),
                     PREVIOUS if recipe.fine_tunes(r) else None, origin)


def _from_round(path: Path, k: int, r: int) -> RoundPlan:
    """Round k's recorded settings for round r, fine-tuning round r-1. Round 0's weighting is not
    inherited: on demonstrations alone every preset weighs the same, so it says nothing."""
    from policy_server.train import TrainConfig

    saved = _read(path)
    cfg = TrainConfig.from_dict(saved.get("config", {}))
    weighting = saved.get("weighting", RoundRecipe.weighting) if k > 0 else RoundRecipe.weighting
    return RoundPlan(cfg, weighting, list(check_include(saved.get("include", []))), PREVIOUS,
                     f"round {k}'s settings in {path}")
