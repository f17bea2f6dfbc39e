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
from sim.supervisor import SupervisorConfig, calibrate_on_policy, calibrated_ratio


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


episode_gaps = st.lists(st.floats(0, 20), min_size=0, max_size=40).map(np.array)


@given(st.lists(episode_gaps, min_size=1, max_size=12), st.lists(episode_gaps, min_size=0, max_size=12),
       st.floats(0, 0.5), st.floats(0.1, 3), st.integers(1, 4))
def test_a_policy_calibrated_supervisor_sets_off_at_most_the_target_share_of_the_policys_own_wins(won, lost, target,
                                                                                                 floor, run):
    """Replaying each episode through the supervisor's own rule (act after `run` steps in a row above
    the threshold): the chosen setting acts in at most `target` of the won episodes, never sits below
    its floor, and no lower threshold for that run would have kept to the target."""
    chosen, candidates = calibrate_on_policy(won, lost, {run: floor, 2 * run: floor}, target)

    def acts(gaps, ratio, steps):
        above = 0
        for g in gaps:
            above = above + 1 if g > ratio else 0
            if above >= steps:
                return True
        return False

    assert chosen.feasible and chosen.ratio >= floor  # finite gaps: some threshold always keeps to the target
    assert np.mean([acts(g, chosen.ratio, chosen.run) for g in won]) <= target + 1e-9
    assert chosen.false_alarm_rate == pytest.approx(np.mean([acts(g, chosen.ratio, chosen.run) for g in won]))
    if lost:
        assert chosen.miss_rate == pytest.approx(np.mean([not acts(g, chosen.ratio, chosen.run) for g in lost]))
        assert chosen.miss_rate == min(c.miss_rate for c in candidates)
    lower = np.nextafter(chosen.ratio, -np.inf)
    if lower >= floor:
        assert np.mean([acts(g, lower, chosen.run) for g in won]) > target


def test_a_longer_run_tells_a_stuck_policy_from_one_that_cuts_a_corner():
    """Won episodes disagree hard for a few steps (a corner cut), lost ones moderately for long (stuck):
    no threshold over 3 steps separates them, 12 steps in a row does, and that is what is chosen."""
    won = [np.r_[np.zeros(10), np.full(6, 9.0), np.zeros(20)] for _ in range(10)]
    lost = [np.r_[np.zeros(10), np.full(40, 3.0)] for _ in range(10)]
    chosen, candidates = calibrate_on_policy(won, lost, {3: 0.8, 6: 0.8, 12: 0.8}, target=0.1)
    three = next(c for c in candidates if c.run == 3)
    assert three.ratio == 9.0 and three.miss_rate == 1.0  # quiet enough for the wins: blind to the losses
    assert (chosen.run, chosen.ratio, chosen.false_alarm_rate, chosen.miss_rate) == (12, 0.8, 0.0, 0.0)


def test_a_gripper_flip_in_every_win_cannot_be_calibrated_away_so_errors_are_balanced():
    won = [np.array([0.1, np.inf, np.inf, np.inf, 0.1])] * 5
    lost = [np.array([5.0] * 10)] * 5
    chosen, _ = calibrate_on_policy(won, lost, {3: 0.8}, target=0.1)
    assert not chosen.feasible and np.isfinite(chosen.ratio)
    assert chosen.false_alarm_rate == 1.0 and chosen.miss_rate == 0.0  # acting anyway beats never acting


def test_judged_as_if_a_setting_a_replay_is_taken_over_exactly_when_its_run_clears_the_threshold():
    from hgdagger.loop.supervision import audit_as_if

    gaps = [np.array([5.0, 5.0, 0.0, 5.0]), np.array([5.0, 5.0, 5.0]), np.array([1.0, 1.0, 1.0])]
    won = [True, True, False]
    strict = audit_as_if(gaps, won, ratio=0.8, steps=3)
    assert (strict.false_alarms, strict.misses) == (1, 0)  # the second win, and the loss is caught
    lenient = audit_as_if(gaps, won, ratio=2.0, steps=2)
    assert (lenient.false_alarms, lenient.misses) == (2, 1)


def test_the_calibration_settings_survive_the_runs_config_file_and_bad_ones_are_one_line(tmp_path):
    """A run resumes only with the settings it was saved with: the run lengths come back from JSON
    (a list) equal to the defaults (a tuple), and a run length that is not a whole number is refused."""
    from hgdagger.loop.config import LoopConfig

    LoopConfig().save(tmp_path / "config.json")
    assert LoopConfig.load(tmp_path / "config.json") == LoopConfig()
    with pytest.raises(ValueError, match="calibration_run_multiples"):
        LoopConfig.from_dict({"supervisor": {"calibration_run_multiples": [1, 0.5]}})


def test_a_round_with_too_few_wins_alone_keeps_the_expert_calibrated_setting():
    from hgdagger.loop.supervision import calibrate_round

    config = SupervisorConfig(divergence_ratio=1.3, calibration_min_wins=3)
    gaps = [np.r_[np.zeros(5), np.full(5, 9.0)]] * 4
    few = calibrate_round(config, {3: 1.3, 6: 1.3}, gaps, [True, True, False, False])
    assert not few["calibrated"] and (few["divergence_ratio"], few["divergence_steps"]) == (1.3, 3)
    enough = calibrate_round(config, {3: 1.3, 6: 1.3}, gaps, [True, True, True, False])
    assert enough["calibrated"] and enough["false_alarm_rate"] <= config.target_false_alarm_rate
    assert enough["divergence_ratio"] >= 9.0 and len(enough["candidates"]) == 2
