"""The tasks as gymnasium environments: registration, determinism, spaces, and bad input."""

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import sim
from sim.registry import UnknownTaskError
from sim.tasks.base import ActionError, SeedError

TASKS = ["reach", "pick_place", "detour", "pick_place_two"]
GYM_IDS = {"reach": "hgd/Reach-v0", "pick_place": "hgd/PickPlace-v0", "detour": "hgd/Detour-v0",
           "pick_place_two": "hgd/PickPlaceTwo-v0"}


@pytest.mark.parametrize("task", TASKS)
def test_every_task_passes_gymnasiums_environment_checker(task):
    env = gym.make(GYM_IDS[task]).unwrapped
    check_env(env, skip_render_check=True)
    env.close()


def test_environment_checker_passes_with_camera_observations_and_rendering():
    env = sim.make_env("pick_place", cameras=("front", "wrist"), image_size=(96, 96), render_mode="rgb_array")
    check_env(env)
    obs, _ = env.reset(seed=1)
    assert obs["front_rgb"].shape == (96, 96, 3) and obs["front_rgb"].dtype == np.uint8
    assert env.render().shape == (480, 640, 3)
    env.close()


@pytest.mark.parametrize("task", TASKS)
def test_same_seed_gives_the_same_episode_and_different_seeds_differ(task):
    def rollout(seed):
        env = sim.make_env(task)
        expert = sim.make_expert(task)
        obs, _ = env.reset(seed=seed)
        expert.reset(seed)
        trace = [np.concatenate([obs[k].ravel() for k in sorted(obs)])]
        for _ in range(25):
            obs, *_ = env.step(expert.act(obs))
            trace.append(np.concatenate([obs[k].ravel() for k in sorted(obs)]))
        return np.array(trace)

    a, b, c = rollout(3), rollout(3), rollout(4)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a[0], c[0])


def test_unknown_task_names_the_known_ones():
    with pytest.raises(UnknownTaskError, match="known tasks: reach, pick_place, detour, pick_place_two"):
        sim.make_env("stack_ten")


@pytest.mark.parametrize("seed", [-1, 1.5, "7", True])
def test_bad_seeds_are_refused_with_a_clear_message(seed):
    env = sim.make_env("reach")
    with pytest.raises(SeedError, match="non-negative integer"):
        env.reset(seed=seed)


@pytest.mark.parametrize(
    "action, message",
    [
        (np.zeros(7), r"shape \(7,\), expected \(8,\)"),
        (np.zeros((2, 8)), r"shape \(2, 8\)"),
        (np.array([0, 0, 0, np.nan, 0, 0, 0, 0.0]), r"non-finite values at indices \[3\]"),
        (np.array([0, 0, 0, 0, 0, 0, np.inf, 0.0]), r"non-finite values at indices \[6\]"),
        ("forward", "action must be 8 numbers"),
    ],
)
def test_bad_actions_are_refused_and_never_reach_the_physics(action, message):
    env = sim.make_env("reach")
    env.reset(seed=0)
    time_before, qpos_before = env.data.time, env.data.qpos.copy()
    with pytest.raises(ActionError, match=message):
        env.step(action)
    assert env.data.time == time_before
    np.testing.assert_array_equal(env.data.qpos, qpos_before)


def test_out_of_range_actions_are_clipped_and_reported():
    env = sim.make_env("reach")
    obs, _ = env.reset(seed=0)
    action = np.append(obs["joint_pos"], 0.0)
    action[0] = 10.0
    _, _, _, _, info = env.step(action)
    assert info["action_clipped"]
    assert env.data.ctrl[0] == pytest.approx(2.8973)


def test_episodes_end_at_the_step_limit():
    env = sim.make_env("reach", max_steps=5)
    obs, _ = env.reset(seed=0)
    hold = np.append(obs["joint_pos"], 0.0)
    results = [env.step(hold) for _ in range(5)]
    assert [r[3] for r in results] == [False] * 4 + [True]


def test_detour_touching_the_pillar_fails_the_episode():
    from sim.kinematics import yaw_down_quat

    env = sim.make_env("detour")
    obs, _ = env.reset(seed=0)
    pillar = obs["obstacle_pos"]
    q = obs["joint_pos"]
    for _ in range(60):  # drive straight at the pillar, as an averaging policy would
        q = env.kinematics.step_towards(q, np.array([pillar[0], pillar[1], 0.09]), yaw_down_quat(0.0))
        obs, _, terminated, _, info = env.step(np.append(q, 1.0))
        if terminated:
            break
    assert terminated and not info["is_success"]
    assert "pillar" in info["failure"]


def test_observation_keys_hold_joint_state_pose_and_task_state():
    env = sim.make_env("pick_place_two")
    obs, _ = env.reset(seed=2)
    assert {"joint_pos", "joint_vel", "gripper_pos", "ee_pos", "ee_quat", "cube_a_pos", "cube_b_pos",
            "target_a_pos", "target_b_pos"} <= set(obs)
    assert obs["joint_pos"].shape == (7,) and obs["gripper_pos"].shape == (1,)
    assert np.linalg.norm(obs["ee_quat"]) == pytest.approx(1.0)


@pytest.mark.parametrize("hz, substeps", [(20, 20), (50, 8), (100, 4)])
def test_control_period_is_a_whole_number_of_physics_steps(hz, substeps):
    env = sim.make_env("reach", control_hz=hz)
    assert env.substeps == substeps
    env.reset(seed=0)
    env.step(np.append(env.data.qpos[:7], 0.0))
    assert env.data.time == pytest.approx(1.0 / hz)


def test_a_control_rate_that_does_not_divide_into_physics_steps_is_refused():
    with pytest.raises(ValueError, match="whole multiple"):
        sim.make_env("reach", control_hz=30)


@pytest.mark.parametrize("task, cubes", [("pick_place", [("cube_pos", "target_pos", "")]),
                                         ("pick_place_two", [("cube_a_pos", "target_a_pos", "_a"),
                                                             ("cube_b_pos", "target_b_pos", "_b")])])
def test_pick_and_place_observations_carry_the_cube_relative_to_the_gripper_and_the_zone(task, cubes):
    env = sim.make_env(task)
    expert = sim.make_expert(task)
    obs, _ = env.reset(seed=4)
    start = np.linalg.norm(obs[f"ee_to_cube{cubes[0][2]}"][:2])
    for _ in range(30):  # the relations follow the arm as it moves, not just the first frame
        obs, *_ = env.step(expert.act(obs))
    for cube, zone, suffix in cubes:
        np.testing.assert_allclose(obs[f"ee_to_cube{suffix}"], obs[cube] - obs["ee_pos"], atol=1e-12)
        np.testing.assert_allclose(obs[f"cube{suffix}_to_target"], obs[zone] - obs[cube], atol=1e-12)
    assert np.linalg.norm(obs[f"ee_to_cube{cubes[0][2]}"][:2]) < 0.7 * start  # the expert has been closing in


def test_pick_place_two_observes_its_current_sub_goal_cube_a_until_it_lies_in_its_zone():
    import mujoco

    env = sim.make_env("pick_place_two")
    obs, _ = env.reset(seed=1)
    assert obs["active_cube"].tolist() == [1.0, 0.0]
    np.testing.assert_allclose(obs["ee_to_active_cube"], obs["ee_to_cube_a"])
    zone_a = obs["target_a_pos"]
    env.unwrapped._set_free_body("cube_a", np.append(zone_a[:2], 0.025))  # put cube A in its zone
    mujoco.mj_forward(env.unwrapped.model, env.unwrapped.data)
    obs = env.unwrapped._observation()
    assert obs["active_cube"].tolist() == [0.0, 1.0]
    np.testing.assert_allclose(obs["ee_to_active_cube"], obs["ee_to_cube_b"])
    np.testing.assert_allclose(obs["active_cube_to_target"], obs["cube_b_to_target"])
    np.testing.assert_allclose(obs["active_cube_quat"], obs["cube_b_quat"])
