"""Behaviour cloning in the real MuJoCo sim: demos -> dataset -> policy -> batched evaluation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from policy_server.model import ModelConfig
from policy_server.networks import NetConfig
from policy_server.policy import FlowPolicy
from policy_server.data import episodes_to_dataset
from sim.demos import collect_demos
from sim.evaluation import evaluate
from policy_server.train import TrainConfig, train

torch.set_num_threads(1)


@pytest.mark.slow
def test_demos_train_and_evaluate_in_the_sim(tmp_path):
    demos = collect_demos("detour", 3, seed=0, progress=False, action_noise=0.01, noise_correlation=0.9)
    assert len(demos) == 3 and all(d.attrs["success"] for d in demos)
    assert {d.attrs["mode"] for d in demos} <= {-1.0, 1.0}
    ds = episodes_to_dataset(demos, 8)
    assert ds.action_dim == 8 and ds.obs["joint_pos"].shape[1:] == (7,) and len(ds) == sum(len(d.actions) for d in demos)
    cfg = TrainConfig(model=ModelConfig(net=NetConfig(hidden=32, depth=1, cond_dim=16, obs_hidden=32, time_dim=16)),
                      steps=20, batch_size=32, val_every=10, ckpt_every=20)
    p = FlowPolicy.load(train(ds, cfg, tmp_path, progress=False).checkpoint, device="cpu")
    ev = evaluate(p, "detour", 2, execute_steps=4, batch=2, progress=False, inpaint=True)
    assert ev.episodes == 2 and len(ev.ee_paths) == 2 and 0.0 <= ev.success_rate <= 1.0
    assert all(path.shape[1] == 3 and len(path) > 1 for path in ev.ee_paths)
    assert sum(ev.failures.values()) == sum(not s for s in ev.successes)


def test_cumulative_off_track_counts_failures_to_the_horizon_and_successes_not_after_the_end():
    from hgdagger.common.horizon import cumulative_off_track, first_off_track

    gaps = [np.array([0.0, 2.0, 0.0]), np.array([2.0, 2.0])]  # a success, then a failure that ended at step 2
    curve = cumulative_off_track(gaps, [True, False], horizon=5, threshold=1.0)
    np.testing.assert_allclose(curve, [(0 + 1) / 2, (1 + 2) / 2, (1 + 3) / 2, (1 + 4) / 2, (1 + 5) / 2])
    np.testing.assert_array_equal(first_off_track([np.array([0, 2, 0, 2, 2, 2.0]), np.zeros(4)], 1.0, run=2), [3, -1])
    np.testing.assert_array_equal(first_off_track([np.array([0, 2, 0.0])], 1.0, run=1), [1])
    # With run=2 a lone disagreeing step is not off track; a streak of two or more is, all of it.
    streaks = [np.array([2.0, 0, 2, 2, 2, 0, 2])]
    np.testing.assert_allclose(cumulative_off_track(streaks, [True], horizon=7, threshold=1.0, run=2),
                               [0, 0, 1, 2, 3, 3, 3])


class _StandStill:
    """A chunk policy that commands the joints where they are: never moves, never succeeds."""

    supports_prefix = False

    def __init__(self, info):
        self.info = info

    def predict_chunks(self, obs, prefix=None, frozen_steps=None):
        here = np.concatenate([obs["joint_pos"], np.zeros((len(obs["joint_pos"]), 1))], axis=1)
        return np.repeat(here[:, None], self.info.chunk_length, axis=1)


def test_watched_evaluation_scores_each_step_against_the_expert():
    from sim.expert_policy import ExpertChunkPolicy
    from hgdagger.common.horizon import cumulative_off_track

    expert = ExpertChunkPolicy("reach", chunk_length=4)
    good = evaluate(expert, "reach", 2, seed=5, execute_steps=1, batch=2, progress=False, watch=True)
    assert good.success_rate == 1.0 and len(good.divergences) == 2
    assert all(len(d) == len(p) - 1 for d, p in zip(good.divergences, good.ee_paths))  # one score per step
    assert max(float(np.max(d)) for d in good.divergences) < 0.3  # the expert agrees with itself (replanned every step)

    still = evaluate(_StandStill(expert.info), "reach", 2, seed=5, execute_steps=4, batch=2, progress=False, watch=True)
    assert still.success_rate == 0.0
    curve = cumulative_off_track(still.divergences, still.successes, 100, 0.8)
    assert curve[-1] > 90  # a stalled arm is off track (nearly) every step, so the cost grows linearly with T


def test_noisy_demos_labelled_with_the_experts_plan_give_smooth_chunks_that_start_with_the_action():
    noisy = dict(n=2, seed=3, action_noise=0.03, progress=False)
    planned = collect_demos("detour", plan_horizon=8, **noisy)
    recorded = collect_demos("detour", **noisy)
    ep = planned[0]
    assert ep.planned.shape == (len(ep.actions), 8, 8)
    np.testing.assert_array_equal(ep.planned[:, 0], ep.actions)  # the plan starts with what was executed (minus noise)

    def jerk(chunks):
        return float(np.abs(np.diff(chunks[..., :7], 2, axis=1)).mean())

    smooth, jittery = episodes_to_dataset(planned, 8).actions, episodes_to_dataset(recorded, 8).actions
    assert smooth.shape == jittery.shape  # same seeds, same noise: the same episodes, labelled two ways
    assert jerk(smooth) < 0.3 * jerk(jittery)


def test_a_plan_follows_the_expert_to_the_goal_when_the_arm_tracks_it():
    import sim

    env, expert = sim.make_env("reach"), sim.make_expert("reach")
    obs, _ = env.reset(seed=0)
    expert.reset(seed=0)
    plan = expert.plan(obs, 60)
    np.testing.assert_allclose(plan[0], expert.act(obs))
    tcp, _ = expert.kinematics.site_pose(plan[-1][:7])
    assert np.linalg.norm(tcp - obs["target_pos"]) < 0.01


def test_balanced_demos_hold_each_of_the_experts_modes_in_equal_shares():
    demos = collect_demos("detour", 6, seed=0, balance_modes=(-1.0, 1.0), progress=False)
    sides = [d.attrs["mode"] for d in demos]
    assert sides.count(1.0) == sides.count(-1.0) == 3
    assert all(d.attrs["success"] for d in demos)


def test_an_expert_that_moves_objects_refuses_to_plan_from_the_arm_alone():
    import sim

    env, expert = sim.make_env("pick_place"), sim.make_expert("pick_place")
    obs, _ = env.reset(seed=0)
    with pytest.raises(ValueError, match="moves objects"):
        expert.plan(obs, 4)
