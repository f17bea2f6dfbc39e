"""hgd-collect: collect demonstrations by teleoperation (no policy), every step recorded."""

from __future__ import annotations

import argparse
import logging
import sys

from hgdagger.cli.arguments import (
    add_intent_security, add_log_level, endpoint, fail, intent_security, positive_int, reports_missing_extras,
)
from hgdagger.cli.operator_session import run_session, session_plan
from hgdagger.cli.robot_options import RobotOpenError, add_robot_arguments, cartesian_model, open_robot
from hgdagger.cli.session_recording import RecordingError, add_record_arguments, next_round_folder, open_recording


@reports_missing_extras
def main(argv: list[str] | None = None) -> int:
    from teleop.operator_setup import DEFAULT_INTENT_ENDPOINT

    p = argparse.ArgumentParser(
        prog="hgd-collect",
        description="Demonstration collection: you drive the arm with a gamepad, the keyboard or a leader arm "
        "(start them with hgd-device in another terminal) and label each attempt. Every step is recorded "
        "(this command starts its own recorder unless told --record-to or --no-record). No policy server is "
        "needed. If your device goes quiet (unplugged, crashed), the arm holds and the console says so; it "
        "continues when the device is back, and held time does not count against the episode's limit.",
        epilog="Per episode: press n (gamepad: X) to start, drive, then press success (enter / Start), failure "
        "(b / Back) or discard (x / B: the attempt is kept aside, never trained on, and redone on the same "
        "scene). An episode also ends when the task's check passes (sim) or its time is up; you are then "
        "asked for the label. Examples:\n"
        "  hgd-device keyboard                            # in another terminal (or: hgd-device gamepad)\n"
        "  hgd-collect --robot pick_place --episodes 30 --console\n"
        "      # records into runs/pick_place/round_0/data; hgd-inspect runs/pick_place shows what you have\n"
        "  hgd-collect --robot pick_place --episodes 10 --max-steps 2400 --out runs/lab/round_0/data\n"
        "On a real arm (its cameras, kinematics and leader arm come from the robot config):\n"
        "  hgd-leader --robot koch &                      # the leader arm as a device\n"
        "  hgd-collect --robot koch --port /dev/ttyUSB0 --episodes 30 --console",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    add_robot_arguments(p)
    p.add_argument("--episodes", type=positive_int, default=10, help="labelled episodes to collect (discarded ones are redone; default: 10)")
    p.add_argument("--max-steps", type=positive_int, default=None,
                   help="step limit per episode, replacing the task's own (at 20 Hz 1200 steps = 1 minute; default: a sim "
                   "task's own limit, a real arm 60 s)")
    p.add_argument("--seed", type=int, default=0, help="scene of the first episode; episode k uses seed + k - 1 (default: 0)")
    p.add_argument("--intent-endpoint", type=endpoint, default=DEFAULT_INTENT_ENDPOINT,
                   help=f"where devices send intent (default: {DEFAULT_INTENT_ENDPOINT})")
    add_intent_security(p)
    add_record_arguments(p, "runs/<robot>/round_0/data")
    p.add_argument("--operator", default="", help="your name, stored with every episode")
    p.add_argument("--console", action="store_true", help="open the operator console window")
    add_log_level(p)
    args = p.parse_args(argv)
    security, problem = intent_security(args)
    if problem:
        return fail(problem)
    logging.basicConfig(level=args.log_level.upper())

    from teleop.runtime import RobotRuntime, RuntimeConfig
    from teleop.operator_setup import ConsoleThread, HumanOptions, device_human_side

    try:
        robot, driver = open_robot(args, seed=args.seed, sim_arm_cameras=("front", "wrist"))
        arm_model = cartesian_model(robot)
    except RobotOpenError as exc:
        return fail(str(exc))
    try:
        recording = open_recording(args, next_round_folder(robot.name, "demo"), driver.spec.joint_names)
    except RecordingError as exc:
        driver.close()
        return fail(str(exc))
    task = robot.task or robot.name
    try:
        human, merger = device_human_side(HumanOptions(intent_endpoint=args.intent_endpoint, **security, start_in_human=True),
                                          driver.spec.control_period, arm_model)
    except Exception as exc:  # zmq address in use, bad endpoint
        driver.close()
        recording.close()
        return fail(f"cannot listen for devices on {args.intent_endpoint}: {exc}")
    rt = RobotRuntime(driver, None, RuntimeConfig(), recording.records, human=human,
                      gil_sharers=[recording.forwarder, recording.rerun, getattr(driver, "cameras", None)])
    recording.watch(rt)
    rt.start()
    console = ConsoleThread(rt) if args.console else None
    plan = session_plan(args, robot, driver, "demo")
    max_steps = plan.max_steps
    print(f"hgd-collect: {robot.name} ({task}), {recording.where}; {max_steps} steps "
          f"({max_steps * driver.spec.control_period:.0f} s) per episode; devices connect to {args.intent_endpoint} "
          + ("(hgd-device keyboard|gamepad, or hgd-leader)" if arm_model is not None else
             f"(hgd-leader: {robot.name} has no kinematic model, so a gamepad or keyboard cannot drive it)"), flush=True)
    results: list = []
    try:
        run_session(rt, driver, plan, recording, say=lambda line: print(line, flush=True), on_episode=results.append,
                    echo_warnings=console is None)
    except KeyboardInterrupt:
        print("interrupted: the episode in progress is kept as 'aborted'; every finished one is saved")
    finally:
        if console:
            console.stop()
        rt.close()
        merger.close()
        note = recording.close()
        driver.close()
    kept = [r for r in results if r.report.label != "discard"]
    saved = sum(r.saved for r in kept)
    print(f"hgd-collect: {_count(len(kept), 'episode')} ({sum(r.report.label == 'success' for r in kept)} successful), "
          f"{saved} saved" + (f" in {recording.folder}" if recording.folder else "")
          + f"; {_count(len(results) - len(kept), 'discarded attempt')} kept aside" + (f"; {note}" if note else ""))
    return 0 if all(r.saved for r in results) or args.no_record else 1


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


if __name__ == "__main__":
    sys.exit(main())
