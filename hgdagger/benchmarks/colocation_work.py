"""The two torch workloads hgd-bench-colocation times, each in a fresh process of its own so that its
thread pools start as the environment says (torch reads OMP_NUM_THREADS when it loads):

- ``chunk``: the default state policy (MLP velocity network, H = 16, the default Euler steps, the loop's
  relative joint targets, reach's observation) at batch 1, as hgd-serve calls it;
- ``train``: training steps of the same model at batch 256 (forward, backward, clipping, AdamW).

With ``"realtime": true`` the timing thread first asks for SCHED_FIFO, as hgd-serve's serving thread does.

    python -m hgdagger.benchmarks.colocation_work '{"work": "chunk", "n": 200}'   # prints one JSON line
"""

from __future__ import annotations

import json
import os
import sys
import time

import numpy as np

# reach's observation: what the default loop serves and trains on
OBS_SHAPES = {"ee_pos": (3,), "ee_quat": (4,), "gripper_pos": (1,), "joint_pos": (7,), "joint_vel": (7,),
              "target_pos": (3,)}


def default_policy():
    """An untrained policy of the default shape (the timing does not depend on the weights)."""
    import torch

    from policy_server.model import ChunkModel, ModelConfig
    from policy_server.normalization import Normalizer, ObsLayout
    from policy_server.policy import FlowPolicy

    layout = ObsLayout(tuple(sorted(OBS_SHAPES)), (), dict(OBS_SHAPES))
    cfg = ModelConfig(relative_to="joint_pos")
    torch.manual_seed(0)
    model = ChunkModel(cfg, layout.lowdim_dim)
    dim = layout.lowdim_dim
    norm = Normalizer(np.zeros(dim, np.float32), np.ones(dim, np.float32), np.zeros(cfg.action_dim, np.float32),
                      np.ones(cfg.action_dim, np.float32))
    return FlowPolicy(model, norm, layout, device="cpu")


def chunk_ms(n: int, warmup: int = 20, realtime: bool = False) -> list[float]:
    """Milliseconds of ``n`` batch-1 chunks of the default policy; ``realtime``: from a thread that asked
    for SCHED_FIFO as hgd-serve's serving thread does."""
    from hgdagger.common.realtime import SERVER_PRIORITY, try_realtime

    policy = default_policy()
    if realtime:
        try_realtime(SERVER_PRIORITY, reset_on_fork=True)
    rng = np.random.default_rng(0)
    obs = {k: rng.uniform(-1, 1, (1, *s)).astype(np.float32) for k, s in OBS_SHAPES.items()}
    for _ in range(warmup):
        policy.predict_chunks(obs)
    out = []
    for _ in range(n):
        t = time.perf_counter()
        policy.predict_chunks(obs)
        out.append((time.perf_counter() - t) * 1e3)
    return out


def train_step_ms(n: int, batch: int = 256, warmup: int = 3, realtime: bool = False) -> list[float]:
    """Milliseconds of ``n`` training steps of the default model at ``batch``."""
    import torch

    from policy_server.model import ChunkModel, ModelConfig

    torch.manual_seed(0)
    cfg = ModelConfig()
    dim = sum(int(np.prod(s)) for s in OBS_SHAPES.values())
    model = ChunkModel(cfg, dim).train()
    opt = torch.optim.AdamW(model.parameters(), lr=3e-4, weight_decay=1e-4)
    low = torch.randn(batch, 1, dim)
    actions = torch.randn(batch, cfg.horizon, cfg.action_dim)
    mask = torch.ones(batch, cfg.horizon)
    out = []
    for i in range(warmup + n):
        t = time.perf_counter()
        loss = model(low, {}, actions, mask).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if i >= warmup:
            out.append((time.perf_counter() - t) * 1e3)
    return out


WORK = {"chunk": chunk_ms, "train": train_step_ms}


def main() -> None:
    import torch

    spec = json.loads(sys.argv[1])
    ms = WORK[spec["work"]](int(spec["n"]), realtime=bool(spec.get("realtime")))
    policy = os.sched_getscheduler(0) & ~getattr(os, "SCHED_RESET_ON_FORK", 0) if hasattr(os, "sched_getscheduler") else 0
    print(json.dumps({"ms": ms, "threads": torch.get_num_threads(),
                      "realtime": policy == getattr(os, "SCHED_FIFO", -1)}), flush=True)


if __name__ == "__main__":
    main()
