"""Neural networks: the observation encoder and the velocity networks over an action chunk.

Velocity networks map (x (B, H, A), t (B,), cond (B, C)) -> (B, H, A). They are chosen by name
from `VELOCITY_NETS`; the same network serves the flow head (predict a velocity) and the L2
baseline head (fed x = 0, t = 1, predict the chunk), so the comparison is backbone-for-backbone.

- "mlp": the chunk flattened, concatenated with cond and a time embedding, through residual MLP
  blocks. Small and fast.
- "unet1d": a 1-D temporal convolution U-Net over the H axis, conditioned by FiLM on cond and
  time, as in Diffusion Policy (Chi et al., RSS 2023, arXiv 2303.04137) and FiLM (Perez et al.,
  AAAI 2018, arXiv 1709.07871).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn
from torch.nn import functional as F

from policy_server.image_encoders import make_image_encoder


@dataclass
class NetConfig:
    """Sizes of the networks (defaults run on CPU in well under a millisecond per call)."""

    velocity_net: str = "mlp"  # a key of VELOCITY_NETS
    hidden: int = 256  # MLP width / U-Net base channels * 4
    depth: int = 3  # residual MLP blocks (mlp) ; ignored by unet1d
    expansion: int = 2  # a residual block's inner width, in multiples of `hidden` (mlp)
    unet_channels: int = 64  # channels at the first U-Net level (doubles per level)
    cond_dim: int = 128  # observation embedding size
    time_dim: int = 64  # sinusoidal time embedding size
    obs_hidden: int = 256
    image_encoder: str = "spatial_softmax"  # a key of image_encoders.IMAGE_ENCODERS, one per camera
    image_channels: int = 16  # its width (keypoints, for spatial softmax: 16 trains 1.6x faster than 32 on a CPU)
    image_shift: int = 4  # training augmentation: frames shifted by up to this many pixels (0: none)
    kernel: int = 5


def time_frequencies(dim: int, device: torch.device | str | None = None) -> torch.Tensor:
    """The dim // 2 frequencies of `sinusoidal_embedding`, geometric from 1 to 1000."""
    return torch.exp(torch.linspace(0.0, math.log(1000.0), dim // 2, device=device))


def sinusoidal_embedding(t: torch.Tensor, dim: int, freqs: torch.Tensor | None = None) -> torch.Tensor:
    """Fourier features of t in [0, 1] (B,) -> (B, dim); pass `freqs` (from `time_frequencies`) to
    skip recomputing them on every call."""
    if freqs is None:
        freqs = time_frequencies(dim, t.device)
    ang = t.float().unsqueeze(1) * freqs.unsqueeze(0)
    emb = torch.cat([torch.sin(ang), torch.cos(ang)], dim=1)
    return F.pad(emb, (0, dim - 2 * freqs.shape[0]))


class ObsEncoder(nn.Module):
    """Normalised low-dim vector (B, D) and optional images {key: (B, H, W, 3)} -> cond (B, C)."""

    def __init__(self, lowdim_dim: int, image_keys: tuple[str, ...], cfg: NetConfig):
        super().__init__()
        self.image_keys = tuple(image_keys)
        self.images = nn.ModuleDict({k: make_image_encoder(cfg.image_encoder, cfg.obs_hidden // 2, cfg.image_channels)
                                     for k in self.image_keys})
        in_dim = lowdim_dim + len(self.image_keys) * (cfg.obs_hidden // 2)
        self.mlp = nn.Sequential(
            nn.Linear(max(in_dim, 1), cfg.obs_hidden), nn.Mish(),
            nn.Linear(cfg.obs_hidden, cfg.obs_hidden), nn.Mish(),
            nn.Linear(cfg.obs_hidden, cfg.cond_dim),
        )

    def forward(self, lowdim: torch.Tensor, images: dict[str, torch.Tensor] | None = None) -> torch.Tensor:
        parts = [lowdim] if lowdim.shape[-1] else []
        for k in self.image_keys:
            parts.append(self.images[k](images[k]))
        x = (parts[0] if len(parts) == 1 else torch.cat(parts, -1)) if parts else lowdim.new_zeros(lowdim.shape[0], 1)
        first, _, second, _, last = self.mlp  # (as functions: at batch 1 a module call costs more than its maths)
        x = F.mish(F.linear(x, first.weight, first.bias))
        return F.linear(F.mish(F.linear(x, second.weight, second.bias)), last.weight, last.bias)

    def fit_image_statistics(self, frames: dict[str, torch.Tensor]) -> None:
        """Each camera's encoder learns its input statistics from that camera's training frames."""
        for k in self.image_keys:
            self.images[k].stats.fit(frames[k])


class ResBlock(nn.Module):
    def __init__(self, width: int, expansion: int = 2):
        super().__init__()
        self.norm = nn.LayerNorm(width)
        self.fc1 = nn.Linear(width, width * expansion)
        self.fc2 = nn.Linear(width * expansion, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.fc2(F.mish(self.fc1(self.norm(x))))


class MLPVelocity(nn.Module):
    """Flattened chunk + cond + time embedding -> residual MLP -> flattened velocity."""

    def __init__(self, horizon: int, action_dim: int, cfg: NetConfig):
        super().__init__()
        self.h, self.a, self.time_dim, self.cond_dim = horizon, action_dim, cfg.time_dim, cfg.cond_dim
        self.inp = nn.Linear(horizon * action_dim + cfg.cond_dim + cfg.time_dim, cfg.hidden)
        self.blocks = nn.Sequential(*[ResBlock(cfg.hidden, cfg.expansion) for _ in range(cfg.depth)])
        self.out = nn.Sequential(nn.LayerNorm(cfg.hidden), nn.Linear(cfg.hidden, horizon * action_dim))
        self.register_buffer("freqs", time_frequencies(cfg.time_dim), persistent=False)

    def forward(self, x: torch.Tensor, t: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        z = torch.cat([x.flatten(1), cond, sinusoidal_embedding(t, self.time_dim, self.freqs)], -1)
        return self.out(self.blocks(self.inp(z))).view(-1, self.h, self.a)

    def conditioned(self, cond: torch.Tensor) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
        """v(x, t) for one observation batch, for sampling, which calls it once per Euler step.

        The same function as `forward`, arranged for batch-1 CPU latency, where per-call overhead
        and reading the weights, not arithmetic, are the cost: the observation's share of the first
        layer is computed once per chunk, the time's once per time value, and the weights are read
        from `SamplingWeights` (transposed once). No gradient reaches the weights through it (the
        guided sampler's gradient with respect to x does).
        """
        if torch.compiler.is_compiling():  # (torch.compile traces the plain layers and fuses them itself)
            return self._traced_velocity(cond)
        sw = self.sampling_weights()
        base = torch.addmm(sw.inp_b, cond, sw.w_cT)
        width = (sw.w_xT.shape[1],)
        shape = (-1, self.h, self.a)

        def velocity(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
            inplace = not torch.is_grad_enabled()  # (the guided sampler differentiates through it)
            z = torch.addmm(base, x.flatten(1), sw.w_xT).add_(sw.time_term(t, self.time_dim, self.freqs))
            for nw, nb, eps, w1T, b1, w2T, b2 in sw.blocks:
                u = F.mish(torch.addmm(b1, F.layer_norm(z, width, nw, nb, eps), w1T), inplace=inplace)
                z = torch.addmm(z, u, w2T).add_(b2)
            z = F.layer_norm(z, width, sw.norm_w, sw.norm_b, sw.norm_eps)
            return torch.addmm(sw.head_b, z, sw.head_wT).view(shape)

        return velocity

    def sampling_weights(self) -> "SamplingWeights":
        """The weights laid out for sampling, made again when a weight changed: in place, as an
        optimiser or load_state_dict does, or moved, as .to() does. (A Parameter object swapped for
        another, as load_state_dict(assign=True) does, is not noticed: call `forget_sampling_weights`.)"""
        sw = getattr(self, "_sampling", None)
        params = sw.params if sw is not None else list(self.parameters())  # (walking the module tree: 0.1 ms)
        try:
            key = tuple((p.data_ptr(), p._version) for p in params)
        except RuntimeError:  # weights made in inference mode keep no version: (changing them in place is not noticed)
            key = tuple(p.data_ptr() for p in params)
        if sw is None or sw.key != key:
            self._sampling = sw = SamplingWeights.of(self, params, key)
        return sw

    def forget_sampling_weights(self) -> None:
        self._sampling = None

    def _traced_velocity(self, cond: torch.Tensor) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
        n_x = self.h * self.a
        w = self.inp.weight
        base = F.linear(cond, w[:, n_x:n_x + self.cond_dim], self.inp.bias)

        def velocity(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
            temb = sinusoidal_embedding(t, self.time_dim, self.freqs)
            z = base + F.linear(x.flatten(1), w[:, :n_x]) + F.linear(temb, w[:, n_x + self.cond_dim:])
            return self.out(self.blocks(z)).view(-1, self.h, self.a)

        return velocity


@dataclass
class SamplingWeights:
    """An MLPVelocity's weights as batch-1 sampling reads them on a CPU: each matrix transposed
    to (in, out) and contiguous, since a (1, in) x (in, out) product reads it in memory order
    (measured: 11 vs 19 us for a 256 x 512 layer on one thread; a chunk reads every matrix once
    per Euler step), and the time embedding's share of the first layer per time value (sampling
    asks for the same few times again and again). Detached copies, so also outside inference mode."""

    params: list[torch.Tensor]  # the parameters it was made from, for the check that they have not changed
    key: tuple
    w_xT: torch.Tensor
    w_cT: torch.Tensor
    inp_b: torch.Tensor
    w_t: torch.Tensor
    blocks: list[tuple]
    norm_w: torch.Tensor
    norm_b: torch.Tensor
    norm_eps: float
    head_wT: torch.Tensor
    head_b: torch.Tensor
    times: dict[float, torch.Tensor]

    MAX_TIMES = 256  # distinct time values kept (a sampler's schedule has a handful)

    @staticmethod
    def of(net: "MLPVelocity", params: list[torch.Tensor], key: tuple) -> "SamplingWeights":
        def own(t: torch.Tensor) -> torch.Tensor:
            return t.detach().clone(memory_format=torch.contiguous_format)

        with torch.inference_mode(False), torch.no_grad():  # (usable by the guided sampler's autograd too)
            n_x, w = net.h * net.a, net.inp.weight
            blocks = [(own(b.norm.weight), own(b.norm.bias), b.norm.eps, own(b.fc1.weight.t()), own(b.fc1.bias),
                       own(b.fc2.weight.t()), own(b.fc2.bias)) for b in net.blocks]
            norm, head = net.out[0], net.out[1]
            return SamplingWeights(params, key, own(w[:, :n_x].t()), own(w[:, n_x:n_x + net.cond_dim].t()),
                                   own(net.inp.bias), own(w[:, n_x + net.cond_dim:]), blocks, own(norm.weight),
                                   own(norm.bias), norm.eps, own(head.weight.t()), own(head.bias), {})

    def time_term(self, t: torch.Tensor, dim: int, freqs: torch.Tensor) -> torch.Tensor:
        """The first layer's time share for times t (B,): (B, width), or (1, width) for one time."""
        if t.numel() != 1 or t.device.type != "cpu":  # (reading a GPU tensor's value would wait for the GPU)
            return F.linear(sinusoidal_embedding(t, dim, freqs), self.w_t)
        value = float(t.reshape(()))
        term = self.times.get(value)
        if term is None:
            if len(self.times) >= self.MAX_TIMES:
                self.times.clear()
            with torch.inference_mode(False), torch.no_grad():
                at = torch.tensor([value], dtype=torch.float32, device=self.w_t.device)
                term = F.linear(sinusoidal_embedding(at, dim, freqs.detach().clone()), self.w_t)
            self.times[value] = term
        return term


class FiLMConvBlock(nn.Module):
    """Two 1-D convs with GroupNorm; FiLM (scale, shift) from the conditioning after the first."""

    def __init__(self, cin: int, cout: int, cond: int, kernel: int):
        super().__init__()
        g = 8 if cout % 8 == 0 else 1
        self.c1 = nn.Sequential(nn.Conv1d(cin, cout, kernel, padding=kernel // 2), nn.GroupNorm(g, cout), nn.Mish())
        self.c2 = nn.Sequential(nn.Conv1d(cout, cout, kernel, padding=kernel // 2), nn.GroupNorm(g, cout), nn.Mish())
        self.film = nn.Linear(cond, 2 * cout)
        self.skip = nn.Conv1d(cin, cout, 1) if cin != cout else nn.Identity()

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        h = self.c1(x)
        scale, shift = self.film(c).unsqueeze(-1).chunk(2, dim=1)
        h = h * (1 + scale) + shift
        return self.c2(h) + self.skip(x)


class UNet1DVelocity(nn.Module):
    """1-D temporal U-Net over the chunk's time axis with two resolution levels and FiLM."""

    def __init__(self, horizon: int, action_dim: int, cfg: NetConfig):
        super().__init__()
        self.h, self.a, self.time_dim = horizon, action_dim, cfg.time_dim
        c0, c1 = cfg.unet_channels, cfg.unet_channels * 2
        cond = cfg.cond_dim + cfg.time_dim
        self.cond = nn.Sequential(nn.Linear(cond, cond), nn.Mish())
        k = cfg.kernel
        self.down0 = FiLMConvBlock(action_dim, c0, cond, k)
        self.down1 = FiLMConvBlock(c0, c1, cond, k)
        self.mid = FiLMConvBlock(c1, c1, cond, k)
        self.up1 = FiLMConvBlock(c1 + c1, c0, cond, k)
        self.up0 = FiLMConvBlock(c0 + c0, c0, cond, k)
        self.out = nn.Conv1d(c0, action_dim, 1)

    def forward(self, x: torch.Tensor, t: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        c = self.cond(torch.cat([cond, sinusoidal_embedding(t, self.time_dim)], -1))
        h = x.transpose(1, 2)  # (B, A, H)
        pad = (-h.shape[-1]) % 2
        h = F.pad(h, (0, pad), mode="replicate")
        s0 = self.down0(h, c)
        s1 = self.down1(F.avg_pool1d(s0, 2), c)
        m = self.mid(s1, c)
        u1 = self.up1(torch.cat([m, s1], 1), c)
        u0 = self.up0(torch.cat([F.interpolate(u1, scale_factor=2.0, mode="nearest"), s0], 1), c)
        return self.out(u0)[..., : self.h].transpose(1, 2)


VELOCITY_NETS: dict[str, Callable[[int, int, NetConfig], nn.Module]] = {
    "mlp": MLPVelocity,
    "unet1d": UNet1DVelocity,
}


def make_velocity_net(name: str, horizon: int, action_dim: int, cfg: NetConfig) -> nn.Module:
    """Build a registered velocity network by name."""
    try:
        ctor = VELOCITY_NETS[name]
    except KeyError:
        raise ValueError(f"unknown velocity network {name!r}; choose from {sorted(VELOCITY_NETS)}") from None
    return ctor(horizon, action_dim, cfg)


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())
