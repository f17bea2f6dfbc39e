"""The policy any code can use: load a checkpoint, `predict(obs) -> (H, A)`, `sample(obs, n)`, and
the batched `predict_chunks` of the `ChunkPolicy` protocol that the policy server calls.

Physical units in and out; normalisation and the model stay inside.

    policy = FlowPolicy.load("runs/x/round_2/checkpoints/last.pt")
    chunk = policy.predict(obs)            # (H, A)
    spread = policy.sample(obs, 32).std(0)  # (H, A): how unsure the policy is
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch

from hgdagger.common.types import PolicyInfo
from policy_server.checkpoint import file_hash, load_checkpoint, saved_model_config
from policy_server.model import ChunkModel
from policy_server.normalization import Normalizer, ObsLayout, action_reference, check_layout, snap_to_levels


def default_device() -> torch.device:
    """cuda when there is one, else cpu."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


class FlowPolicy:
    """A trained chunk policy (flow or L2 head) ready for inference; satisfies `ChunkPolicy`."""

    def __init__(
        self,
        model: ChunkModel,
        normalizer: Normalizer,
        layout: ObsLayout,
        control_period: float = 0.05,
        checkpoint_id: str = "untrained",
        checkpoint_hash: str = "",
        device: torch.device | str | None = None,
        compile: bool = False,
    ):
        self.device = torch.device(device) if device is not None else default_device()
        self.model = model.to(self.device).eval()
        self.cfg = model.cfg
        self.normalizer = normalizer
        self.layout = layout
        # Observations are normalised and chunks mapped back in numpy (float32, the same operations
        # as in torch): at batch 1 each torch call costs several microseconds more than numpy's.
        self._np_obs = (np.asarray(normalizer.obs_mean, np.float32), np.asarray(normalizer.obs_std, np.float32))
        self._np_act = (np.asarray(normalizer.act_mean, np.float32), np.asarray(normalizer.act_std, np.float32))
        self._flat = {k: int(np.prod(layout.shapes[k])) for k in layout.lowdim_keys}
        # torch.compile the whole plain sampler (encoder + every Euler step in one graph), for a GPU:
        # on a CPU the eager sampler's own fast path is as fast (issue 19: 2.94 vs 3.09 ms compiled,
        # 10 steps, one thread). Guided (RTC) sampling needs autograd through the network and stays eager.
        self._plain = self._plain_sample
        if compile:
            self._plain = torch.compile(self._plain_sample, dynamic=False)
        # Real-time-chunking inpainting: the flow head uses `prefix`; the L2 head ignores it.
        self.supports_prefix = self.cfg.head == "flow"
        self.info = PolicyInfo(
            chunk_length=self.cfg.horizon,
            action_dim=self.cfg.action_dim,
            control_period=float(control_period),
            observation_shapes={k: tuple(v) for k, v in layout.shapes.items()},
            checkpoint_id=checkpoint_id,
            checkpoint_hash=checkpoint_hash,
            normalization_hash=normalizer.digest(),
        )

    # ------------------------------------------------------------------ loading

    @staticmethod
    def load(
        path: str | Path,
        observation_shapes: Mapping[str, tuple[int, ...]] | None = None,
        device: torch.device | str | None = None,
        use_ema: bool = True,
        compile: bool = False,
    ) -> "FlowPolicy":
        """Load a checkpoint; if `observation_shapes` is given, refuse a layout that differs."""
        ck = load_checkpoint(path)
        layout = ObsLayout.from_dict(ck["layout"])
        if observation_shapes is not None:
            check_layout(layout, observation_shapes, f"checkpoint '{path}'")
        cfg = saved_model_config(ck)
        model = ChunkModel(cfg, layout.lowdim_dim, layout.image_keys)
        model.load_state_dict(ck["ema_state_dict"] if use_ema else ck["state_dict"])
        return FlowPolicy(
            model,
            Normalizer.from_dict(ck["normalizer"]),
            layout,
            control_period=float(ck.get("control_period", 0.05)),
            checkpoint_id=str(ck.get("checkpoint_id", Path(path).stem)),
            checkpoint_hash=file_hash(path),
            device=device,
            compile=compile,
        )

    # ------------------------------------------------------------------ inference

    def _batch_size(self, observations: Mapping[str, Any]) -> int:
        k = self.layout.keys[0] if self.layout.keys else next(iter(observations))
        return int(np.asarray(observations[k]).shape[0])

    def _inputs(self, observations: Mapping[str, Any]) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Check and normalise a batch: keys (B, *shape) or with history (B, T_o, *shape)."""
        shapes = {}
        for k in self.layout.keys:
            if k not in observations:
                continue
            s = tuple(np.shape(observations[k]))[1:]
            if len(s) == len(self.layout.shapes[k]) + 1 and s[1:] == tuple(self.layout.shapes[k]):
                s = s[1:]  # history axis present
            shapes[k] = s
        check_layout(self.layout, shapes, "observation")
        b, to = self._batch_size(observations), self.cfg.obs_horizon
        parts = []
        for k in self.layout.lowdim_keys:
            a = np.asarray(observations[k], np.float32).reshape(b, -1, self._flat[k])
            if a.shape[1] == 1 and to > 1:
                a = np.broadcast_to(a, (b, to, a.shape[2]))  # single frame given: repeat it as the history
            parts.append(a[:, -to:])
        if parts:
            mean, std = self._np_obs
            low_np = (np.concatenate(parts, -1) - mean) / std
            low = torch.from_numpy(low_np).to(self.device)
        else:
            low = torch.zeros(b, to, 0, device=self.device)
        images = {}
        for k in self.layout.image_keys:
            img = torch.as_tensor(np.asarray(observations[k]), device=self.device)
            images[k] = img.reshape(b, -1, *self.layout.shapes[k])[:, -1]
        return low, images

    def _plain_sample(self, low: torch.Tensor, images: dict[str, torch.Tensor], noise: torch.Tensor) -> torch.Tensor:
        """Normalised chunks (B, H, A) from noise, without inpainting."""
        return self.model.sample(self.model.encode(low, images), noise)

    @torch.no_grad()
    def predict_chunks(
        self,
        observations: Mapping[str, np.ndarray],
        prefix: np.ndarray | None = None,
        frozen_steps: np.ndarray | None = None,
        noise: np.ndarray | None = None,
        steps: int | None = None,
    ) -> np.ndarray:
        """(B, H, A) chunks in physical units; `prefix` (B, H, A, NaN = none) is inpainted (RTC).

        `noise` (B, H, A) fixes the initial noise for reproducible outputs.
        """
        low, images = self._inputs(observations)
        b, h, a = low.shape[0], self.cfg.horizon, self.cfg.action_dim
        ref = None  # (B, k): the origin of relative targets
        if self.cfg.relative_to:
            ref = action_reference(observations, self.cfg.relative_to, self.layout.shapes[self.cfg.relative_to][-1])
        if noise is None:
            z = torch.randn(b, h, a, device=self.device)
        else:
            z = torch.as_tensor(np.asarray(noise, np.float32), device=self.device).reshape(b, h, a)
        mean, std = self._np_act
        pre = fz = None
        if prefix is not None:
            p = np.array(prefix, np.float32)  # (a copy)
            if p.shape != (b, h, a):
                raise ValueError(f"prefix must be {(b, h, a)}, got {tuple(p.shape)}")
            if ref is not None:
                p[..., : ref.shape[-1]] -= ref[:, None]
            pre = torch.from_numpy((p - mean) / std).to(self.device)
            fz = torch.as_tensor(np.zeros(b) if frozen_steps is None else np.asarray(frozen_steps), device=self.device)
        if pre is None and steps in (None, self.cfg.flow_steps):
            with torch.inference_mode():  # cheaper than no_grad per op; guided sampling needs autograd, so not there
                x = self._plain(low, images, z)
        else:
            x = self.model.sample(self.model.encode(low, images), z, steps, pre, fz)
        out = x.float().cpu().numpy() * std + mean
        if ref is not None:
            out[..., : ref.shape[-1]] += ref[:, None]
        return snap_to_levels(out, self.normalizer.act_levels) if self.normalizer.act_levels else out

    def predict(self, observation: Mapping[str, np.ndarray], **kw: Any) -> np.ndarray:
        """One chunk (H, A) for one observation (no batch axis)."""
        batched = {k: np.asarray(v)[None] for k, v in observation.items()}
        return self.predict_chunks(batched, **kw)[0]

    def sample(self, observation: Mapping[str, np.ndarray], n: int, seed: int | None = None) -> np.ndarray:
        """`n` independent chunks (n, H, A) for one observation: their spread shows the policy's doubt."""
        batched = {k: np.repeat(np.asarray(v)[None], n, axis=0) for k, v in observation.items()}
        noise = None
        if seed is not None:
            g = np.random.default_rng(seed)
            noise = g.standard_normal((n, self.cfg.horizon, self.cfg.action_dim)).astype(np.float32)
        return self.predict_chunks(batched, noise=noise)

