"""hgd-collect: collect demonstrations by teleoperation (no policy), every step recorded."""

from __future__ import annotations

import argparse
import json
import logging
import sys

from hgdagger.cli.arguments import (
    add_intent_security, endpoint, existing_file, fail, intent_security, parse_size, positive_float,
    positive_int, record_forwarder, reports_missing_extras,
)


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
        "  hgd-collect --task pick_place --episodes 30 --record-to tcp://127.0.0.1:5570",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--task", default="pick_place")
    p.add_argument("--episodes", type=positive_int, default=10, help="labelled episodes to collect (discarded ones are redone)")
    p.add_argument("--max-steps", type=positive_int, default=None, help="step limit per episode (default: the task's)")
    p.add_argument("--hz", type=positive_float, default=20.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--cameras", default="front,wrist", help="cameras to record (comma-separated; '' for none)")
    p.add_argument("--image-size", default="128x128")
    p.add_argument("--intent-endpoint", type=endpoint, default=DEFAULT_INTENT_ENDPOINT, help="where devices send intent")
    add_intent_security(p)
    p.add_argument("--record-to", type=endpoint, default=None, help="recorder endpoint to PUSH every step to")
    p.add_argument("--record-curve-server", type=existing_file, default=None,
                   help="the recorder's public certificate (its stream is then encrypted; see hgd-record --help)")
    p.add_argument("--record-curve-secret", type=existing_file, default=None, help="this robot's secret certificate")
    p.add_argument("--operator", default="", help="your name, stored with every episode")
    p.add_argument("--console", action="store_true", help="open the operator console window")
    p.add_argument("--log-level", default="WARNING")
    args = p.parse_args(argv)
    security, problem = intent_security(args)
    if problem:
        return fail(problem)
    logging.basicConfig(level=args.log_level.upper())
    size = parse_size(args.image_size)
    if size is None:
        return fail(f"--image-size {args.image_size!r}: expected HEIGHTxWIDTH")
    if args.episodes < 1:
        return fail("--episodes must be at least 1")

    import sim
    from sim.driver import SimArmDriver
    from hgdagger.common.record_queue import RecordQueue
    from teleop.runtime import RobotRuntime, RuntimeConfig
    from sim.arm_model import SimArmModel
    from teleop.operator_setup import ConsoleThread, HumanOptions, device_human_side

    if args.task not in sim.task_names():
        return fail(f"unknown task {args.task!r}; tasks: {', '.join(sim.task_names())}")
    cams = tuple(c for c in args.cameras.split(",") if c)
    driver = SimArmDriver(task=args.task, seed=args.seed, control_hz=args.hz, cameras=cams, image_size=size)
    try:
        human, merger = device_human_side(HumanOptions(intent_endpoint=args.intent_endpoint, **security, start_in_human=True),
                                          driver.spec.control_period, SimArmModel())
    except Exception as exc:  # zmq address in use, bad endpoint
        return fail(f"cannot listen for devices on {args.intent_endpoint}: {exc}")
    records = RecordQueue()
    try:
        forwarder = record_forwarder(records, args)
    except ValueError as e:  # unusable recorder keys
        return fail(str(e))
    rt = RobotRuntime(driver, None, RuntimeConfig(), records if forwarder else None, human=human)
    rt.start()
    console = ConsoleThread(rt) if args.console else None
    max_steps = args.max_steps or driver.env.max_steps
    labelled, attempt = 0, 0
    print(f"hgd-collect: {args.task}, waiting for devices on {args.intent_endpoint} (hgd-device keyboard|gamepad)")
    try:
        while labelled < args.episodes:
            seed = args.seed + attempt
            driver.reset(seed)
            report = rt.run_episode(max_steps, task=args.task, kind="demo", seed=seed, operator=args.operator,
                                    env_args=json.dumps({"type": "hgd_sim", "task": args.task, "seed": seed}))
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
