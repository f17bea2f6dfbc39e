"""The project's own delta-action example (examples/delta_pick_place.py): displacements plus a gripper
in [-1, 1], a closed-loop expert whose raw actions overshoot the box, several phases in a row."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import examples.delta_pick_place  # noqa: F401  (registers delta_pick_place)
import sim
from hgdagger.loop.supervision import calibrate
from sim.supervisor import SupervisorConfig

ROOT = Path(__file__).resolve().parents[1]


def test_the_expert_wins_from_its_clipped_actions_though_it_asks_for_far_more():
    driver, expert = sim.make_driver("delta_pick_place", seed=0), sim.make_expert("delta_pick_place")
    assert driver.spec.relative_action == (True, True, True, False)  # displacements, and a gripper target
    wins, outside, steps = 0, 0, 0
    for seed in range(10):
        driver.reset(seed)
        expert.reset(seed)
        for _ in range(driver.max_steps):
            action = expert.act(driver.observe())
            assert np.all(np.abs(action) <= 1.0)
            outside += np.abs(expert.last_raw[:3]).max() > 1.0
            steps += 1
            driver.command(action)
            if driver.terminated or driver.truncated:
                break
        wins += driver.outcome.success
    assert wins == 10 and outside / steps > 0.4 and steps / 10 > 30  # long enough for mistakes to compound


def test_its_supervisor_threshold_is_calibrated_above_the_default():
    calibrated = calibrate("delta_pick_place", SupervisorConfig())
    assert calibrated["divergence_ratio"] > SupervisorConfig().divergence_ratio


@pytest.mark.slow
def test_hgd_loop_runs_it_from_the_repository_root(tmp_path):
    run = tmp_path / "delta"
    result = subprocess.run(
        [sys.executable, "-m", "hgdagger.cli.loop", "--plugin", "examples.delta_pick_place", "--set",
         "task=delta_pick_place", "--set", 'relative_to=""', "--set", "demos=4", "--set", "rounds=1", "--set",
         "rollouts_per_round=3", "--set", "eval_episodes=4", "--set", "train_steps=60", "--set", "finetune_steps=30",
         "--set", "batch_size=64", "--out", str(run), "--quiet"], cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert "false alarms" in result.stdout and "misses" in result.stdout
    saved = json.loads((run / "supervisor.json").read_text())
    assert saved["divergence_ratio"] > saved["configured"]
    audit = json.loads((run / "round_1" / "sessions.json").read_text())["supervisor"]
    assert audit["alone_won"] + audit["alone_lost"] == 3
