"""hgd-replay: look at a recorded episode (its camera frames, or its actions replayed in the sim)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from hgdagger.cli.arguments import fail, parse_size, positive_int, reports_missing_extras, writable_file
from hgdagger.cli.robot_options import RobotOpenError
from recorder.rerun_log import DEFAULT_VIEWER_URL


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="hgd-replay",
        description="Turn one recorded episode into a PNG strip and an MP4 a person can look at.\n\n"
        "--mode frames shows the camera frames the robot recorded; --mode sim steps the recorded actions\n"
        "open-loop through the simulated task (task and seed from the file's env_args) and reports how far\n"
        "the replayed joints drift from the recorded ones; --mode auto (default) uses frames when the\n"
        "episode has them.\n\n"
        "  hgd-replay runs/exp1/round_1/data/ep_0003.hdf5\n"
        "  hgd-replay runs/exp1/round_1/data/ep_0003.hdf5 --mode sim --camera wrist --out /tmp/look\n\n"
        "With --robot the recorded actions are played on a robot (through the runtime's safety filter), e.g. a\n"
        "demonstration on its twin or on the arm itself; it reports how far the arm strays from the recording:\n"
        "  hgd-replay runs/koch/round_0/data/ep_0000.hdf5 --robot koch_twin\n\n"
        "With --rerun the episode goes to the rerun viewer instead (pip install 'hgdagger-stack[viewer]'): its cameras,\n"
        "each joint's target against its position, who drove each step, the takeovers:\n"
        "  hgd-replay runs/exp1/round_1/data/ep_0003.hdf5 --rerun            # a viewer opens (with a display)\n"
        "  hgd-replay runs/exp1/round_1/data/ep_0003.hdf5 --rerun /tmp/ep3.rrd && rerun /tmp/ep3.rrd",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("file", type=Path, help="an episode file (ep_<n>.hdf5) or an exported file (with --demo)")
    p.add_argument("--demo", help="which demo_<i> of a multi-episode file (default: the first)")
    p.add_argument("--mode", choices=("auto", "frames", "sim"), default="auto",
                   help="frames: render the recorded camera frames; sim: replay the actions in the sim; auto: frames when recorded (default: auto)")
    p.add_argument("--robot", metavar="NAME_OR_PATH", default=None,
                   help="play the recorded actions on this robot instead (a twin, or a real arm: it moves!)")
    p.add_argument("--port", default=None, help="with --robot: a real arm's serial port, overriding its robot config")
    p.add_argument("--camera", default=None, help="camera to show (default: the first recorded / 'front' in sim)")
    p.add_argument("--size", default="240x320", help="render size in sim mode, HEIGHTxWIDTH (default 240x320)")
    p.add_argument("--strip-frames", type=positive_int, default=8, help="frames in the PNG strip (default 8)")
    p.add_argument("--no-video", action="store_true", help="write only the PNG strip")
    p.add_argument("--out", type=Path, default=None, help="output stem (default: next to the file, <file>_replay)")
    p.add_argument("--rerun", nargs="?", const="", default=None, metavar="FILE.rrd",
                   help="log the recorded episode to rerun instead of a PNG strip and MP4; FILE.rrd: save it there (open it "
                   "with `rerun FILE.rrd`); alone: open a viewer when there is a display, else save <file>_replay.rrd")
    p.add_argument("--rerun-connect", metavar="URL", default=None,
                   help=f"stream the episode to a rerun viewer already running (its default: {DEFAULT_VIEWER_URL})")
    return p


@reports_missing_extras
def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if not args.file.is_file():
        return fail(f"'{args.file}' is not a file")
    size = parse_size(args.size)
    if size is None:
        return fail(f"--size must be HEIGHTxWIDTH, got {args.size!r}")
    if args.out is not None and (problem := writable_file(args.out, "--out")):
        return fail(problem)
    if args.rerun is not None or args.rerun_connect:
        return _to_rerun(args)
    from recorder.replay import camera_keys, load_one, replay_frames, write_outputs

    try:
        ep, env_args = load_one(args.file, args.demo)
    except (OSError, KeyError, ValueError) as e:
        return fail(f"cannot read '{args.file}' as an episode file: {e}")
    mode = "robot" if args.robot else args.mode if args.mode != "auto" else ("frames" if camera_keys(ep) else "sim")
    try:
        if mode == "robot":
            rep = _replay_on_robot(args, ep, env_args)
        elif mode == "frames":
            rep = replay_frames(ep, args.camera)
        else:
            from sim.replay import replay_sim

            rep = replay_sim(ep, env_args, args.camera or "front", size)
    except (ValueError, RobotOpenError) as e:
        return fail(str(e))
    except Exception as e:  # unknown task, no GL backend: say what, not a traceback
        return fail(f"sim replay failed: {type(e).__name__}: {e}")
    stem = args.out or args.file.with_name(args.file.name.split(".")[0] + "_replay")
    written = write_outputs(rep, stem, args.strip_frames, video=not args.no_video) if rep.frames else []
    print(f"{mode}: {len(rep.frames)} frames at {rep.fps:.0f} Hz" + (f", task {rep.task} seed {rep.seed}" if rep.task else ""))
    if rep.max_joint_error is not None:
        print(f"largest joint difference replay vs recorded: {rep.max_joint_error:.4f} rad")
    for n in rep.notes:
        print(f"note: {n}")
    for w in written:
        print(f"wrote {w}")
    return 0


def _to_rerun(args) -> int:
    """The recording itself, as it is, in rerun: nothing is replayed."""
    import os

    from recorder.rerun_log import RerunMissing, RerunTarget, log_episode_file, viewer_problem

    if args.robot or args.mode == "sim":
        return fail("--rerun shows the recording itself: leave out --robot and --mode sim")
    save = Path(args.rerun) if args.rerun else None
    display = bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")) or sys.platform == "darwin"
    spawn = args.rerun == "" and not args.rerun_connect and display
    if args.rerun == "" and not spawn and not args.rerun_connect:
        save = args.file.with_name(args.file.name.split(".")[0] + "_replay.rrd")  # no display to open a viewer on
    if save is not None:
        if save.suffix != ".rrd":
            return fail(f"--rerun {save}: a rerun file must end in .rrd (the viewer knows it by that)")
        if problem := writable_file(save, "--rerun"):
            return fail(problem)
    if args.rerun_connect and (problem := viewer_problem(args.rerun_connect)):
        return fail(f"--rerun-connect: {problem}")
    try:
        ep, log = log_episode_file(args.file, RerunTarget(save=save, connect=args.rerun_connect, spawn=spawn), args.demo)
    except RerunMissing as e:
        return fail(str(e))
    except (OSError, KeyError, ValueError) as e:
        return fail(f"cannot read '{args.file}' as an episode file: {e}")
    cams = ", ".join(sorted(log.cameras)) or "none"
    print(f"rerun: {log.steps} steps of {args.file} ({ep.demo}, {ep.attrs.get('label') or 'unlabelled'}), cameras {cams}, "
          f"{len(log.labels)} joints, {log.takeovers} takeover{'' if log.takeovers == 1 else 's'}; sent to {log.target.describe()}")
    if log.problem:
        print(f"note: {log.problem}")
    if save is not None:
        print(f"wrote {save} (open it: rerun {save})")
    return 0


def _replay_on_robot(args, ep, env_args: dict):
    from hgdagger.cli.robot_options import open_robot
    from hgdagger.robots.replay import replay_on_robot

    args.cameras, args.image_size, args.no_cameras, args.hz = None, args.size, False, None
    seed = env_args.get("seed")
    robot, driver = open_robot(args, seed=seed)
    try:
        print(f"hgd-replay: {len(ep.actions)} recorded actions on {robot.name} at {driver.spec.control_hz:g} Hz")
        return replay_on_robot(ep, driver, seed, args.camera)
    finally:
        driver.close()


if __name__ == "__main__":
    sys.exit(main())
