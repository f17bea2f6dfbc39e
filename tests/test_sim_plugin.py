"""Plugging another gymnasium environment in: registration, the driver, the supervisor's judgement."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import examples.point_reach  # noqa: F401  (registers point_reach)
import sim
from sim.plugin import GymDriver, PluginTaskError, register_gym_task
from sim.supervisor import SupervisorConfig, action_divergence


def test_the_driver_runs_the_plugged_in_environment_with_its_expert_to_success():
    driver = sim.make_driver("point_reach", seed=3)
    assert isinstance(driver, GymDriver) and driver.spec.action_dim == 2 and driver.max_steps == 80
    expert = sim.make_expert("point_reach")
    obs = driver.observe()
    for _ in range(driver.max_steps):
        driver.command(expert.act(obs))
        obs = driver.observe()
        if driver.terminated or driver.truncated:
            break
    assert driver.outcome.success and np.linalg.norm(obs["pos"] - obs["goal"]) < 0.05
    sent = driver.command(np.array([5.0, -5.0]))  # clipped to the action box
    np.testing.assert_array_equal(sent, [1.0, -1.0])


def test_the_supervisor_judges_a_plugged_in_task_in_action_space():
    supervisor = sim.make_supervisor("point_reach", SupervisorConfig(divergence_steps=2, reaction_delay_s=0.0))
    obs = sim.make_env("point_reach").reset(seed=0)[0]
    agree = supervisor.step(obs, obs["goal"])
    assert agree.divergence == 0.0 and not agree.wants_control
    away = -obs["goal"]
    decisions = [supervisor.step(obs, away) for _ in range(3)]
    assert decisions[-1].wants_control and decisions[-1].divergence > 0.8
    assert action_divergence(np.array([0.0, 0.0]), np.array([0.0, 0.16]), np.array([2.0, 2.0])) == pytest.approx(0.8)


class _NoLimit(gym.Env):
    observation_space = gym.spaces.Box(-1, 1, (2,))
    action_space = gym.spaces.Box(-1, 1, (2,))


def test_environments_the_loop_cannot_drive_are_refused_with_the_reason():
    register_gym_task("no_limit", "tests/NoLimit-v0", expert=lambda obs: np.zeros(2), entry_point=_NoLimit)
    with pytest.raises(PluginTaskError, match="no step limit"):
        sim.make_env("no_limit")
    with pytest.raises(PluginTaskError, match="not a registered gymnasium id"):
        register_gym_task("ghost", "tests/Ghost-v0", expert=lambda obs: np.zeros(2))
