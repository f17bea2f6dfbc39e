"""The HG-DAgger vs BC benchmark's bookkeeping: the label budget, the compute budget, the slope."""

from __future__ import annotations

import numpy as np
import pytest

from hgdagger.benchmarks.bench_dagger import loglog_slope
from hgdagger.loop import bc_arm
from hgdagger.loop.config import LoopConfig


def test_bc_gets_at_least_the_loops_labels_as_whole_demonstrations_and_the_loops_gradient_steps():
    cfg = LoopConfig(demos=30, rounds=3, train_steps=2000, finetune_steps=1000)
    bc = bc_arm.settings(cfg, 3, labels_target=3001, demo_labels=1500)  # 50 labels per demonstration
    assert bc.demos == 61 and bc.rounds == 0 and bc.train_steps == 5000 and not bc.compare_bc
    assert bc_arm.settings(cfg, 1, labels_target=1600, demo_labels=1500).train_steps == 3000  # round 1's policy's
    scratch = bc_arm.settings(LoopConfig(demos=30, rounds=2, train_steps=2000, from_scratch=True), 2, 1500, 1500)
    assert scratch.demos == 30 and scratch.train_steps == 2000  # the final policy's own training


@pytest.mark.parametrize("power", [1.0, 2.0])
def test_loglog_slope_recovers_the_growth_exponent(power):
    t = np.arange(1, 201)
    assert loglog_slope(list(0.01 * t**power)) == pytest.approx(power, abs=1e-6)
    assert np.isnan(loglog_slope([0.0] * 50))


@pytest.mark.slow
def test_the_benchmark_runs_both_arms_and_the_ablation_and_writes_its_report(tmp_path):
    import json

    from hgdagger.benchmarks.bench_dagger import run

    tiny = ["--set", "demos=3", "--set", "rounds=1", "--set", "rollouts_per_round=2", "--set", "eval_episodes=4",
            "--set", "train_steps=60", "--set", "finetune_steps=30", "--set", "batch_size=64"]
    report = run(["--task", "reach", "--seeds", "0", "1", "--runs", str(tmp_path / "runs"), "--out", str(tmp_path),
                  "--scratch-ablation", *tiny])
    summary = report["summary"]
    assert set(summary) == {"hgdagger", "bc", "round0", "hgdagger_scratch", "supervision"}
    (supervised,) = summary["supervision"]  # one supervised round: its audit pooled over both seeds' rollouts
    assert supervised["false_alarms"]["of"] + supervised["misses"]["of"] == 2 * 2
    assert set(supervised["as_if"]) == {"configured", "expert_calibrated", "this_round"}
    assert (tmp_path / "runs" / "reach" / "seed0" / "result.json").exists()  # a finished seed is kept for a rerun
    assert summary["bc"]["labels_mean"] >= summary["hgdagger"]["labels_mean"]  # BC gets at least the loop's labels
    seed0 = report["per_seed"][0]
    assert seed0["bc"]["train_steps"] == 60 + 30 and seed0["hgdagger_scratch"]["train_steps"] == 90
    assert len(summary["bc"]["cumulative_off_track"]) == 100  # reach's step limit
    assert json.loads((tmp_path / "dagger_reach.json").read_text())["summary"]["bc"]["per_seed"] == summary["bc"]["per_seed"]
    assert (tmp_path / "dagger_reach.png").stat().st_size > 10_000


def _fake_seed(bc_reached: list[int], dagger_reached: list[int]) -> dict:
    """One seed's results, as run_seed writes them, with the milestones each evaluation episode reached."""
    def watched(reached):
        return {"cumulative_off_track": list(np.linspace(0, 5, 20)), "milestone_steps": [list(range(1, n + 1)) for n in reached]}

    rounds = [{"round": r, "success_rate": 0.1 * r, "eval_successes": r, "eval_episodes": 10, "labels_so_far": 100 * (r + 1)}
              for r in range(3)]
    return {"hgdagger": {"rounds": rounds, "watched": watched(dagger_reached)},
            "bc": {"success": 0.1, "successes": 1, "episodes": 10, "labels": 300, "watched": watched(bc_reached)}}


def test_failure_against_horizon_is_the_share_of_episodes_short_of_each_sub_goal(tmp_path):
    from hgdagger.benchmarks.bench_dagger import plot, summarise

    milestones = ("lifted", "placed", "second lifted", "second placed")
    per_seed = [_fake_seed([4, 1, 0, 2], [4, 4, 3, 2]), _fake_seed([4, 2, 0, 0], [4, 4, 4, 1])]
    summary = summarise(per_seed, milestones)
    # seed 0 BC: 1 of 4 episodes never lifted, 2 never placed, 3 never reached the 3rd and 4th sub-goals
    np.testing.assert_allclose(summary["bc"]["failure_by_milestone"]["per_seed"][0], [0.25, 0.5, 0.75, 0.75])
    np.testing.assert_allclose(summary["hgdagger"]["failure_by_milestone"]["mean"], [0, 0.125, 0.25, 0.375])
    # per stage: of those that reached the previous sub-goal, the share that failed this one
    np.testing.assert_allclose(summary["hgdagger"]["failure_by_milestone"]["per_stage"], [0, 0.125, 0.125 / 0.875, 0.125 / 0.75])
    summary["milestones"] = {"names": list(milestones), "expert_steps_median": [90, 170, 225, 295]}
    plot(per_seed, summary, "pick_place_two", tmp_path / "p.png")
    assert (tmp_path / "p.png").stat().st_size > 10_000


def test_the_expert_reaches_pick_place_twos_sub_goals_in_order():
    from sim.evaluation import expert_milestone_steps

    steps = expert_milestone_steps("pick_place_two", episodes=2, seed=3)
    assert all(len(s) == 4 and s == sorted(s) and s[0] > 20 for s in steps)


def test_the_supervisor_table_pools_false_alarms_and_misses_over_seeds_with_the_as_if_settings():
    from hgdagger.benchmarks.bench_dagger import summarise_supervision

    def seed(share, fa, won, miss, lost, as_if_fa):
        audit = {"alone_won": won, "false_alarms": fa, "alone_lost": lost, "misses": miss, "divergence_ratio": 3.0,
                 "divergence_steps": 12,
                 "as_if": {"configured": {"alone_won": won, "false_alarms": as_if_fa, "alone_lost": lost, "misses": 0,
                                          "divergence_ratio": 0.8, "divergence_steps": 3}}}
        return {"hgdagger": {"supervision": [{"round": 1, "human_step_share": share, "audit": audit}]}}

    rows = summarise_supervision([seed(0.2, 1, 5, 0, 5, 5), seed(0.4, 0, 5, 1, 5, 4)])
    (r,) = rows
    assert r["human_step_share"]["mean"] == pytest.approx(0.3)
    assert (r["false_alarms"]["count"], r["false_alarms"]["of"]) == (1, 10) and r["misses"]["pooled_rate"] == 0.1
    lo, hi = r["false_alarms"]["pooled_ci95"]
    assert lo < 0.1 < hi
    assert r["as_if"]["configured"]["false_alarms"]["pooled_rate"] == 0.9
    assert r["as_if"]["configured"]["setting_per_seed"] == [[0.8, 3], [0.8, 3]]
