"""Scripted-expert demonstrations straight from the task environment (no runtime, no recorder): the
quick way to get a clean behaviour-cloning dataset for measuring a policy alone
(`hgd-bench-multimodal`). The HG-DAgger loop records its demonstrations through the real runtime."""

from __future__ import annotations

import numpy as np
from tqdm import tqdm

from recorder.dataset import RecordedEpisode
from sim.registry import make_env, make_expert


def collect_demos(
    task: str, n: int, seed: int = 0, only_success: bool = True, progress: bool = True, action_noise: float = 0.0,
    noise_correlation: float = 0.0, plan_horizon: int = 0, balance_modes: tuple[float, ...] = (),
    cameras: tuple[str, ...] = (), image_size: tuple[int, int] = (64, 64),
) -> list[RecordedEpisode]:
    """`n` scripted-expert episodes (successful ones only, unless told otherwise) with seeds seed, seed+1, ...

    action_noise > 0: DART-style noise injection (Laskey et al., CoRL 2017, arXiv 1703.09327): the
    arm executes the expert's joint targets plus N(0, action_noise^2) rad, while the clean expert
    action is recorded as the label, so the data show how to recover from small deviations.
    noise_correlation rho in [0, 1): the noise is an AR(1) process n_t = rho n_{t-1} + sqrt(1-rho^2) e_t
    (same marginal std).
    plan_horizon H > 0: label every step with the expert's clean H-step plan from that state
    (`CartesianExpert.plan`) instead of the actions recorded after it. Under noise, those later
    actions answer states the noise caused, so chunks cut from them carry a random walk that a
    generative policy faithfully reproduces as jitter (measured on detour: flow 0.77 with recorded
    chunks); the plan is what the expert would do from here, which is what a chunk should say.
    balance_modes: the modes of an expert that picks one per episode (`DetourExpert.modes`); keep a
    demonstration only while its mode is not ahead of the others, so the data hold the modes in equal shares, as
    an operator asked to show both would. (Unbalanced data give an averaging policy a majority to
    follow, which hides the averaging.)
    cameras: also render these cameras at `image_size` into every step (<camera>_rgb, uint8).
    """
    env = make_env(task, cameras=cameras, image_size=image_size) if cameras else make_env(task)
    expert = make_expert(task)
    noise_rng = np.random.default_rng(seed + 7)
    out: list[RecordedEpisode] = []
    modes = {float(m): 0 for m in balance_modes}
    s = seed
    bar = tqdm(total=n, desc=f"demos {task}", disable=not progress)
    while len(out) < n:
        obs, _ = env.reset(seed=s)
        expert.reset(seed=s)
        frames, acts, info = [], [], {}
        drift = np.zeros(7)
        for _ in range(env.max_steps):
            # the label is what the environment runs: inside its action box (an expert may overshoot it)
            a = np.clip(np.asarray(expert.act(obs), np.float64), env.action_space.low, env.action_space.high).astype(np.float32)
            frames.append(obs)
            acts.append(a)
            executed = a.copy()
            if action_noise > 0:
                rho = noise_correlation
                drift = rho * drift + np.sqrt(1 - rho**2) * noise_rng.normal(0.0, action_noise, size=len(a) - 1)
                executed[:-1] += drift
            obs, _, term, trunc, info = env.step(executed)
            if term or trunc:
                break
        ok = bool(info.get("is_success", False))
        mode = float(getattr(expert, "side", 0.0))
        wanted = not modes or modes.get(mode, -1) == min(modes.values())
        if wanted and (ok or not only_success):
            stacked = {k: _stack(f[k] for f in frames) for k in frames[0]}
            attrs = {"kind": "demo", "success": ok, "failure": info.get("failure", ""), "seed": s,
                     "mode": mode}  # mode: the expert's choice (detour: side)
            if modes:
                modes[mode] += 1
            # Plans only for kept episodes (they cost H expert steps each); the expert still holds
            # this episode's choice of mode.
            plans = np.stack([expert.plan(f, plan_horizon) for f in frames]).astype(np.float32) if plan_horizon > 0 else None
            out.append(RecordedEpisode(f"sim:{task}", f"demo_{len(out)}", stacked, np.stack(acts), attrs=attrs,
                                       planned=plans))
            bar.update(1)
        s += 1
        if s - seed > 5 * n + 20:
            raise RuntimeError(f"the {task} expert failed too often ({len(out)} successes in {s - seed} episodes)")
    bar.close()
    env.close()
    return out


def _stack(values) -> np.ndarray:
    """One key's steps as an array: camera frames stay uint8 (a quarter of float32's memory), the rest float32."""
    a = np.stack(list(values))
    return a if a.dtype == np.uint8 else a.astype(np.float32)
