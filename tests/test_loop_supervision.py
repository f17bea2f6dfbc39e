"""The loop's supervisor acts on mistakes, not noise (issue 22): its threshold is calibrated from the
task's expert, and every round reports its false alarms and misses against the policy alone."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import examples.point_reach  # noqa: F401  (registers point_reach)
from hgdagger.loop.supervision import audit, calibrate, expert_self_divergence
from sim.plugin import register_gym_task
from sim.supervisor import SupervisorConfig, calibrated_ratio


@given(st.lists(st.lists(st.floats(0, 50), min_size=3, max_size=60), min_size=1, max_size=4), st.floats(0.5, 1.0),
       st.floats(0.1, 5), st.integers(1, 3))
def test_the_expert_itself_would_rarely_set_off_a_supervisor_at_the_calibrated_threshold(episodes, q, floor, run):
    """At most 1 - q of the expert's own `run`-step stretches lie wholly above the threshold."""
    ratio = calibrated_ratio([np.array(g) for g in episodes], q, floor, run)
    assert ratio >= floor
    stretches = np.concatenate([np.lib.stride_tricks.sliding_window_view(np.array(g), run).min(1) for g in episodes])
    assert np.mean(stretches > ratio) <= 1 - q + 1e-9


def test_an_isolated_switch_is_not_jitter_and_calibration_can_be_turned_off():
    gaps = [np.array([0.1, 0.2, 10.0, 0.1, 0.2, np.inf, 0.1])]  # a gripper flip, a phase change
    assert calibrated_ratio(gaps, 0.95, 0.05, run=3) == 0.1  # no 3 steps in a row above 0.1
    assert calibrated_ratio(gaps, 0.95, 0.05, run=1) == 10.0  # one step at a time, the flip would count
    assert calibrated_ratio([np.array([5.0, 5.0, 5.0])], 0.0, 0.8, run=3) == 0.8


def bang_bang(obs):
    """A high-gain expert: full speed toward the goal on each axis, its sign flipping around it."""
    return obs["pos"] + np.sign(obs["goal"] - obs["pos"]) * 2.0


register_gym_task("point_bang", "examples/PointReach-v0", expert=bang_bang)


def test_a_jittery_experts_own_variation_raises_the_threshold_and_a_smooth_ones_does_not():
    config = SupervisorConfig(calibration_episodes=3)
    jitter = np.concatenate(expert_self_divergence("point_bang", config, 3, seed=0))
    assert jitter.size > 20 and np.quantile(jitter, 0.95) > config.divergence_ratio
    assert calibrate("point_bang", config)["divergence_ratio"] > config.divergence_ratio
    assert calibrate("point_reach", config)["divergence_ratio"] == pytest.approx(config.divergence_ratio)


def test_false_alarms_are_takeovers_of_rollouts_the_policy_wins_alone_and_misses_the_converse():
    result = audit(took_over=[True, False, True, False, False], alone_won=[True, True, False, False, False])
    assert (result.alone_won, result.false_alarms, result.alone_lost, result.misses) == (2, 1, 3, 2)
    assert result.false_alarm_rate == 0.5 and result.miss_rate == pytest.approx(2 / 3)
    assert audit([True], [True]).miss_rate is None  # nothing lost alone: no miss rate to speak of
    with pytest.raises(ValueError, match="2 rollouts but 1 replays"):
        audit([True, False], [True])
