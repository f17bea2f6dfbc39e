"""What counts as an expert label in the loop's budget (issue 22): a demonstration that failed is
recorded, labelled failure, and neither trained on nor counted, unless the run includes failures."""

from __future__ import annotations

import json

from hgdagger.loop import bc_arm
from hgdagger.loop.config import LoopConfig
from hgdagger.loop.sessions import EpisodeStats, summarise
from recorder import run_folder


def _demos() -> list[EpisodeStats]:
    return [EpisodeStats(0, "success", 40, 40, 0, "demo"), EpisodeStats(1, "failure", 300, 300, 0, "demo"),
            EpisodeStats(2, "success", 60, 60, 0, "demo")]


def test_a_failed_demonstration_is_not_a_label_unless_failures_are_included():
    summary = summarise(_demos())
    assert summary["episodes"] == 3 and summary["human_steps"] == 400  # all recorded
    assert summary["episodes_used"] == 2 and summary["labels"] == 100  # the failed one is not data
    assert summarise(_demos(), include=("failure",))["labels"] == 400


def test_a_failed_rollout_still_carries_its_corrections():
    rollouts = [EpisodeStats(5, "failure", 100, 30, 1, "rollout"), EpisodeStats(6, "discard", 100, 50, 2, "rollout")]
    assert summarise(rollouts)["labels"] == 30  # a discarded attempt is not data either


def test_the_label_budget_reads_labels_and_runs_from_before_it(tmp_path):
    run_folder.sessions_path(tmp_path, 0).parent.mkdir(parents=True)
    run_folder.sessions_path(tmp_path, 0).write_text(json.dumps(summarise(_demos())))
    run_folder.sessions_path(tmp_path, 1).parent.mkdir(parents=True)
    run_folder.sessions_path(tmp_path, 1).write_text(json.dumps({"human_steps": 7}))  # an older run's round
    assert run_folder.labels_so_far(tmp_path, 1) == 107


def test_behavioural_cloning_sizes_its_demonstrations_by_the_ones_that_carried_labels():
    cfg = LoopConfig(demos=3, rounds=1, train_steps=100, finetune_steps=50)
    # 100 labels from 2 good demonstrations: 50 each, so 200 labels take 2 more (not 1 more at 100/3 each)
    assert bc_arm.settings(cfg, 1, labels_target=200, demo_labels=100, demos_used=2).demos == 5
