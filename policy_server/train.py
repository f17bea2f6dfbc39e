"""Training: weighted flow-matching (or L2) regression of action chunks, with EMA, validation,
periodic atomic checkpoints, resume, fine-tuning, and DDP when launched under torchrun.

    result = train(dataset, TrainConfig(steps=2000), out_dir="runs/x/round_0/checkpoints")

Ctrl-C (or SIGTERM) finishes the current step, saves last.pt (resumable) and raises `TrainingInterrupted`. The
loss curve goes to loss.csv and TensorBoard event files beside the checkpoints (`policy_server.loss_log`).
"""

from __future__ import annotations

import copy
import dataclasses
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from policy_server import distributed as pdist
from policy_server.checkpoint import load_checkpoint, model_config_from_dict, save_checkpoint, saved_model_config
from policy_server.data import ChunkDataset
from policy_server.image_encoders import random_shift
from policy_server.interrupt import TrainingInterrupted, interrupt_latch
from policy_server.loss_log import LossLog
from policy_server.model import ChunkModel, ModelConfig
from policy_server.normalization import (
    Normalizer, ObsLayout, action_reference, check_layout, flatten_lowdim, to_relative,
)


@dataclass
class TrainConfig:
    """Everything that decides a training run (saved beside and inside every checkpoint)."""

    model: ModelConfig = field(default_factory=ModelConfig)
    lowdim_keys: list[str] | None = None  # order of low-dim keys; None = all non-image keys, sorted
    use_images: bool = False  # feed camera keys (H, W, 3) through the image encoders
    image_keys: list[str] | None = None  # which cameras, with use_images; None = every camera key
    mixed_precision: bool = True  # bfloat16 autocast on a GPU (ignored on a CPU)
    snap_discrete_actions: bool = True  # outputs of two-valued action dims (a binary gripper) snap to those values
    steps: int = 3000
    batch_size: int = 256
    lr: float = 3e-4
    weight_decay: float = 1e-4
    warmup_steps: int = 100
    ema_decay: float = 0.999
    grad_clip: float = 1.0
    pad_loss_weight: float = 0.0  # loss weight of padded chunk steps past the episode end
    val_fraction: float = 0.1  # fraction of episodes held out
    val_every: int = 500
    ckpt_every: int = 1000
    log_every: int = 50  # steps between rows of loss.csv / TensorBoard points
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda | cuda:1
    num_threads: int = 0  # torch CPU threads; 0 = leave torch's default
    control_period: float = 0.05

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def observation_keys(self) -> list[str] | None:
        """The observation keys to read from the episode files (None: every key they share)."""
        if self.lowdim_keys is None or (self.use_images and self.image_keys is None):
            return None
        return list(self.lowdim_keys) + (list(self.image_keys) if self.use_images else [])

    @staticmethod
    def from_dict(d: dict[str, Any]) -> "TrainConfig":
        from hgdagger.common.settings import range_errors, type_errors

        fields = {f.name for f in dataclasses.fields(TrainConfig)} - {"model"}
        cfg = TrainConfig(model=model_config_from_dict(d.get("model", {})), **{k: v for k, v in d.items() if k in fields})
        minimum = {"steps": 1, "batch_size": 1, "lr": 1e-12, "log_every": 1}
        errors = type_errors(cfg) + range_errors(cfg, minimum) + \
            range_errors(cfg.model, {"horizon": 1})
        if errors:
            raise ValueError("bad training settings: " + "; ".join(errors))
        return cfg


@dataclass
class TrainResult:
    checkpoint: Path
    step: int
    train_loss: float
    val_loss: float | None
    samples_per_s: float
    history: list[dict[str, float]]
    model: torch.nn.Module | None = None  # the final (non-EMA) weights, on this process
    rank: int = 0
    world_size: int = 1
    resumed_from: int | None = None  # the step a resumed run continued from


def _step_shapes(ds: ChunkDataset, obs_horizon: int) -> dict[str, tuple[int, ...]]:
    """Per-step observation shapes (no batch axis, no history axis)."""
    return {k: tuple(v.shape[2:] if obs_horizon > 1 else v.shape[1:]) for k, v in ds.obs.items()}


class _Tensors:
    """A ChunkDataset as normalised tensors on the training device."""

    def __init__(self, ds: ChunkDataset, layout: ObsLayout, norm: Normalizer, to: int, pad_w: float, device,
                 relative_to: str = ""):
        low = flatten_lowdim(ds.obs, layout, batch_dims=1 if to == 1 else 2)
        low = norm.norm_obs(low.reshape(len(ds), to, -1) if len(layout.lowdim_keys) else low.reshape(len(ds), to, 0))
        self.low = torch.as_tensor(low, dtype=torch.float32, device=device)
        self.images = {k: torch.as_tensor(ds.obs[k], device=device) for k in layout.image_keys}
        self.act = torch.as_tensor(norm.norm_act(_training_actions(ds, relative_to)), dtype=torch.float32, device=device)
        self.mask = torch.as_tensor(np.where(ds.pad_mask, pad_w, 1.0), dtype=torch.float32, device=device)
        self.w = torch.as_tensor(ds.weights, dtype=torch.float32, device=device)
        self.n = len(ds)

    def batch(self, idx: torch.Tensor) -> tuple:
        imgs = {k: v[idx] for k, v in self.images.items()}
        if imgs:
            imgs = {k: v.reshape(len(idx), -1, *v.shape[-3:])[:, -1] for k, v in imgs.items()}
        return self.low[idx], imgs, self.act[idx], self.mask[idx], self.w[idx]


def _training_actions(ds: ChunkDataset, relative_to: str) -> np.ndarray:
    """The chunks the model learns: absolute, or relative to the observation key `relative_to`."""
    if not relative_to:
        return ds.actions
    if relative_to not in ds.obs:
        raise ValueError(f"relative_to={relative_to!r} is not an observation key (have {sorted(ds.obs)})")
    k = ds.obs[relative_to].shape[-1]
    if k > ds.action_dim:
        raise ValueError(f"relative_to={relative_to!r} has {k} dims, more than the {ds.action_dim} action dims")
    return to_relative(ds.actions, action_reference(ds.obs, relative_to, k))


def _lr(cfg: TrainConfig, step: int) -> float:
    """Linear warm-up then cosine decay to 10 % of the base rate."""
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    p = (step - cfg.warmup_steps) / max(1, cfg.steps - cfg.warmup_steps)
    return cfg.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, p))))


@torch.no_grad()
def _ema_update(ema: torch.nn.Module, model: torch.nn.Module, decay: float) -> None:
    for pe, pm in zip(ema.parameters(), model.parameters()):
        pe.lerp_(pm.detach(), 1.0 - decay)
    for be, bm in zip(ema.buffers(), model.buffers()):
        be.copy_(bm)


@torch.no_grad()
def _validate(model: ChunkModel, data: _Tensors, batch: int, seed: int) -> float:
    """Weighted loss on held-out data with fixed noise and times (comparable across evaluations)."""
    g = torch.Generator(device=data.act.device).manual_seed(seed)
    total, wsum = 0.0, 0.0
    for s in range(0, data.n, batch):
        idx = torch.arange(s, min(s + batch, data.n), device=data.act.device)
        low, imgs, act, mask, w = data.batch(idx)
        loss = model(low, imgs, act, mask, g)
        total += float((loss * w).sum())
        wsum += float(w.sum())
    return total / max(wsum, 1e-9)


class NothingToResume(ValueError):
    """`resume` asked for, but the output folder holds no checkpoint to resume from."""


def resume_checkpoint(out_dir: str | Path) -> Path:
    """The checkpoint `resume` continues from; NothingToResume naming the folder when there is none."""
    path = Path(out_dir) / "last.pt"
    if not path.is_file():
        raise NothingToResume(f"nothing to resume in {Path(out_dir)}: it holds no last.pt "
                              "(start without --resume, or point at the folder that holds the interrupted run)")
    return path


def train(
    dataset: ChunkDataset,
    cfg: TrainConfig,
    out_dir: str | Path,
    resume: bool = False,
    init_from: str | Path | None = None,
    progress: bool = True,
    extra_meta: dict[str, Any] | None = None,
    stop_at: int | None = None,
) -> TrainResult:
    """Train on `dataset`; write `last.pt` (and `best.pt` by validation loss) under `out_dir`.

    resume: continue from `out_dir/last.pt` (weights, EMA, optimiser, step, RNG); NothingToResume if
    there is none.
    init_from: fine-tune from another checkpoint (weights + its normalisation and layout).
    stop_at: leave the loop after this step (saving last.pt), as a preempted job would.
    """
    out_dir = Path(out_dir)
    if resume:
        resume_checkpoint(out_dir)
    device = pdist.device_for(pdist.DistInfo(), cfg.device)
    dinfo = pdist.init_distributed(device)
    device = pdist.device_for(dinfo, cfg.device)
    if cfg.num_threads > 0:
        torch.set_num_threads(cfg.num_threads)
    torch.manual_seed(cfg.seed + 1000 * dinfo.rank)

    keep = dataset.weights > 0
    if not keep.any():
        raise ValueError("training set is empty: no samples with a positive weight")
    dataset = dataset.subset(np.flatnonzero(keep)) if not keep.all() else dataset
    mcfg = copy.deepcopy(cfg.model)
    mcfg.horizon, mcfg.action_dim = dataset.horizon, dataset.action_dim
    to = mcfg.obs_horizon
    shapes = _step_shapes(dataset, to)

    resume_ck = init_ck = None
    if resume:
        resume_ck = load_checkpoint(resume_checkpoint(out_dir))
    elif init_from is not None:
        init_ck = load_checkpoint(init_from)
    base_ck = resume_ck or init_ck
    if base_ck is not None:
        layout = ObsLayout.from_dict(base_ck["layout"])
        check_layout(layout, shapes, f"dataset vs checkpoint '{init_from or out_dir / 'last.pt'}'")
        norm = Normalizer.from_dict(base_ck["normalizer"])
        old = saved_model_config(base_ck)
        if (old.horizon, old.action_dim) != (mcfg.horizon, mcfg.action_dim):
            raise ValueError(
                f"dataset chunks are H={mcfg.horizon}, A={mcfg.action_dim} but the checkpoint has "
                f"H={old.horizon}, A={old.action_dim}"
            )
        mcfg = old
    else:
        layout = ObsLayout.infer(shapes, tuple(cfg.lowdim_keys) if cfg.lowdim_keys else None, cfg.use_images,
                                 tuple(cfg.image_keys) if cfg.image_keys is not None else None)

    train_ds, val_ds = dataset.split(cfg.val_fraction, cfg.seed)
    if base_ck is None:
        low = flatten_lowdim(train_ds.obs, layout, batch_dims=1 if to == 1 else 2).reshape(-1, layout.lowdim_dim)
        norm = Normalizer.fit(low, _training_actions(train_ds, mcfg.relative_to), train_ds.pad_mask, cfg.snap_discrete_actions)
    if mcfg.relative_to and mcfg.relative_to not in layout.lowdim_keys:
        raise ValueError(f"relative_to={mcfg.relative_to!r} must be one of the policy's observation keys {layout.lowdim_keys}")
    tr = _Tensors(train_ds, layout, norm, to, cfg.pad_loss_weight, device, mcfg.relative_to)
    va = _Tensors(val_ds, layout, norm, to, cfg.pad_loss_weight, device, mcfg.relative_to) if val_ds is not None else None

    model = ChunkModel(mcfg, layout.lowdim_dim, layout.image_keys).to(device)
    if base_ck is not None:
        model.load_state_dict(base_ck["state_dict"])
    elif layout.image_keys:
        model.encoder.fit_image_statistics(tr.images)
    ema = copy.deepcopy(model).eval()
    if base_ck is not None:
        ema.load_state_dict(base_ck["ema_state_dict"])
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    start, history, best = 0, [], math.inf
    gen = torch.Generator().manual_seed(cfg.seed * 7919 + dinfo.rank)
    if resume_ck is not None:
        opt.load_state_dict(resume_ck["optimizer"])
        start, history = int(resume_ck["step"]), list(resume_ck.get("history", []))
        best = float(resume_ck.get("best_val", math.inf))
        if dinfo.rank == 0:
            gen.set_state(resume_ck["rng"])
            torch.set_rng_state(resume_ck["torch_rng"])
    net = DistributedDataParallel(model) if dinfo.enabled else model
    # bfloat16 autocast on a GPU (no loss scaling needed with bfloat16); written for a GPU, not yet measured on one
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=cfg.mixed_precision and device.type == "cuda")

    meta = {"train_config": cfg.to_dict(), "control_period": cfg.control_period, **(extra_meta or {})}

    def checkpoint(step: int, name: str, val: float | None) -> Path:
        payload = {
            "model_config": dataclasses.asdict(mcfg), "layout": layout.to_dict(), "normalizer": norm.to_dict(),
            "state_dict": model.state_dict(), "ema_state_dict": ema.state_dict(), "optimizer": opt.state_dict(),
            "step": step, "history": history, "best_val": best, "val_loss": val, "rng": gen.get_state(),
            "torch_rng": torch.get_rng_state(),
            "checkpoint_id": f"{out_dir.parent.name or 'run'}-{mcfg.head}-step{step}", **meta,
        }
        return save_checkpoint(out_dir / name, payload)

    log = None
    if dinfo.is_main:
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "train_config.json").write_text(json.dumps(cfg.to_dict(), indent=2))
        log = LossLog(out_dir, resume_from=start if resume_ck is not None else None)
    end = cfg.steps if stop_at is None else min(cfg.steps, stop_at)
    bar = tqdm(range(start, end), initial=start, total=cfg.steps, disable=not (progress and dinfo.is_main),
               desc=f"train {mcfg.head}/{mcfg.net.velocity_net}", unit="step")
    loss_ema, val, t0, seen = float("nan"), None, time.perf_counter(), 0
    window = {"loss": 0.0, "steps": 0, "t": t0}  # since the last row of the loss log
    model.train()
    # Under torchrun every process would stop at its own step and hang the others: Ctrl-C and SIGTERM stay as they were.
    with interrupt_latch(enabled=not dinfo.enabled) as interrupt:
        try:
            for step in bar:
                lr = _lr(cfg, step)
                for group in opt.param_groups:
                    group["lr"] = lr
                idx = torch.randint(0, tr.n, (cfg.batch_size,), generator=gen).to(device)
                low, imgs, act, mask, w = tr.batch(idx)
                imgs = {k: random_shift(v, mcfg.net.image_shift, gen) for k, v in imgs.items()}
                with autocast:
                    per = net(low, imgs, act, mask)
                loss = (per * w).sum() / w.sum().clamp(min=1e-9)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                if cfg.grad_clip > 0:
                    torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
                opt.step()
                _ema_update(ema, model, min(cfg.ema_decay, (1 + step) / (10 + step)))
                seen += cfg.batch_size * dinfo.world_size
                lv = float(loss.detach())
                loss_ema = lv if math.isnan(loss_ema) else 0.98 * loss_ema + 0.02 * lv
                window["loss"] += lv
                window["steps"] += 1
                done = step + 1
                validated = False
                if dinfo.is_main and (done % cfg.val_every == 0 or done == cfg.steps):
                    val = _validate(ema, va, 512, cfg.seed) if va is not None else None
                    validated = True
                    history.append({"step": done, "train_loss": loss_ema,
                                    **({"val_loss": val} if val is not None else {})})
                    bar.set_postfix(loss=f"{loss_ema:.4f}", val="-" if val is None else f"{val:.4f}")
                    if val is not None and val < best:
                        best = val
                        checkpoint(done, "best.pt", val)
                elif dinfo.is_main and done % 50 == 0:
                    bar.set_postfix(loss=f"{loss_ema:.4f}", val="-" if val is None else f"{val:.4f}")
                stopping = interrupt.fired or done == end
                if log is not None and (validated or stopping or done % cfg.log_every == 0):
                    now = time.perf_counter()
                    log.write(done, window["loss"] / window["steps"], val if validated else None, lr,
                              window["steps"] * cfg.batch_size * dinfo.world_size / max(now - window["t"], 1e-9),
                              now - t0)
                    window.update(loss=0.0, steps=0, t=now)
                if dinfo.is_main and (done % cfg.ckpt_every == 0 or stopping):
                    checkpoint(done, "last.pt", val)
                if interrupt.fired:
                    raise TrainingInterrupted(done, cfg.steps, out_dir / "last.pt")
        finally:
            bar.close()
            if log is not None:
                log.close()
    elapsed = max(time.perf_counter() - t0, 1e-9)
    pdist.barrier(dinfo)
    pdist.shutdown(dinfo)
    return TrainResult(out_dir / "last.pt", end, loss_ema, val, seen / elapsed, history, model, dinfo.rank,
                       dinfo.world_size, start if resume_ck is not None else None)
