"""Flow-matching maths, in one place: the time convention, the training target, the sampler and
real-time-chunking guided inpainting. Tensors in, tensors out; no modules, files or clocks.

Time convention (fixed here, used everywhere):
    t = 0 is pure Gaussian noise x0, t = 1 is data x1,
    x_t = t * x1 + (1 - t) * x0, and the velocity target is dx_t/dt = x1 - x0.
Sampling integrates dx/dt = v(x, t) with Euler steps from t = 0 to t = 1.

References
----------
- Lipman et al., "Flow Matching for Generative Modeling", ICLR 2023 (arXiv 2210.02747).
- Liu et al., "Flow Straight and Fast: Rectified Flow", ICLR 2023 (arXiv 2209.03003).
- Black et al., "pi0: A Vision-Language-Action Flow Model for General Robot Control", 2024
  (arXiv 2410.24164): Beta time distribution that favours the noisy end.
- Black, Galliker, Levine, "Real-Time Execution of Action Chunking Flow Policies", 2025
  (arXiv 2506.07339): guided inpainting with a soft mask and a clipped guidance weight.
"""

from __future__ import annotations

import math
from typing import Callable

import torch

VelocityFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
"""v(x, t): x (B, H, A), t (B,) -> velocity (B, H, A). Conditioning is closed over."""

PI0_BETA_A = 1.5
PI0_BETA_B = 1.0
PI0_TIME_CUTOFF = 0.999


def sample_time(
    batch: int,
    generator: torch.Generator | None = None,
    alpha: float = PI0_BETA_A,
    beta: float = PI0_BETA_B,
    cutoff: float = PI0_TIME_CUTOFF,
    device: torch.device | str = "cpu",
) -> torch.Tensor:
    """Training flow times in [0, cutoff], denser near t = 0 (noise): t = cutoff * (1 - u),
    u ~ Beta(alpha, beta), as in pi0 (there written in the reversed variable)."""
    # Beta via two Gammas so a torch.Generator makes it reproducible. The draws live on the
    # generator's device (a CUDA generator cannot fill a CPU tensor).
    where = generator.device if generator is not None else torch.device("cpu")
    ga = torch._standard_gamma(torch.full((batch,), alpha, dtype=torch.float64, device=where), generator=generator)
    gb = torch._standard_gamma(torch.full((batch,), beta, dtype=torch.float64, device=where), generator=generator)
    u = ga / (ga + gb)
    return (cutoff * (1.0 - u)).to(device=device, dtype=torch.float32)


def _bcast(t: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """Reshape per-sample times (B,) to broadcast over x (B, ...)."""
    return t.reshape(t.shape[0], *([1] * (like.dim() - 1))).to(like.dtype)


def interpolate(x0: torch.Tensor, x1: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """The point on the straight path from noise x0 (t=0) to data x1 (t=1)."""
    tb = _bcast(t, x0)
    return tb * x1 + (1.0 - tb) * x0


def velocity_target(x0: torch.Tensor, x1: torch.Tensor) -> torch.Tensor:
    """d x_t / dt along the straight path: constant, x1 - x0."""
    return x1 - x0


def euler_integrate(velocity: VelocityFn, x0: torch.Tensor, steps: int = 10) -> torch.Tensor:
    """Integrate dx/dt = v(x, t) from t=0 (noise x0) to t=1 with `steps` equal Euler steps."""
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    x = x0
    dt = 1.0 / steps
    for k in range(steps):
        t = torch.full((x.shape[0],), k * dt, dtype=x.dtype, device=x.device)
        x = torch.add(x, velocity(x, t), alpha=dt)  # x + dt v, one operation
    return x


# --------------------------------------------------------------------------- real-time chunking


def rtc_soft_mask(prefix: torch.Tensor, frozen_steps: torch.Tensor) -> torch.Tensor:
    """Per-element guidance weights W (B, H, A) for inpainting toward `prefix` (Black et al. 2025, eq. 5).

    For each batch row, with d = frozen_steps and L = number of leading time steps at which the
    prefix has any finite value (the overlap with the previous chunk):
        W_i = 1                                   for i < d   (will certainly execute: frozen)
        W_i = c_i (e^{c_i} - 1) / (e - 1),        for d <= i < L, c_i = (L - i) / (L - d + 1)
        W_i = 0                                   for i >= L
    and W = 0 wherever the prefix is NaN. d is clipped to [0, L].
    """
    if prefix.dim() != 3:
        raise ValueError(f"prefix must be (B, H, A), got {tuple(prefix.shape)}")
    b, h, _ = prefix.shape
    finite = torch.isfinite(prefix)
    step_has = finite.any(dim=-1)  # (B, H)
    # Overlap L: length of the leading run of steps with a prefix value.
    leading = torch.cumprod(step_has.to(torch.int64), dim=1)
    overlap = leading.sum(dim=1)  # (B,)
    d = torch.as_tensor(frozen_steps, device=prefix.device).reshape(-1).to(torch.int64)
    if d.shape[0] != b:
        raise ValueError(f"frozen_steps must have {b} entries, got {d.shape[0]}")
    d = torch.minimum(d.clamp(min=0), overlap)
    i = torch.arange(h, device=prefix.device).unsqueeze(0).to(torch.float64)  # (1, H)
    L = overlap.unsqueeze(1).to(torch.float64)
    dd = d.unsqueeze(1).to(torch.float64)
    c = (L - i) / (L - dd + 1.0)
    decay = c * (torch.exp(c) - 1.0) / (math.e - 1.0)
    w = torch.where(i < dd, torch.ones_like(decay), torch.where(i < L, decay, torch.zeros_like(decay)))
    w = w.to(prefix.dtype).unsqueeze(-1).expand_as(prefix)
    return torch.where(finite, w, torch.zeros_like(w))


def guidance_weight(t: torch.Tensor, beta: float = 5.0) -> torch.Tensor:
    """min(beta, (1 - t) / (t * r_t^2)), r_t^2 = (1 - t)^2 / (t^2 + (1 - t)^2) (Black et al. 2025, eq. 4).

    Equals (t^2 + (1-t)^2) / (t (1-t)), which diverges at both ends; the clip beta keeps it finite.
    """
    t64 = t.to(torch.float64)
    num = t64.square() + (1.0 - t64).square()
    den = t64 * (1.0 - t64)
    raw = torch.where(den > 0, num / den.clamp(min=1e-300), torch.full_like(t64, math.inf))
    return raw.clamp(max=beta).to(t.dtype)


def guided_velocity(
    velocity: VelocityFn,
    x: torch.Tensor,
    t: torch.Tensor,
    prefix: torch.Tensor,
    weights: torch.Tensor,
    beta: float = 5.0,
) -> torch.Tensor:
    """Pseudo-inverse-guided velocity pulling the predicted clean chunk toward `prefix`.

    x1_hat = x + (1 - t) v(x, t);  e = W * (prefix - x1_hat) (NaN -> 0);
    v_guided = v + guidance_weight(t) * e^T d x1_hat / d x     (one vector-Jacobian product).
    """
    with torch.enable_grad():
        xg = x.detach().requires_grad_(True)
        v = velocity(xg, t)
        x1_hat = xg + _bcast(1.0 - t, xg) * v
        target = torch.nan_to_num(prefix, nan=0.0)
        err = weights * (target - x1_hat)
        (g,) = torch.autograd.grad(x1_hat, xg, grad_outputs=err.detach())
    return v.detach() + _bcast(guidance_weight(t, beta), x) * g


def euler_integrate_guided(
    velocity: VelocityFn,
    x0: torch.Tensor,
    prefix: torch.Tensor,
    frozen_steps: torch.Tensor,
    steps: int = 10,
    beta: float = 5.0,
) -> torch.Tensor:
    """Euler integration with real-time-chunking inpainting toward `prefix` at every step."""
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    weights = rtc_soft_mask(prefix, frozen_steps)
    x = x0
    dt = 1.0 / steps
    for k in range(steps):
        t = torch.full((x.shape[0],), k * dt, dtype=x.dtype, device=x.device)
        x = x + dt * guided_velocity(velocity, x, t, prefix, weights, beta)
    return x.detach()
