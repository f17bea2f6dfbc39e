"""hgd-bench-sim: how fast the sim runs and renders, and how good its experts are.

Prints tables and writes JSON (default benchmarks/results/sim.json). Timings are medians over
repeats with the 10th-90th percentile spread; success rates carry 95% Wilson intervals.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np


def physics_steps_per_second(env, repeats: int, steps: int) -> list[float]:
    """Raw mj_step rate of a task's model: the ceiling the wrapper is compared against."""
    import mujoco

    rates = []
    for _ in range(repeats):
        env.reset(seed=0)
        start = time.perf_counter()
        mujoco.mj_step(env.model, env.data, nstep=steps)
        rates.append(steps / (time.perf_counter() - start))
    return rates


def record_expert_actions(env, expert, seed: int, steps: int) -> list[np.ndarray]:
    obs, _ = env.reset(seed=seed)
    expert.reset(seed)
    actions = []
    for _ in range(steps):
        action = expert.act(obs)
        actions.append(action)
        obs, _, terminated, truncated, _ = env.step(action)
        if terminated or truncated:
            obs, _ = env.reset(seed=seed)
    return actions


def control_steps_per_second(env, actions, repeats: int) -> list[float]:
    """env.step rate replaying recorded expert actions (state only, expert time excluded)."""
    rates = []
    for _ in range(repeats):
        env.reset(seed=0)
        start = time.perf_counter()
        for action in actions:
            _, _, terminated, truncated, _ = env.step(action)
            if terminated or truncated:
                env.reset(seed=0)
        rates.append(len(actions) / (time.perf_counter() - start))
    return rates


def expert_call_seconds(expert, env, calls: int) -> list[float]:
    obs, _ = env.reset(seed=0)
    expert.reset(0)
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        action = expert.act(obs)
        times.append(time.perf_counter() - start)
        obs, _, terminated, truncated, _ = env.step(action)
        if terminated or truncated:
            obs, _ = env.reset(seed=0)
    return times


def render_fps(env, camera: str, size: tuple[int, int], frames: int, repeats: int) -> list[float]:
    env.reset(seed=0)
    env.render_camera(camera, *size)  # context creation is not a frame
    rates = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(frames):
            env.render_camera(camera, *size)
        rates.append(frames / (time.perf_counter() - start))
    return rates


def expert_success(task: str, episodes: int, noise: float, progress) -> dict:
    import sim
    from sim.experts.base import NoisyExpert

    env = sim.make_env(task)
    expert = sim.make_expert(task, control_hz=env.control_hz)
    if noise > 0:
        expert = NoisyExpert(expert, noise)
    successes, lengths, failures = 0, [], {}
    for seed in range(episodes):
        obs, _ = env.reset(seed=seed)
        expert.reset(seed)
        while True:
            obs, _, terminated, truncated, info = env.step(expert.act(obs))
            if terminated or truncated:
                break
        successes += bool(info["is_success"])
        lengths.append(env.step_count)
        if not info["is_success"]:
            reason = info["failure"] or "step limit"
            failures[reason] = failures.get(reason, 0) + 1
        progress.update(1)
    from hgdagger.common.stats import spread, wilson_interval

    return {"successes": successes, "episodes": episodes, "rate": successes / episodes,
            "ci95": wilson_interval(successes, episodes), "length": spread(lengths), "failures": failures}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="hgd-bench-sim", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--episodes", type=int, default=100, help="seeded episodes per expert measurement (default 100)")
    parser.add_argument("--noise", type=float, default=0.02, help="joint-target noise std-dev (rad) for the noisy-expert run (default 0.02)")
    parser.add_argument("--repeats", type=int, default=7, help="timing repeats (default 7)")
    parser.add_argument("--tasks", default="reach,pick_place,detour,pick_place_two", help="tasks, comma-separated (default: %(default)s)")
    parser.add_argument("--json", default="benchmarks/results/sim.json", help="where to write the results")
    parser.add_argument("--sections", default="speed,render,experts", help="which parts to run (comma-separated)")
    args = parser.parse_args(argv)

    import sim
    from tqdm import tqdm

    from hgdagger.common.stats import print_table, spread

    tasks = [t.strip() for t in args.tasks.split(",") if t.strip()]
    unknown = [t for t in tasks if t not in sim.task_names()]
    if unknown:
        print(f"hgd-bench-sim: error: unknown tasks {unknown}; known: {sim.task_names()}", file=sys.stderr)
        return 2
    results: dict = {"machine": {"platform": platform.platform(), "processor": platform.processor(),
                                 "python": platform.python_version()}, "speed": {}, "render": {}, "experts": {}}

    sections = set(args.sections.split(","))
    print("== Simulation speed (state only) ==")
    rows = []
    for task in (tasks if "speed" in sections else []):
        env = sim.make_env(task)
        expert = sim.make_expert(task, control_hz=env.control_hz)
        physics = spread(physics_steps_per_second(env, args.repeats, 5000))
        actions = record_expert_actions(env, expert, seed=0, steps=400)
        control = spread(control_steps_per_second(env, actions, args.repeats))
        expert_us = spread(np.array(expert_call_seconds(expert, env, 300)) * 1e6)
        realtime = control["median"] / env.control_hz
        with_expert = 1.0 / (1.0 / control["median"] + expert_us["median"] * 1e-6)
        results["speed"][task] = {"physics_steps_per_s": physics, "control_steps_per_s": control,
                                  "substeps": env.substeps, "control_hz": env.control_hz,
                                  "realtime_factor": realtime, "expert_call_us": expert_us,
                                  "control_steps_per_s_with_expert": with_expert}
        rows.append([task, f"{physics['median']:,.0f}", f"{control['median']:,.0f} [{control['p10']:,.0f}-{control['p90']:,.0f}]",
                     f"{realtime:.0f}x", f"{expert_us['median']:.0f}", f"{with_expert:,.0f}"])
        env.close()
    print_table(["task", "physics steps/s", f"control steps/s (median [p10-p90])", "x real time",
                 "expert us/call", "steps/s with expert"], rows)

    print("\n== Rendering (front camera, EGL) ==")
    env = sim.make_env("pick_place")
    rows = []
    for size in ([(128, 128), (480, 640)] if "render" in sections else []):
        for camera in ("front", "wrist"):
            fps = spread(render_fps(env, camera, size, frames=30, repeats=args.repeats))
            results["render"][f"{camera}_{size[0]}x{size[1]}"] = fps
            rows.append([camera, f"{size[0]}x{size[1]}", f"{fps['median']:.0f} [{fps['p10']:.0f}-{fps['p90']:.0f}]"])
    env.close()
    print_table(["camera", "size", "frames/s (median [p10-p90])"], rows)

    print(f"\n== Expert success over {args.episodes} seeded episodes ==")
    rows = []
    if "experts" not in sections:
        tasks = []
    total = len(tasks) * 2 * args.episodes
    with tqdm(total=total, desc="expert episodes", file=sys.stderr) as progress:
        for task in tasks:
            clean = expert_success(task, args.episodes, 0.0, progress)
            noisy = expert_success(task, args.episodes, args.noise, progress)
            results["experts"][task] = {"clean": clean, "noisy": noisy, "noise_rad": args.noise}
            for label, r in (("clean", clean), (f"noise {args.noise} rad", noisy)):
                rows.append([task, label, f"{r['rate']:.2f}", f"[{r['ci95'][0]:.2f}, {r['ci95'][1]:.2f}]",
                             f"{r['length']['median']:.0f}", ", ".join(f"{k}: {v}" for k, v in r["failures"].items()) or "-"])
    print_table(["task", "expert", "success", "95% CI", "median steps", "failures"], rows)

    path = Path(args.json)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2))
    print(f"\nwrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
