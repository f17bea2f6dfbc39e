"""Property tests for the pure parts of the runtime: chunk maths, the executor, the safety filter."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from teleop import chunking
from teleop.executor import ChunkExecutor, ExecConfig, Mode
from teleop.safety import SafetyLimits, Verdict, filter_command

A = 8
floats = st.floats(-10, 10, allow_nan=False)


def _chunk(H: int, start_value: float = 0.0) -> np.ndarray:
    return start_value + np.arange(H, dtype=np.float64)[:, None] * np.ones(A)


# ----------------------------------------------------------------------------- chunking
@given(H=st.integers(1, 40), start=st.integers(-50, 50), new_start=st.integers(-50, 100))
def test_realign_puts_each_planned_step_at_its_new_index(H, start, new_start):
    chunk = _chunk(H, start)  # chunk value == step it is planned for
    pre = chunking.realign(chunk, start, new_start)
    for i in range(H):
        step = new_start + i
        if start <= step < start + H:
            assert (pre[i] == step).all()
        else:
            assert np.isnan(pre[i]).all()


@given(lat=st.floats(0, 2), period=st.sampled_from([0.01, 0.02, 0.05]))
def test_delay_in_steps_covers_the_latency(lat, period):
    d = chunking.delay_in_steps(lat, period)
    assert d >= 1 and d * period >= lat - 1e-9 and (d - 1) * period < max(lat, period) + 1e-9


@given(n=st.integers(1, 50), decay=st.floats(0, 1))
def test_ensemble_weights_sum_to_one_and_favour_older_chunks(n, decay):
    w = chunking.ensemble_weights(n, decay)
    assert w.sum() == pytest.approx(1.0) and (np.diff(w) <= 1e-15).all()


@settings(max_examples=50)
@given(starts=st.lists(st.integers(0, 20), min_size=1, max_size=6), step=st.integers(0, 40),
       vals=st.lists(floats, min_size=6, max_size=6), decay=st.floats(0, 0.5))
def test_temporal_ensemble_is_a_convex_combination_of_covering_chunks(starts, step, vals, decay):
    H = 10
    chunks = [(s, np.full((H, A), v)) for s, v in zip(sorted(starts), vals)]
    got = chunking.temporal_ensemble(chunks, step, decay)
    cover = [v for (s, c), v in zip(chunks, vals) if 0 <= step - s < H]
    if not cover:
        assert got is None
    else:
        assert min(cover) - 1e-9 <= got[0] <= max(cover) + 1e-9


def test_temporal_ensemble_of_identical_chunks_is_that_chunk():
    c = _chunk(10)
    assert np.allclose(chunking.temporal_ensemble([(0, c), (0, c.copy())], 3, 0.3), c[3])


@given(a=hnp.arrays(np.float64, A, elements=floats), b=hnp.arrays(np.float64, A, elements=floats),
       steps=st.integers(1, 20))
def test_ramp_is_monotone_and_lands_exactly(a, b, steps):
    seq = np.stack([chunking.ramp(a, b, k, steps) for k in range(steps + 2)])
    assert np.array_equal(seq[steps - 1], b) and np.array_equal(seq[-1], b)
    d = np.abs(np.diff(np.vstack([a, seq]), axis=0))
    assert (d <= np.abs(b - a) / steps + 1e-9).all()  # no step of the ramp jumps more than 1/steps


def test_boundary_jumps_separate_boundaries_from_inside():
    q = np.zeros((6, A))
    q[3:, :-1] = 1.0  # a jump of 1 between steps 2 and 3
    b = np.array([1, 0, 0, 1, 0, 0], bool)
    j = chunking.boundary_jumps(q, b)
    assert j["pos_boundary"] == 1.0 and j["pos_inside"] == 0.0 and j["vel_boundary"] == 1.0


# ----------------------------------------------------------------------------- executor
def _drive(mode: Mode, delay: int, steps: int = 60, H: int = 10, s: int = 4):
    """Run the executor with replies arriving ``delay`` steps after each request; chunks encode
    (step they were planned for)."""
    ex = ChunkExecutor(ExecConfig(mode=mode, execute_steps=s), H, A)
    pending: list[tuple[int, int]] = []  # (arrival step, obs step)
    out, cid = [], 0
    for t in range(steps):
        for arr, obs in [p for p in pending if p[0] == t]:
            cid += 1
            ex.on_chunk(_chunk(H, obs), obs, t, cid)
            pending.remove((arr, obs))
        p = ex.plan(t)
        out.append(p)
        if ex.wants_request(t):
            prefix, frozen = ex.request(t)
            if mode == Mode.RTC and prefix is not None:
                assert frozen == min(ex.delay_estimate(), (~np.isnan(prefix).any(1)).sum())
            pending.append((t + delay, t))
    return ex, out


@pytest.mark.parametrize("mode", [Mode.NAIVE, Mode.RTC, Mode.ENSEMBLE])
@given(delay=st.integers(1, 8))
@settings(max_examples=15, deadline=None)
def test_async_modes_execute_the_action_planned_for_that_very_step(mode, delay):
    _, out = _drive(mode, delay)  # H=10, a request every s=4 steps, one in flight
    ran = [(t, p) for t, p in enumerate(out) if p.action is not None]
    assert ran, "nothing executed"
    for t, p in ran:  # chunk values encode the step they were planned for: the splice is exact
        assert p.action[0] == pytest.approx(t)
    first = ran[0][0]
    if delay + max(delay, 4) <= 10:  # the next chunk lands before this one runs out
        assert all(p.action is not None for p in out[first:]), "held although chunks kept coming in time"


@given(delay=st.integers(1, 12))
@settings(max_examples=15, deadline=None)
def test_sync_mode_executes_k_then_holds_for_the_reply(delay):
    _, out = _drive(Mode.SYNC, delay, s=4)
    runs, held = [], 0
    for p in out:
        if p.action is None:
            held += 1
        elif p.index == 0:
            runs.append(held)
            held = 0
    assert all(h == delay for h in runs[1:])  # each hold lasts exactly the inference delay


def test_a_chunk_arriving_after_its_horizon_is_dropped_and_the_arm_holds():
    ex = ChunkExecutor(ExecConfig(mode=Mode.RTC, execute_steps=4), 10, A)
    ex.request(0)
    assert not ex.on_chunk(_chunk(10), 0, 10, 1) and ex.stale_chunks == 1
    assert ex.plan(10).action is None


def test_rtc_prefix_is_the_running_chunk_and_frozen_is_the_measured_delay():
    ex = ChunkExecutor(ExecConfig(mode=Mode.RTC, execute_steps=4), 10, A)
    ex.request(0)
    ex.on_chunk(_chunk(10, 0), 0, 3, 1)  # took 3 steps
    prefix, frozen = ex.request(4)
    assert frozen == 3 and prefix[0, 0] == 4 and np.isnan(prefix[6:]).all()


# ----------------------------------------------------------------------------- safety
LIM = SafetyLimits(lower=np.full(A, -1.0), upper=np.full(A, 1.0), max_step=np.full(A, 0.1))
in_range = hnp.arrays(np.float64, A, elements=st.floats(-1, 1))
anything = hnp.arrays(np.float64, A, elements=st.floats(allow_nan=True, allow_infinity=True))


@given(target=anything, last=in_range)
def test_safety_output_is_finite_in_range_and_within_one_step(target, last):
    out, verdict = filter_command(target, last, LIM)
    assert np.isfinite(out).all()
    assert (out >= LIM.lower).all() and (out <= LIM.upper).all()
    assert (np.abs(out - last) <= LIM.max_step + 1e-12).all()
    if not np.isfinite(target).all():
        assert verdict & Verdict.REJECTED and np.array_equal(out, last)


@given(last=in_range, fraction=hnp.arrays(np.float64, A, elements=st.floats(-1, 1)))
def test_safety_passes_safe_targets_unchanged(last, fraction):
    target = np.clip(last + fraction * LIM.max_step, LIM.lower, LIM.upper)  # within one step and in range
    out, verdict = filter_command(target, last, LIM)
    assert verdict == Verdict.OK and np.array_equal(out, target)


@given(last=hnp.arrays(np.float64, A, elements=st.floats(-5, 5)))
def test_safety_never_sends_out_of_range_even_from_an_out_of_range_start(last):
    out, _ = filter_command(last, last, LIM)
    assert (out >= LIM.lower).all() and (out <= LIM.upper).all()


@given(target=anything, last=hnp.arrays(np.float64, A, elements=st.floats(allow_nan=True, allow_infinity=True)))
def test_safety_output_is_finite_and_in_range_even_from_a_non_finite_previous_command(target, last):
    out, verdict = filter_command(target, last, LIM)
    assert np.isfinite(out).all() and (out >= LIM.lower).all() and (out <= LIM.upper).all()
    if not np.isfinite(last).all():
        assert verdict & Verdict.NO_BASIS
        basis = np.where(np.isfinite(last), last, (LIM.lower + LIM.upper) / 2)
        assert (np.abs(out - np.clip(basis, LIM.lower, LIM.upper)) <= LIM.max_step + 1e-9).all() or \
            (np.abs(out - basis) <= LIM.max_step + 1e-9).all()


def test_safety_rejects_wrong_shapes_and_none():
    last = np.zeros(A)
    for bad in (None, np.zeros(A - 1), np.zeros((2, A))):
        out, v = filter_command(bad, last, LIM)
        assert v & Verdict.REJECTED and np.array_equal(out, last)
