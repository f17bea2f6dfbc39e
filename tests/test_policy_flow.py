"""The flow-matching maths: time convention, Beta time law, Euler sampler, RTC soft mask and guidance."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from policy_server import flow

torch.set_num_threads(1)


def test_interpolation_endpoints_follow_the_convention_t0_noise_t1_data():
    x0, x1 = torch.randn(3, 4, 2), torch.randn(3, 4, 2)
    assert torch.allclose(flow.interpolate(x0, x1, torch.zeros(3)), x0)
    assert torch.allclose(flow.interpolate(x0, x1, torch.ones(3)), x1)
    mid = flow.interpolate(x0, x1, torch.full((3,), 0.25))
    assert torch.allclose(mid, 0.25 * x1 + 0.75 * x0)


def test_velocity_target_is_the_time_derivative_of_the_path():
    x0, x1 = torch.randn(5, 3, 2), torch.randn(5, 3, 2)
    t, eps = torch.rand(5) * 0.9, 1e-3
    fd = (flow.interpolate(x0, x1, t + eps) - flow.interpolate(x0, x1, t)) / eps
    assert torch.allclose(fd, flow.velocity_target(x0, x1), atol=1e-3)


def test_euler_with_the_true_velocity_of_one_straight_path_lands_on_the_data():
    # For a single pair the conditional velocity (x1 - x) / (1 - t) is exact; Euler lands on x1.
    x0, x1 = torch.randn(2, 4, 3), torch.randn(2, 4, 3)
    out = flow.euler_integrate(lambda x, t: (x1 - x) / (1 - t).view(-1, 1, 1), x0, steps=10)
    assert torch.allclose(out, x1, atol=1e-5)


def test_euler_calls_times_from_zero_upward_in_equal_steps():
    seen = []
    flow.euler_integrate(lambda x, t: (seen.append(float(t[0])), torch.zeros_like(x))[1], torch.zeros(1, 1, 1), 4)
    assert seen == [0.0, 0.25, 0.5, 0.75]
    with pytest.raises(ValueError):
        flow.euler_integrate(lambda x, t: x, torch.zeros(1, 1, 1), 0)


def test_training_times_favour_the_noisy_end_and_stay_below_the_cutoff():
    t = flow.sample_time(200_000, generator=torch.Generator().manual_seed(0))
    assert float(t.min()) >= 0.0 and float(t.max()) <= flow.PI0_TIME_CUTOFF
    # t = s(1-u), u ~ Beta(1.5, 1): P(t < s/2) = P(u > 1/2) = 1 - 0.5**1.5 = 0.646
    assert abs(float((t < flow.PI0_TIME_CUTOFF / 2).float().mean()) - (1 - 0.5**1.5)) < 0.01
    assert abs(float(t.mean()) - flow.PI0_TIME_CUTOFF * (1 - 1.5 / 2.5)) < 0.01


def test_training_times_are_reproducible_with_a_generator():
    a = flow.sample_time(10, generator=torch.Generator().manual_seed(3))
    b = flow.sample_time(10, generator=torch.Generator().manual_seed(3))
    assert torch.equal(a, b)


# ------------------------------------------------------------------ real-time chunking


def _prefix(h: int, a: int, overlap: int) -> torch.Tensor:
    p = torch.full((1, h, a), float("nan"))
    p[0, :overlap] = torch.randn(overlap, a)
    return p


def test_soft_mask_matches_the_paper_formula_on_a_worked_example():
    # H = 8, overlap L = 6, frozen d = 2: W = 1,1, then c_i (e^c_i - 1)/(e - 1), c_i = (6 - i)/5, then 0.
    w = flow.rtc_soft_mask(_prefix(8, 1, 6), torch.tensor([2]))[0, :, 0].double()
    expected = [1.0, 1.0] + [((6 - i) / 5) * (math.exp((6 - i) / 5) - 1) / (math.e - 1) for i in range(2, 6)] + [0, 0]
    assert torch.allclose(w, torch.tensor(expected, dtype=torch.float64), atol=1e-6)


@settings(max_examples=60, deadline=None)
@given(h=st.integers(1, 20), a=st.integers(1, 4), data=st.data())
def test_soft_mask_properties(h, a, data):
    overlap = data.draw(st.integers(0, h))
    frozen = data.draw(st.integers(-2, h + 3))
    prefix = _prefix(h, a, overlap)
    if overlap > 0 and data.draw(st.booleans()):  # NaN holes inside the overlap get weight 0
        prefix[0, data.draw(st.integers(0, overlap - 1)), 0] = float("nan")
    w = flow.rtc_soft_mask(prefix, torch.tensor([frozen]))[0]
    has = torch.isfinite(prefix[0]).any(-1)
    overlap = int(torch.cumprod(has.int(), 0).sum())  # a step with no value at all ends the overlap
    d = min(max(frozen, 0), overlap)
    assert torch.all((w >= 0) & (w <= 1))
    assert torch.all(w[~torch.isfinite(prefix[0])] == 0)
    finite = torch.isfinite(prefix[0])
    assert torch.all(w[:d][finite[:d]] == 1)  # frozen steps: full weight
    assert torch.all(w[overlap:] == 0)  # past the overlap: free
    per_step = w.max(-1).values[d:overlap]
    assert torch.all(per_step[1:] <= per_step[:-1] + 1e-7)  # decays monotonically
    if overlap > d:
        assert 0 < float(per_step[0]) <= 1


@settings(max_examples=60, deadline=None)
@given(t=st.floats(0.0, 1.0), beta=st.floats(0.1, 50.0))
def test_guidance_weight_is_clipped_by_beta_and_matches_the_closed_form(t, beta):
    g = float(flow.guidance_weight(torch.tensor([t], dtype=torch.float64), beta)[0])
    assert 0 < g <= beta + 1e-12
    if 0 < t < 1:
        r2 = (1 - t) ** 2 / (t**2 + (1 - t) ** 2)
        assert g == pytest.approx(min(beta, (1 - t) / (t * r2)), rel=1e-9)
    else:
        assert g == pytest.approx(beta)


def _standard_normal_velocity(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """The exact flow-matching velocity when the data are N(0, I): E[x1 | x_t] = t x / (t^2 + (1-t)^2)."""
    tb = t.view(-1, 1, 1)
    x1_hat = tb * x / (tb**2 + (1 - tb) ** 2)
    return (x1_hat - x) / (1 - tb).clamp(min=1e-6)


def test_guided_sampling_pulls_the_frozen_prefix_toward_the_committed_actions():
    # Data ~ N(0, I), elementwise: unguided samples are standard normal; guidance toward a prefix
    # of 1.0 must bring the frozen steps close to 1, the decaying steps part of the way, and leave
    # steps past the overlap exactly as without guidance (the field is elementwise).
    torch.manual_seed(0)
    h, a, n = 8, 2, 2000
    x0 = torch.randn(n, h, a)
    prefix = torch.full((n, h, a), float("nan"))
    prefix[:, :5] = 1.0
    free = flow.euler_integrate(_standard_normal_velocity, x0, 10)
    guided = flow.euler_integrate_guided(_standard_normal_velocity, x0, prefix, torch.full((n,), 2), 10, beta=5.0)
    assert abs(float(free.mean())) < 0.05 and abs(float(free.std()) - 1) < 0.2  # 10 Euler steps shrink it a bit
    frozen, soft = guided[:, :2], guided[:, 2:5]
    assert abs(float(frozen.mean()) - 1) < 0.15 and float(frozen.std()) < 0.3
    per_step = guided.mean(dim=(0, 2))
    assert per_step[1] > per_step[2] > per_step[3] > per_step[4] > 0.05  # soft mask decays
    assert torch.allclose(guided[:, 5:], free[:, 5:], atol=1e-5)  # free tail untouched
    assert float(soft.mean()) < float(frozen.mean())


def test_guided_velocity_without_prefix_weight_is_the_plain_velocity():
    v = lambda x, t: torch.sin(x) * (1 + t.view(-1, 1, 1))  # noqa: E731
    x, t = torch.randn(3, 5, 2), torch.rand(3)
    prefix = torch.randn(3, 5, 2)
    g = flow.guided_velocity(v, x, t, prefix, torch.zeros_like(prefix))
    assert torch.allclose(g, v(x, t))


def test_soft_mask_is_per_batch_row():
    p = torch.stack([_prefix(6, 1, 4)[0], _prefix(6, 1, 2)[0]])
    w = flow.rtc_soft_mask(p, torch.tensor([1, 0]))[..., 0]
    assert w[0, 0] == 1 and w[0, 3] > 0 and w[0, 4] == 0
    assert 0 < w[1, 0] < 1 and w[1, 2] == 0
    np.testing.assert_array_equal(w[1, 2:].numpy(), 0)
