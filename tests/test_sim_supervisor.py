"""The simulated supervisor intervenes like a person: late, for a while, and only when needed."""

import numpy as np
import pytest

import sim
from sim.supervisor import SimulatedSupervisor, SupervisorConfig, SupervisorPhase


def drive(task, seed, policy, config=SupervisorConfig(), steps=None):
    """Run an episode where the supervisor's decision picks who commands; returns per-step records."""
    env = sim.make_env(task)
    supervisor = SimulatedSupervisor(sim.make_expert(task), config, control_hz=env.control_hz)
    obs, _ = env.reset(seed=seed)
    supervisor.reset(seed)
    records = []
    for _ in range(steps or env.max_steps):
        proposal = policy(obs)
        decision = supervisor.step(obs, proposal)
        action = decision.command if decision.wants_control else proposal
        obs, _, terminated, truncated, info = env.step(action)
        records.append((decision.phase, decision.wants_control))
        if terminated or truncated:
            break
    return records, info, supervisor


def test_supervisor_never_takes_over_from_a_policy_that_acts_like_the_expert():
    expert = sim.make_expert("pick_place")
    expert.reset(0)
    records, info, supervisor = drive("pick_place", 0, expert.act)
    assert info["is_success"]
    assert supervisor.takeovers == 0
    assert not any(wants for _, wants in records)


def test_supervisor_takes_over_after_its_reaction_delay_and_rescues_a_bad_policy():
    config = SupervisorConfig(divergence_steps=3, reaction_delay_s=0.3)

    def frozen_policy(obs):  # a policy that never moves: heading for a timeout
        return np.append(obs["joint_pos"], 0.0)

    records, info, supervisor = drive("reach", 1, frozen_policy, config)
    first_control = next(i for i, (_, wants) in enumerate(records) if wants)
    # 3 disagreeing steps to decide, then 0.3 s = 6 steps at 20 Hz of reaction.
    assert first_control == pytest.approx(3 + 6, abs=1)
    assert supervisor.takeovers >= 1
    assert info["is_success"]  # the supervisor's hands finished the task


def test_supervisor_hands_back_once_the_policy_agrees_again():
    config = SupervisorConfig(min_control_s=0.5, agreement_steps=3)
    expert = sim.make_expert("reach")
    expert.reset(2)
    calls = {"n": 0}

    def policy(obs):  # wrong for the first 10 steps, then as good as the expert
        calls["n"] += 1
        good = expert.act(obs)
        return np.append(obs["joint_pos"], 0.0) if calls["n"] <= 10 else good

    records, info, supervisor = drive("reach", 2, policy, config)
    phases = [p for p, _ in records]
    assert SupervisorPhase.IN_CONTROL in phases
    last_control = max(i for i, (_, wants) in enumerate(records) if wants)
    assert phases[last_control + 1] is SupervisorPhase.WATCHING
    assert supervisor.takeovers == 1


def test_supervisor_hands_back_after_its_longest_stint_even_if_the_policy_still_disagrees():
    config = SupervisorConfig(max_control_s=1.0, divergence_steps=2, reaction_delay_s=0.1)
    records, _, supervisor = drive("pick_place", 3, lambda obs: np.append(obs["joint_pos"], 1.0), config, steps=120)
    stints, current = [], 0
    for _, wants in records:
        if wants:
            current += 1
        elif current:
            stints.append(current)
            current = 0
    assert stints and max(stints) <= 20 + 1
    assert supervisor.takeovers >= 2


def test_a_missing_policy_proposal_counts_as_disagreement():
    supervisor = SimulatedSupervisor(sim.make_expert("reach"), SupervisorConfig(divergence_steps=2, reaction_delay_s=0.0))
    env = sim.make_env("reach")
    obs, _ = env.reset(seed=0)
    decisions = [supervisor.step(obs, None) for _ in range(3)]
    assert decisions[-1].wants_control


def test_risk_check_triggers_a_takeover_without_divergence():
    expert = sim.make_expert("reach")
    supervisor = SimulatedSupervisor(expert, SupervisorConfig(reaction_delay_s=0.0), risk_check=lambda obs: True)
    env = sim.make_env("reach")
    obs, _ = env.reset(seed=0)
    expert.reset(0)
    decision = supervisor.step(obs, expert.act(obs))
    assert decision.wants_control
