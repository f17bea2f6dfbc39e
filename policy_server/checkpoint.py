"""Checkpoints: one file, a dict of tensors and plain Python values, loadable with weights_only=True.

Contents: model and EMA weights, optimiser state (for resume), the model and training configs as
plain dicts, the observation layout, the normalisation statistics, the step, what data it was
trained on, and an id. Nothing in it needs unpickling arbitrary classes, so a checkpoint from an
untrusted place cannot run code when loaded.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import tempfile
from pathlib import Path
from typing import Any

import torch

from policy_server.model import ModelConfig
from policy_server.networks import NetConfig

FORMAT = "hgd-policy-checkpoint"
VERSION = 1
REQUIRED = ("format", "version", "model_config", "layout", "normalizer", "state_dict", "ema_state_dict")


class CheckpointError(ValueError):
    """A checkpoint file that cannot be used, with a message naming the file."""


def file_hash(path: str | Path) -> str:
    """sha256 of the file's bytes (first 16 hex digits): the checkpoint's content hash."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:16]


def save_checkpoint(path: str | Path, payload: dict[str, Any]) -> Path:
    """Write atomically (temp file + rename), so a crash never leaves a half-written checkpoint."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {"format": FORMAT, "version": VERSION, **payload}
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    os.close(fd)
    try:
        torch.save(payload, tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load and validate a checkpoint dict with weights_only=True; CheckpointError on any problem."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint '{path}': no such file")
    try:
        ck = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:  # truncated zip, not a torch file, disallowed pickle content
        raise CheckpointError(f"checkpoint '{path}': cannot be read ({type(e).__name__}: {e})") from None
    if not isinstance(ck, dict) or ck.get("format") != FORMAT:
        raise CheckpointError(f"checkpoint '{path}': not an hgd policy checkpoint")
    missing = [k for k in REQUIRED if k not in ck]
    if missing:
        raise CheckpointError(f"checkpoint '{path}': missing entries {missing}")
    if ck["version"] > VERSION:
        raise CheckpointError(f"checkpoint '{path}': version {ck['version']} is newer than this code ({VERSION})")
    return ck


LEGACY_FLOW_STEPS = 10  # every checkpoint written before ModelConfig.flow_steps' default became 5 says so itself
LEGACY_EXPANSION = 2  # the residual blocks' inner width, for checkpoints written before NetConfig.expansion


def model_config_from_dict(d: dict[str, Any]) -> ModelConfig:
    """Rebuild a ModelConfig, ignoring unknown keys (older/newer files stay loadable)."""
    net_fields = {f.name for f in dataclasses.fields(NetConfig)}
    net = NetConfig(**{k: v for k, v in d.get("net", {}).items() if k in net_fields})
    top = {f.name for f in dataclasses.fields(ModelConfig)} - {"net"}
    return ModelConfig(net=net, **{k: v for k, v in d.items() if k in top})


def saved_model_config(ck: dict[str, Any]) -> ModelConfig:
    """The ModelConfig a loaded checkpoint was trained and samples with (one that does not say how
    many Euler steps predates the setting: it samples with 10, as it always did; nor its blocks'
    expansion: 2, as they always were)."""
    saved = ck["model_config"]
    net = {"expansion": LEGACY_EXPANSION} | (saved.get("net") or {})
    return model_config_from_dict({"flow_steps": LEGACY_FLOW_STEPS} | saved | {"net": net})


def load_policy(path: str | Path, device: str = "auto", observation_shapes: dict | None = None, compile: bool = False):
    """The serving entry point: a `FlowPolicy` (a ChunkPolicy) from a checkpoint file; device 'auto' = cuda if any."""
    from policy_server.policy import FlowPolicy  # late import: policy.py imports this module

    return FlowPolicy.load(path, observation_shapes, device=None if device == "auto" else device, compile=compile)
