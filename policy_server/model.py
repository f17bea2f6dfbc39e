"""The chunk model: observation encoder + velocity network + a head that says how it is trained
and sampled. Everything here works in normalised units; `policy.py` converts physical units.

Heads (registry `HEADS`, chosen by name):
- "flow": conditional flow matching (Lipman et al. 2023; pi0, Black et al. 2024). Loss
  || v(x_t, t | o) - (x1 - x0) ||^2 with t from the pi0 Beta; sampling by Euler integration, with
  optional real-time-chunking inpainting (Black et al. 2025).
- "l2": the behaviour-cloning baseline on the same backbone: the network is fed x = 0, t = 1 and
  regresses the chunk with MSE. It predicts the conditional mean, which is what averages modes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import torch
from torch import nn

from policy_server import flow
from policy_server.networks import NetConfig, ObsEncoder, make_velocity_net


@dataclass
class ModelConfig:
    """What the model is; horizon and action_dim are filled in from the data."""

    head: str = "flow"  # a key of HEADS
    horizon: int = 16
    action_dim: int = 8
    obs_horizon: int = 1  # observation history length fed to the encoder
    # Euler steps at inference: 5, half the time per chunk of 10, with the same success (issue 19; 10 vs
    # 5 steps on the same checkpoints, same seeds: reach 0.86 vs 0.84 of 200 episodes, pick_place 0.39
    # vs 0.40 of 100; 4 steps lost pick_place 0.07). Checkpoints keep the count they were saved with.
    flow_steps: int = 5
    rtc_beta: float = 5.0  # guidance-weight clip for real-time chunking
    relative_to: str = ""  # obs key (e.g. "joint_pos"): its first dims of the chunk are learnt relative to it
    net: NetConfig = field(default_factory=NetConfig)


class ChunkModel(nn.Module):
    """Encoder + velocity network; `head` decides the loss and the sampler."""

    def __init__(self, cfg: ModelConfig, lowdim_dim: int, image_keys: tuple[str, ...] = ()):
        super().__init__()
        if cfg.head not in HEADS:
            raise ValueError(f"unknown head {cfg.head!r}; choose from {sorted(HEADS)}")
        self.cfg = cfg
        self.encoder = ObsEncoder(lowdim_dim * cfg.obs_horizon, image_keys, cfg.net)
        self.velocity = make_velocity_net(cfg.net.velocity_net, cfg.horizon, cfg.action_dim, cfg.net)

    @property
    def head(self) -> "Head":
        return HEADS[self.cfg.head]

    def encode(self, lowdim: torch.Tensor, images: dict[str, torch.Tensor] | None = None) -> torch.Tensor:
        return self.encoder(lowdim.flatten(1), images)

    def forward(
        self,
        lowdim: torch.Tensor,
        images: dict[str, torch.Tensor],
        actions: torch.Tensor,
        step_mask: torch.Tensor,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """Training loss per sample (B,): the head's squared error averaged over unmasked steps.

        `forward` is the loss so that DistributedDataParallel wraps exactly one call per step.
        step_mask (B, H) holds per-step loss weights (1 = real step, 0 = padding).
        """
        cond = self.encode(lowdim, images)
        sq = self.head.squared_error(self, cond, actions, generator)  # (B, H, A)
        per_step = sq.mean(-1) * step_mask
        return per_step.sum(1) / step_mask.sum(1).clamp(min=1e-6)

    def sample(
        self,
        cond: torch.Tensor,
        noise: torch.Tensor,
        steps: int | None = None,
        prefix: torch.Tensor | None = None,
        frozen_steps: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Normalised chunks (B, H, A) from noise (B, H, A); prefix/frozen_steps enable inpainting."""
        return self.head.sample(self, cond, noise, steps or self.cfg.flow_steps, prefix, frozen_steps)


class Head(Protocol):
    def squared_error(self, m: ChunkModel, cond: torch.Tensor, x1: torch.Tensor, g: torch.Generator | None) -> torch.Tensor: ...

    def sample(self, m: ChunkModel, cond: torch.Tensor, noise: torch.Tensor, steps: int,
               prefix: torch.Tensor | None, frozen: torch.Tensor | None) -> torch.Tensor: ...


def conditioned_velocity(net: nn.Module, cond: torch.Tensor) -> flow.VelocityFn:
    """v(x, t) with the conditioning bound; networks that can precompute their share of it per
    observation (a `conditioned` method) do, since sampling calls v once per Euler step."""
    if hasattr(net, "conditioned"):
        return net.conditioned(cond)
    return lambda x, t: net(x, t, cond)


class FlowHead:
    """Conditional flow matching with the convention of `flow.py` (t=0 noise, t=1 data)."""

    def squared_error(self, m, cond, x1, g):
        x0 = torch.randn(x1.shape, generator=g, device=x1.device) if g is not None else torch.randn_like(x1)
        t = flow.sample_time(x1.shape[0], generator=g, device=x1.device)
        v = m.velocity(flow.interpolate(x0, x1, t), t, cond)
        return (v - flow.velocity_target(x0, x1)).square()

    def sample(self, m, cond, noise, steps, prefix, frozen):
        v = conditioned_velocity(m.velocity, cond)
        if prefix is None or not torch.isfinite(prefix).any():
            return flow.euler_integrate(v, noise, steps)
        if frozen is None:
            frozen = torch.zeros(noise.shape[0], dtype=torch.int64, device=noise.device)
        return flow.euler_integrate_guided(v, noise, prefix, frozen, steps, m.cfg.rtc_beta)


class L2Head:
    """Deterministic regression on the same backbone (x = 0, t = 1): ignores noise and prefix."""

    def _predict(self, m, cond):
        b = cond.shape[0]
        x = cond.new_zeros(b, m.cfg.horizon, m.cfg.action_dim)
        return m.velocity(x, cond.new_ones(b), cond)

    def squared_error(self, m, cond, x1, g):
        return (self._predict(m, cond) - x1).square()

    def sample(self, m, cond, noise, steps, prefix, frozen):
        return self._predict(m, cond)


HEADS: dict[str, Head] = {"flow": FlowHead(), "l2": L2Head()}
