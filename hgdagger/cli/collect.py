"""hgd-collect: collect demonstrations by teleoperation (no policy), every step recorded."""

from __future__ import annotations

import argparse
import json
import logging
import sys

from hgdagger.cli.arguments import (
    add_intent_security, add_record_arguments, endpoint, fail, intent_security, positive_int, record_forwarder,
    reports_missing_extras,
)
from hgdagger.cli.robot_options import RobotOpenError, add_robot_arguments, cartesian_model, open_robot


@reports_missing_extras
def main(argv: list[str] | None = None) -> int:
    from teleop.operator_setup import DEFAULT_INTENT_ENDPOINT

    p = argparse.ArgumentParser(
        prog="hgd-collect",
        description="Demonstration collection: you drive the arm with a gamepad, the keyboard or a leader arm "
        "(start them with hgd-device in another terminal), and label each attempt. Every step goes to the "
        "recorder. No policy server is needed. If your device goes quiet (unplugged, crashed), the arm holds "
        "and the console says so; it continues when the device is back.",
        epilog="Per episode: drive, then press success (enter / Start), failure (b / Back) or discard (x / B: the "
        "attempt is thrown away and redone). Example:\n"
        "  hgd-record --out runs/lab/round_0/data &      # the recorder\n"
        "  hgd-device keyboard &                          # or: hgd-device gamepad\n"
        "  hgd-collect --robot pick_place --episodes 30 --record-to tcp://127.0.0.1:5570\n"
        "On a real arm (its cameras, kinematics and leader arm come from the robot config):\n"
        "  hgd-leader --robot koch &                      # the leader arm as a device\n"
        "  hgd-collect --robot koch --port /dev/ttyUSB0 --episodes 30 --record-to tcp://127.0.0.1:5560",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    add_robot_arguments(p)
    p.add_argument("--episodes", type=positive_int, default=10, help="labelled episodes to collect (discarded ones are redone)")
    p.add_argument("--max-steps", type=positive_int, default=None,
                   help="step limit per episode (default: a sim task's own; a real arm: 60 s of steps)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--intent-endpoint", type=endpoint, default=DEFAULT_INTENT_ENDPOINT, help="where devices send intent")
    add_intent_security(p)
    add_record_arguments(p)
    p.add_argument("--operator", default="", help="your name, stored with every episode")
    p.add_argument("--console", action="store_true", help="open the operator console window")
    p.add_argument("--log-level", default="WARNING")
    args = p.parse_args(argv)
    security, problem = intent_security(args)
    if problem:
        return fail(problem)
    logging.basicConfig(level=args.log_level.upper())

    from hgdagger.common.record_queue import RecordQueue
    from hgdagger.robots.registry import episode_env_args
    from teleop.runtime import RobotRuntime, RuntimeConfig
    from teleop.operator_setup import ConsoleThread, HumanOptions, device_human_side

    try:
        robot, driver = open_robot(args, seed=args.seed, sim_arm_cameras=("front", "wrist"))
        arm_model = cartesian_model(robot)
    except RobotOpenError as exc:
        return fail(str(exc))
    task = robot.task or robot.name
    try:
        human, merger = device_human_side(HumanOptions(intent_endpoint=args.intent_endpoint, **security, start_in_human=True),
                                          driver.spec.control_period, arm_model)
    except Exception as exc:  # zmq address in use, bad endpoint
        driver.close()
        return fail(f"cannot listen for devices on {args.intent_endpoint}: {exc}")
    records = RecordQueue()
    try:
        forwarder = record_forwarder(records, args)
    except ValueError as e:  # unusable recorder keys
        driver.close()
        merger.close()
        return fail(str(e))
    rt = RobotRuntime(driver, None, RuntimeConfig(), records if forwarder else None, human=human,
                      gil_sharers=[forwarder, getattr(driver, "cameras", None)])
    rt.start()
    console = ConsoleThread(rt) if args.console else None
    max_steps = args.max_steps or getattr(driver, "max_steps", None) or int(60 * driver.spec.control_hz)
    labelled, attempt = 0, 0
    print(f"hgd-collect: {robot.name} ({task}), waiting for devices on {args.intent_endpoint} (hgd-device keyboard|gamepad)")
    try:
        while labelled < args.episodes:
            seed = args.seed + attempt
            driver.reset(seed)
            report = rt.run_episode(max_steps, task=task, kind="demo", seed=seed, operator=args.operator,
                                    env_args=json.dumps(episode_env_args(robot, seed)))
            attempt += 1
            if report.label != "discard":
                labelled += 1
            print(f"episode {labelled}/{args.episodes} (seed {seed}): {report.label}, {report.steps} steps, "
                  f"{report.human_steps} driven, {report.hold_steps} held")
    except KeyboardInterrupt:
        print("interrupted: every finished episode is with the recorder")
    finally:
        if console:
            console.stop()
        rt.close()
        merger.close()
        if forwarder:
            forwarder.close()
        driver.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
