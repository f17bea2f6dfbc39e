"""Where one batch-1 chunk's time goes: the parts of `FlowPolicy.predict_chunks`, timed in turns, and
the torch operations under them, so that a change to the sampler can be aimed at what costs.

Parts: the observation in (checked, normalised), the encoder, binding the observation to the velocity
network (`conditioned`), one Euler step, all of them, and the whole chunk; what the whole has beyond
its parts is the glue (noise, the chunk back to physical units). Operations: torch's profiler over
the same chunks, self time per chunk by operation (the profiler adds its own cost to each call, so
read these as shares, and the parts' medians as the times).
"""

from __future__ import annotations

import time
from typing import Callable, Mapping

import numpy as np
import torch

from policy_server import flow
from policy_server.model import conditioned_velocity
from policy_server.policy import FlowPolicy


def _medians_in_turns(parts: Mapping[str, Callable[[], object]], calls: int, warmup: int = 50) -> dict[str, float]:
    """Median microseconds of each part, the parts taking turns call by call (a busy moment of the
    machine lands on all of them alike)."""
    times: dict[str, list[float]] = {name: [] for name in parts}
    for i in range(warmup + calls):
        for name, fn in parts.items():
            t = time.perf_counter()
            fn()
            if i >= warmup:
                times[name].append((time.perf_counter() - t) * 1e6)
    return {name: float(np.median(v)) for name, v in times.items()}


def chunk_parts(policy: FlowPolicy, observation: Mapping[str, np.ndarray], calls: int = 500) -> dict[str, float]:
    """Median microseconds of each part of one chunk for ``observation`` (a batch of one), plus "glue"."""
    model, steps = policy.model, policy.cfg.flow_steps
    with torch.inference_mode():  # (as predict_chunks samples)
        low, images = policy._inputs(observation)
        cond = model.encode(low, images)
        velocity = conditioned_velocity(model.velocity, cond)
        noise = torch.randn(1, policy.cfg.horizon, policy.cfg.action_dim, device=policy.device)
        t = torch.zeros(1, device=policy.device)
        parts = {
            "observation in": lambda: policy._inputs(observation),
            "encoder": lambda: model.encode(low, images),
            "bind the observation": lambda: conditioned_velocity(model.velocity, cond),
            "one Euler step": lambda: velocity(noise, t),
            f"{steps} Euler steps": lambda: flow.euler_integrate(velocity, noise, steps),
            "whole chunk": lambda: policy.predict_chunks(observation),
        }
        if policy.device.type == "cuda":  # (a GPU runs asynchronously: a part ends when the GPU is done)
            parts = {name: (lambda fn=fn: (fn(), torch.cuda.synchronize())) for name, fn in parts.items()}
        us = _medians_in_turns(parts, calls)
    inside = ("observation in", "encoder", "bind the observation", f"{steps} Euler steps")
    us["glue"] = us["whole chunk"] - sum(us[k] for k in inside)
    return us


def operations(policy: FlowPolicy, observation: Mapping[str, np.ndarray], calls: int = 200, top: int = 8
               ) -> list[dict[str, float | str]]:
    """The torch operations of a chunk by self time under the profiler: name, calls and µs per chunk."""
    from torch.profiler import ProfilerActivity, profile

    for _ in range(20):
        policy.predict_chunks(observation)
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(calls):
            policy.predict_chunks(observation)
    rows = [{"op": e.key, "calls": e.count / calls, "self_us": e.self_cpu_time_total / calls}
            for e in prof.key_averages()]
    return sorted(rows, key=lambda r: -r["self_us"])[:top]


def print_parts(us: Mapping[str, float], ops: list[dict]) -> None:
    whole = us["whole chunk"]
    print("\nwhere a batch-1 chunk's time goes (median µs, the parts timed in turns)")
    for name, value in us.items():
        print(f"  {name:22s} {value:8.1f}  {100 * value / whole:5.1f}%")
    print("  torch operations under the profiler (self µs per chunk, calls per chunk; the profiler's own cost "
          "included):")
    for r in ops:
        print(f"    {r['op']:26s} {r['self_us']:8.1f} {r['calls']:6.0f}")
