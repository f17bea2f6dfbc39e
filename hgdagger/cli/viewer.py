"""hgd-viewer: open a task in MuJoCo's interactive viewer, optionally driven by its expert."""

from __future__ import annotations

import argparse
import os
import sys
import time

from hgdagger.cli.arguments import fail, reports_missing_extras


def has_display() -> bool:
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


@reports_missing_extras
def main(argv: list[str] | None = None) -> int:
    from sim import task_names

    parser = argparse.ArgumentParser(
        prog="hgd-viewer",
        description="Open a task in MuJoCo's interactive viewer (needs a screen). With --expert the scripted "
        "expert drives the arm in real time, episode after episode; without it the arm holds its pose.",
        epilog="No screen? Use hgd-expert to render a video headless.",
    )
    parser.add_argument("--task", default="pick_place", help=f"one of: {', '.join(task_names())}")
    parser.add_argument("--seed", type=int, default=0, help="scene of the episode (default: 0)")
    parser.add_argument("--expert", action="store_true", help="let the scripted expert drive")
    args = parser.parse_args(argv)

    if not has_display():
        return fail("no display found (DISPLAY and WAYLAND_DISPLAY are unset): the interactive viewer needs a "
                    "screen. On a headless machine, render a video instead: hgd-expert --task "
                    f"{args.task} --out runs/expert")
    import mujoco.viewer

    from sim import make_env, make_expert
    from sim.registry import UnknownTaskError

    try:
        env = make_env(args.task)
    except UnknownTaskError as exc:
        return fail(str(exc))
    expert = make_expert(args.task, control_hz=env.control_hz)
    seed = args.seed
    obs, _ = env.reset(seed=seed)
    expert.reset(seed)
    period = 1.0 / env.control_hz
    with mujoco.viewer.launch_passive(env.model, env.data) as viewer:
        while viewer.is_running():
            start = time.monotonic()
            action = expert.act(obs) if args.expert else None
            if action is None:
                import numpy as np

                action = np.append(obs["joint_pos"], env.gripper_command)
            obs, _, terminated, truncated, _ = env.step(action)
            if terminated or truncated:
                seed += 1
                obs, _ = env.reset(seed=seed)
                expert.reset(seed)
            viewer.sync()
            time.sleep(max(0.0, period - (time.monotonic() - start)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
