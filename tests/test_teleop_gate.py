"""The takeover gate: instant takeover, jerk-free handovers, and safe holds when an input is missing."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from hgdagger.common.types import Source
from teleop.gate import GateConfig, GateEvent, GatePhase, HumanIntent, TakeoverGate, TakeoverMode, ramp, ramp_length

A = 8
POLICY = np.zeros(A)
HUMAN = np.full(A, 0.5)


def test_toggle_takes_over_within_the_same_tick_and_drops_the_policy_queue():
    gate = TakeoverGate(GateConfig(ramp_steps=1))
    out = gate.step(HumanIntent(), POLICY, POLICY)
    assert out.source is Source.POLICY
    out = gate.step(HumanIntent(toggle_pressed=True, command=HUMAN), POLICY, POLICY)
    assert out.source is Source.HUMAN and GateEvent.TAKEOVER in out.events
    np.testing.assert_allclose(out.command, HUMAN)
    assert out.human_in_control


def test_handover_ramps_from_the_last_sent_command_without_a_step():
    gate = TakeoverGate(GateConfig(ramp_steps=5))
    gate.step(HumanIntent(), POLICY, POLICY)
    sent = POLICY
    commands = []
    for _ in range(7):
        out = gate.step(HumanIntent(toggle_pressed=not commands, command=HUMAN), POLICY, sent)
        sent = out.command
        commands.append(out.command)
    jumps = np.abs(np.diff(np.array([POLICY] + commands), axis=0)).max(axis=1)
    assert jumps.max() < 0.5 * 0.5  # a 0.5 gap closed in five smooth steps, never in one
    np.testing.assert_allclose(commands[-1], HUMAN)
    assert gate.phase is GatePhase.HUMAN


def test_handback_holds_until_a_fresh_chunk_then_ramps_into_it():
    gate = TakeoverGate(GateConfig(ramp_steps=4, start_in_human=True))
    gate.step(HumanIntent(command=HUMAN), None, HUMAN)
    out = gate.step(HumanIntent(toggle_pressed=True, command=HUMAN), None, HUMAN)
    assert GateEvent.HANDBACK in out.events
    assert out.command is None and out.source is Source.HOLD  # no chunk yet: hold
    out = gate.step(HumanIntent(command=HUMAN), None, HUMAN)
    assert out.source is Source.HOLD
    sent = HUMAN
    for i in range(4):
        out = gate.step(HumanIntent(command=HUMAN), POLICY, sent)
        assert out.source is Source.POLICY
        sent = out.command
    np.testing.assert_allclose(sent, POLICY)
    assert gate.phase is GatePhase.POLICY


def test_deadman_mode_follows_the_trigger_level():
    gate = TakeoverGate(GateConfig(mode=TakeoverMode.DEADMAN, ramp_steps=1))
    assert gate.step(HumanIntent(deadman_held=True, command=HUMAN), POLICY, POLICY).source is Source.HUMAN
    assert gate.step(HumanIntent(deadman_held=True, command=HUMAN), POLICY, HUMAN).source is Source.HUMAN
    out = gate.step(HumanIntent(deadman_held=False, command=HUMAN), POLICY, HUMAN)
    assert GateEvent.HANDBACK in out.events and out.source is Source.POLICY


def test_a_stale_human_device_makes_the_arm_hold_not_jump():
    gate = TakeoverGate(GateConfig(ramp_steps=1, start_in_human=True))
    out = gate.step(HumanIntent(command=None), POLICY, HUMAN)
    assert out.command is None and out.source is Source.HOLD
    assert out.human_in_control  # still the human's turn: the policy does not silently take over


def test_leader_arm_is_not_released_until_aligned():
    gate = TakeoverGate(GateConfig(ramp_steps=1))
    out = gate.step(HumanIntent(toggle_pressed=True, command=HUMAN, aligned=False), POLICY, POLICY)
    assert out.source is Source.HOLD and out.command is None
    out = gate.step(HumanIntent(command=HUMAN, aligned=False), POLICY, POLICY)
    assert out.source is Source.HOLD
    out = gate.step(HumanIntent(command=HUMAN, aligned=True), POLICY, POLICY)
    assert out.source is Source.HUMAN


def test_two_takeover_presses_in_one_tick_count_once():
    gate = TakeoverGate()
    # Devices merge their presses into one flag: two presses at once must not cancel out.
    out = gate.step(HumanIntent(toggle_pressed=True, command=HUMAN), POLICY, POLICY)
    assert out.human_in_control and gate.takeovers == 1


def test_a_policy_without_actions_holds():
    gate = TakeoverGate()
    out = gate.step(HumanIntent(), None, POLICY)
    assert out.command is None and out.source is Source.HOLD


def test_reset_returns_to_the_starting_controller():
    gate = TakeoverGate()
    gate.step(HumanIntent(toggle_pressed=True, command=HUMAN), POLICY, POLICY)
    gate.reset()
    assert gate.phase is GatePhase.POLICY and gate.takeovers == 0


@settings(max_examples=200, deadline=None)
@given(
    start=st.lists(st.floats(-3, 3), min_size=A, max_size=A),
    target=st.lists(st.floats(-3, 3), min_size=A, max_size=A),
    total=st.integers(1, 30),
)
def test_ramp_moves_monotonically_and_lands_exactly_on_the_target(start, target, total):
    start, target = np.array(start), np.array(target)
    path = np.array([start] + [ramp(start, target, k, total) for k in range(1, total + 1)])
    np.testing.assert_allclose(path[-1], target)
    progress = (path - start) * np.sign(target - start)
    assert np.all(np.diff(progress, axis=0) >= -1e-12)
    # Smoothstep never moves more than 1.5x the average step in one tick.
    assert np.all(np.abs(np.diff(path, axis=0)) <= 1.5 * np.abs(target - start) / total + 1e-9)


def test_a_large_handover_gap_gets_a_ramp_long_enough_to_stay_under_the_velocity_limit():
    gate = TakeoverGate(GateConfig(ramp_steps=3))
    max_step = np.full(A, 0.1)
    gate.bound_ramps(max_step)
    far = np.full(A, 1.5)  # 15 steps' worth of travel at the limit
    sent, commands = POLICY, []
    for i in range(60):
        out = gate.step(HumanIntent(toggle_pressed=i == 0, command=far), POLICY, sent)
        commands.append(out.command)
        sent = out.command
    jumps = np.abs(np.diff(np.array([POLICY] + commands), axis=0))
    assert jumps.max() <= 0.1 + 1e-9
    np.testing.assert_allclose(commands[-1], far)


@settings(max_examples=200, deadline=None)
@given(gap=st.floats(0.0, 3.0), limit=st.floats(0.01, 0.5), minimum=st.integers(1, 10))
def test_ramp_length_keeps_the_smoothstep_peak_under_the_limit(gap, limit, minimum):
    start, target = np.zeros(2), np.array([gap, gap / 2])
    total = ramp_length(start, target, np.full(2, limit), minimum)
    assert total >= minimum
    path = np.array([start] + [ramp(start, target, k, total) for k in range(1, total + 1)])
    assert np.abs(np.diff(path, axis=0)).max() <= limit + 1e-9
