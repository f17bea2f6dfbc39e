"""hgd-expert: run a task's scripted expert headless and write a video and a PNG strip to look at."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from hgdagger.cli.arguments import (
    fail, nonnegative_float, parse_size, positive_int, reports_missing_extras, writable_folder,
)


def build_parser() -> argparse.ArgumentParser:
    from sim import task_names

    parser = argparse.ArgumentParser(
        prog="hgd-expert",
        description="Run a task's closed-loop scripted expert in the MuJoCo sim, headless, and write what the "
        "front camera saw: an MP4 per episode and one PNG strip of frames from every episode.",
        epilog="Example: hgd-expert --task detour --episodes 4 --out runs/expert_detour",
    )
    parser.add_argument("--task", default="pick_place", help=f"one of: {', '.join(task_names())} (default: pick_place)")
    parser.add_argument("--episodes", type=positive_int, default=1, help="episodes to run (default: 1)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the first episode; episode i uses seed+i (default: 0)")
    parser.add_argument("--noise", type=nonnegative_float, default=0.0, help="std-dev (rad) of Gaussian noise added to the expert's joint targets")
    parser.add_argument("--size", default="480x640", help="video frame size HEIGHTxWIDTH, at most 480x640 (default: 480x640)")
    parser.add_argument("--camera", default="front", choices=["front", "wrist"], help="camera to record (default: front)")
    parser.add_argument("--strip-frames", type=positive_int, default=6, help="frames per episode in the PNG strip (default: 6)")
    parser.add_argument("--out", default="runs/expert", help="output folder (default: runs/expert)")
    return parser


def run_episode(env, expert, seed: int, camera: str, size: tuple[int, int]) -> tuple[list[np.ndarray], dict]:
    obs, info = env.reset(seed=seed)
    expert.reset(seed)
    frames = [env.render_camera(camera, *size)]
    while True:
        obs, _, terminated, truncated, info = env.step(expert.act(obs))
        frames.append(env.render_camera(camera, *size))
        if terminated or truncated:
            return frames, info


def write_video(path: Path, frames: list[np.ndarray], fps: float) -> None:
    import cv2

    height, width = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (width, height))
    if not writer.isOpened():
        raise RuntimeError(f"OpenCV could not open a video writer for {path}")
    for frame in frames:
        writer.write(frame[:, :, ::-1])
    writer.release()


def strip(frames: list[np.ndarray], count: int) -> np.ndarray:
    """``count`` frames evenly spaced from first to last, side by side."""
    picks = np.linspace(0, len(frames) - 1, num=max(1, count)).round().astype(int)
    return np.concatenate([frames[i] for i in picks], axis=1)


@reports_missing_extras
def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from sim import make_env, make_expert
    from sim.experts.base import NoisyExpert
    from sim.registry import UnknownTaskError
    from sim.rendering import RenderError, select_gl_backend

    if args.seed < 0:
        return fail("--seed must be a non-negative integer")
    size = parse_size(args.size)
    if size is None or size[0] > 480 or size[1] > 640:
        return fail(f"--size must be HEIGHTxWIDTH with at most 480x640, got {args.size!r}")
    problem = writable_folder(args.out, "--out")
    if problem:
        return fail(problem)
    select_gl_backend()
    try:
        env = make_env(args.task)
        expert = make_expert(args.task, control_hz=env.control_hz)
    except UnknownTaskError as exc:
        return fail(str(exc))
    if args.noise > 0:
        expert = NoisyExpert(expert, args.noise)

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rows, strips = [], []
    try:
        for i in range(args.episodes):
            seed = args.seed + i
            frames, info = run_episode(env, expert, seed, args.camera, size)
            video = out / f"{args.task}_seed{seed}.mp4"
            write_video(video, frames, env.control_hz)
            strips.append(strip(frames, args.strip_frames))
            rows.append({"seed": seed, "success": bool(info["is_success"]), "steps": env.step_count,
                         "failure": info["failure"], "video": str(video)})
            status = "success" if info["is_success"] else f"failure ({info['failure'] or 'step limit'})"
            print(f"episode {i + 1}/{args.episodes}  seed {seed}  {status}  {env.step_count} steps  -> {video}", flush=True)
    except RenderError as exc:
        return fail(str(exc))
    finally:
        env.close()

    import cv2

    strip_path = out / f"{args.task}_strip.png"
    cv2.imwrite(str(strip_path), np.concatenate(strips, axis=0)[:, :, ::-1])
    (out / "summary.json").write_text(json.dumps({"task": args.task, "noise": args.noise, "episodes": rows}, indent=2))
    successes = sum(r["success"] for r in rows)
    print(f"\n{args.task}: {successes}/{len(rows)} episodes succeeded. PNG strip: {strip_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
