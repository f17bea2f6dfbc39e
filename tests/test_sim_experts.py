"""Scripted experts: they solve their tasks, the detour expert is bimodal, and they recover from noise."""

import numpy as np
import pytest

import sim
from sim.experts.base import Expert, NoisyExpert


def run(task, seed, expert=None, env=None):
    env = env or sim.make_env(task)
    expert = expert or sim.make_expert(task)
    obs, _ = env.reset(seed=seed)
    expert.reset(seed)
    while True:
        obs, _, terminated, truncated, info = env.step(expert.act(obs))
        if terminated or truncated:
            return info, obs, env


@pytest.mark.parametrize("task", ["reach", "pick_place", "detour"])
def test_expert_solves_its_task_on_several_seeds(task):
    env = sim.make_env(task)
    results = [run(task, seed, env=env)[0]["is_success"] for seed in range(6)]
    assert all(results), results


@pytest.mark.slow
def test_long_horizon_expert_places_both_cubes_in_hundreds_of_steps():
    info, obs, env = run("pick_place_two", seed=0)
    assert info["is_success"]
    assert env.step_count > 200


def test_experts_satisfy_the_expert_protocol():
    for task in sim.task_names():
        assert isinstance(sim.make_expert(task), Expert)


def test_detour_expert_picks_each_side_about_half_the_time_and_both_succeed():
    env = sim.make_env("detour")
    sides = {}
    for seed in range(24):
        info, obs, _ = run("detour", seed, env=env)
        assert info["is_success"], seed
        sides[seed] = sim.make_expert("detour")
    expert = sim.make_expert("detour")
    choices = []
    for seed in range(200):
        expert.reset(seed)
        choices.append(expert.side)
    share = np.mean(np.array(choices) > 0)
    assert 0.4 < share < 0.6


def test_detour_passes_on_the_side_the_expert_chose():
    env = sim.make_env("detour")
    for seed in range(8):
        expert = sim.make_expert("detour")
        obs, _ = env.reset(seed=seed)
        expert.reset(seed)
        lateral = []
        while True:
            obs, _, terminated, truncated, info = env.step(expert.act(obs))
            if abs(obs["ee_pos"][0] - obs["obstacle_pos"][0]) < 0.02:  # level with the pillar, along the way (+x)
                lateral.append(obs["ee_pos"][1] - obs["obstacle_pos"][1])
            if terminated or truncated:
                break
        assert info["is_success"]
        assert np.sign(np.mean(lateral)) == expert.side


def test_expert_recovers_from_noisy_actions():
    env = sim.make_env("pick_place")
    wins = sum(run("pick_place", seed, NoisyExpert(sim.make_expert("pick_place"), 0.02), env)[0]["is_success"] for seed in range(5))
    assert wins >= 4


def test_expert_labels_a_state_it_did_not_visit_itself():
    """DAgger needs labels on off-distribution states: start from a displaced arm and still succeed."""
    env = sim.make_env("reach", max_steps=200)  # the shove costs time: the arm ends up ~0.6 m away
    expert = sim.make_expert("reach")
    obs, _ = env.reset(seed=5)
    shove = np.append(obs["joint_pos"] + np.array([0.4, -0.3, 0.3, 0.3, -0.3, 0.2, 0.0]), 0.0)
    for _ in range(15):
        obs, *_ = env.step(shove)
    expert.reset(5)
    while True:
        obs, _, terminated, truncated, info = env.step(expert.act(obs))
        if terminated or truncated:
            break
    assert info["is_success"]


def test_detour_left_and_right_mirror_each_other_so_their_mean_runs_into_the_pillar():
    # The premise of the averaging trap: the joint-space mean of a left and a right demonstration
    # from the same start is the straight line, which meets the pillar.
    env = sim.make_env("detour")
    paths = []
    for side in (-1.0, 1.0):
        expert = sim.make_expert("detour")
        obs, _ = env.reset(seed=5)
        expert.reset(5)
        expert.side = side
        actions = []
        for _ in range(70):
            actions.append(expert.act(obs))
            obs, *_ = env.step(actions[-1])
        paths.append(np.array(actions))
    pillar = obs["obstacle_pos"]
    mean = (paths[0] + paths[1]) / 2
    tcp = np.array([expert.kinematics.site_pose(q[:7])[0] for q in mean])
    near = tcp[np.argmin(np.abs(tcp[:, 0] - pillar[0]))]  # where the mean path is level with the pillar
    assert abs(near[0] - pillar[0]) < 0.02
    assert abs(near[1] - pillar[1]) < 0.02  # within the pillar's 4 cm radius: straight through it
    ends = [expert.kinematics.site_pose(p[40][:7])[0][1] - pillar[1] for p in paths]
    assert ends[0] < -0.1 and ends[1] > 0.1  # while each demonstration alone passes well clear
