"""Camera encoders: uint8 frames (B, H, W, 3) -> a feature vector (B, out), chosen by name.

Each encoder is trained from scratch (nothing may be downloaded), normalises its input with the
per-channel statistics of its training frames (buffers, so they live inside the checkpoint), and
uses GroupNorm, not BatchNorm: batch statistics would differ between training batches and a
single served frame, and the EMA copy of the weights would not track them.

- "spatial_softmax": a small strided CNN whose last feature maps become keypoints, the expected
  (x, y) of each channel's softmax over the image (Levine, Finn et al., JMLR 2016, arXiv
  1504.00702; the robomimic and Diffusion Policy image encoders use it). Where things are, which
  is what a manipulation policy needs, survives the pooling.
- "resnet": two GroupNorm residual stages, then spatial softmax (the shape of Diffusion Policy's
  ResNet-18 with GroupNorm, Chi et al. RSS 2023, scaled down to train on a CPU).
- "conv_pool": strided convs and global average pooling (this project's first image encoder; the
  ablation that shows what keeping "where" is worth).

Training augments with a random shift (pad by `shift` pixels, replicate the border, crop back:
DrQ, Kostrikov et al. ICLR 2021, arXiv 2004.13649); serving sees the frame unshifted.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn
from torch.nn import functional as F

def _groups(channels: int) -> int:
    return 8 if channels % 8 == 0 else 1


def _conv(cin: int, cout: int, k: int, stride: int) -> list[nn.Module]:
    # SiLU, not the Mish of the rest of the model: on a CPU Mish's backward alone took a third of a
    # training step over two 64 px cameras; a step with SiLU took half the time (79 vs 158 ms, batch 64).
    return [nn.Conv2d(cin, cout, k, stride=stride, padding=k // 2), nn.GroupNorm(_groups(cout), cout), nn.SiLU()]


class FrameStatistics(nn.Module):
    """Per-channel mean and std of the training frames (0..1 scale), kept as buffers so that a
    checkpoint carries them; `fit` sets them once, before training starts."""

    def __init__(self):
        super().__init__()
        self.register_buffer("mean", torch.full((1, 3, 1, 1), 0.5))
        self.register_buffer("std", torch.full((1, 3, 1, 1), 0.25))

    @torch.no_grad()
    def fit(self, frames: torch.Tensor, max_frames: int = 4096) -> None:
        """frames: uint8 (N, H, W, 3); a strided subset of at most `max_frames` is enough."""
        step = max(1, len(frames) // max_frames)
        x = frames[::step].float().div_(255.0)
        self.mean.copy_(x.mean((0, 1, 2)).view(1, 3, 1, 1))
        self.std.copy_(x.std((0, 1, 2)).clamp(min=1e-3).view(1, 3, 1, 1))

    def forward(self, img: torch.Tensor) -> torch.Tensor:
        """uint8 (B, H, W, 3) -> normalised float (B, 3, H, W)."""
        x = img.permute(0, 3, 1, 2).to(self.mean.dtype).div(255.0)
        return (x - self.mean) / self.std


class SpatialSoftmax(nn.Module):
    """(B, C, H, W) -> (B, 2C): each channel's expected (x, y) under its softmax, with a learnt
    temperature. Coordinates in [-1, 1]."""

    def __init__(self):
        super().__init__()
        self.log_temperature = nn.Parameter(torch.zeros(()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        attention = torch.softmax(x.flatten(2) / self.log_temperature.exp(), dim=-1).view(b, c, h, w)
        ys = torch.linspace(-1.0, 1.0, h, device=x.device, dtype=x.dtype)
        xs = torch.linspace(-1.0, 1.0, w, device=x.device, dtype=x.dtype)
        ex = (attention.sum(2) * xs).sum(-1)
        ey = (attention.sum(3) * ys).sum(-1)
        return torch.cat([ex, ey], -1)


class ConvPoolEncoder(nn.Module):
    """Strided convs and global average pooling."""

    def __init__(self, out: int, width: int = 32):
        super().__init__()
        self.stats = FrameStatistics()
        self.net = nn.Sequential(
            *_conv(3, width, 5, 2), *_conv(width, width * 2, 3, 2), *_conv(width * 2, width * 2, 3, 2),
            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(width * 2, out),
        )

    def forward(self, img: torch.Tensor) -> torch.Tensor:
        return self.net(self.stats(img))


class SpatialSoftmaxEncoder(nn.Module):
    """A 5x5 and a 3x3 strided conv (64 px -> 16 px maps) and a 3x3 conv, `width` keypoints, a
    linear head. (A stride-1 conv at 32 px as well cost twice the time for the same maps.)"""

    def __init__(self, out: int, width: int = 32):
        super().__init__()
        half = max(8, width // 2)
        self.stats = FrameStatistics()
        self.net = nn.Sequential(*_conv(3, half, 5, 2), *_conv(half, width, 3, 2), *_conv(width, width, 3, 1))
        self.keypoints = SpatialSoftmax()
        self.head = nn.Sequential(nn.Linear(2 * width, out), nn.SiLU())

    def forward(self, img: torch.Tensor) -> torch.Tensor:
        return self.head(self.keypoints(self.net(self.stats(img))))


class _Residual(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.body = nn.Sequential(*_conv(cin, cout, 3, stride), nn.Conv2d(cout, cout, 3, padding=1),
                                  nn.GroupNorm(_groups(cout), cout))
        self.skip = nn.Identity() if (cin, stride) == (cout, 1) else nn.Sequential(
            nn.Conv2d(cin, cout, 1, stride=stride), nn.GroupNorm(_groups(cout), cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.silu(self.body(x) + self.skip(x))


class ResNetEncoder(nn.Module):
    """A strided stem and two residual stages (64 px -> 16 px maps), then spatial softmax."""

    def __init__(self, out: int, width: int = 32):
        super().__init__()
        half = max(8, width // 2)
        self.stats = FrameStatistics()
        self.net = nn.Sequential(*_conv(3, half, 5, 2), _Residual(half, width, 2), _Residual(width, width, 1))
        self.keypoints = SpatialSoftmax()
        self.head = nn.Sequential(nn.Linear(2 * width, out), nn.SiLU())

    def forward(self, img: torch.Tensor) -> torch.Tensor:
        return self.head(self.keypoints(self.net(self.stats(img))))


IMAGE_ENCODERS: dict[str, Callable[[int, int], nn.Module]] = {
    "spatial_softmax": SpatialSoftmaxEncoder,
    "resnet": ResNetEncoder,
    "conv_pool": ConvPoolEncoder,
}


def make_image_encoder(name: str, out: int, width: int) -> nn.Module:
    """A registered camera encoder by name (ValueError naming the choices otherwise)."""
    try:
        ctor = IMAGE_ENCODERS[name]
    except KeyError:
        raise ValueError(f"unknown image encoder {name!r}; choose from {sorted(IMAGE_ENCODERS)}") from None
    return ctor(out, width)


def random_shift(frames: torch.Tensor, shift: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """Each uint8 frame (B, H, W, 3) moved by up to `shift` pixels in x and y, the border repeated
    into the gap (DrQ's augmentation), as one gather: no per-frame Python loop."""
    if shift <= 0:
        return frames
    b, h, w, _ = frames.shape
    dy = torch.randint(-shift, shift + 1, (b, 1, 1), generator=generator, device="cpu").to(frames.device)
    dx = torch.randint(-shift, shift + 1, (b, 1, 1), generator=generator, device="cpu").to(frames.device)
    rows = (torch.arange(h, device=frames.device).view(1, h, 1) + dy).clamp_(0, h - 1)
    cols = (torch.arange(w, device=frames.device).view(1, 1, w) + dx).clamp_(0, w - 1)
    batch = torch.arange(b, device=frames.device).view(b, 1, 1)
    return frames[batch, rows, cols]
