"""hgd-puppet: the robot runtime drives a Dynamixel follower arm from a Dynamixel leader arm."""

from __future__ import annotations

import argparse
import json
import sys

import numpy as np

from hgdagger.cli.arguments import fail, positive_float, reports_missing_extras, writable_file
from hgdagger.cli.robot_options import ROBOT_HELP

EPILOG = """\
On the arm (after hgd-calibrate-leader --robot koch --out leader_calibration.json):
  hgd-puppet --robot koch --port /dev/ttyUSB0 --leader-port /dev/ttyUSB1 --calibration leader_calibration.json

Rehearse without hardware (the follower is emulated, the leader's "hand" swings it along sine waves):
  hgd-dxl-emulator --config koch_follower --link /tmp/hgd-follower &
  hgd-dxl-emulator --config koch_leader --link /tmp/hgd-leader --hand-motion sine &
  hgd-puppet --robot koch --port /tmp/hgd-follower --leader-port /tmp/hgd-leader --seconds 10
"""


@reports_missing_extras
def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="hgd-puppet",
        description="Puppeteer a robot's follower arm with its leader arm (both from the robot config) through the "
        "robot runtime: the same fixed-rate loop, safety filter (joint range, velocity) and hold-on-fault behaviour "
        "as a policy rollout. The leader is refused at start unless its joints are the follower's, name for name. "
        "Prints loop timing, bus health and how closely the follower tracked the leader.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--robot", required=True, metavar="NAME_OR_PATH", help=ROBOT_HELP + "; it must name a leader arm")
    p.add_argument("--port", help="the follower's serial port, overriding the robot config")
    p.add_argument("--leader-port", help="the leader's serial port, overriding the robot config")
    p.add_argument("--calibration", help="leader calibration file (default: the robot config's; else identity, "
                   "gripper -0.5..0.5 rad)")
    p.add_argument("--seconds", type=positive_float, default=10.0, help="how long to run (default 10)")
    p.add_argument("--report", help="write the run report (timing, bus health, tracking) as JSON here")
    args = p.parse_args(argv)
    if args.report and (problem := writable_file(args.report, "--report")):
        return fail(problem)

    from hgdagger.robots.config import RobotConfigError
    from hgdagger.robots.leader import leader_arm_config, leader_calibration
    from hgdagger.robots.registry import DriverOptions, build_driver, resolve_robot
    from teleop.dynamixel.bus import BusError
    from hgdagger.robots.arms import leader as open_leader
    from teleop.gate import GateConfig, TakeoverGate, TakeoverMode
    from teleop.human_side import FunctionInput, HumanSide
    from teleop.runtime import RobotRuntime, RuntimeConfig

    follower = leader = None
    try:
        robot = resolve_robot(args.robot)
        lcfg = leader_arm_config(robot, args.leader_port)  # refused here if its joints are not the follower's
        cal, warning = leader_calibration(robot, args.calibration, len(lcfg.joints), lcfg)
        follower = build_driver(robot, DriverOptions(port=args.port, cameras=False))  # retries silent servos, then says why
        leader = open_leader(lcfg)  # Dynamixel or Feetech, as the arm file says
    except (ValueError, RobotConfigError, BusError, RuntimeError, OSError, KeyboardInterrupt) as exc:
        for arm in (follower, leader):
            if arm is not None:
                arm.close()
        if isinstance(exc, KeyboardInterrupt):
            return fail("interrupted while connecting to the arms", 130)
        return fail(f"{'leader' if follower is not None else 'follower'} arm: {exc}" if isinstance(exc, BusError) else str(exc))
    if warning:
        print(f"hgd-puppet: {warning}", file=sys.stderr)
    n = follower.spec.num_joints
    hz = follower.spec.control_hz

    def leader_command(step, obs):
        reading = leader.read()
        return cal.to_follower(reading) if leader.health.ok else None  # a faulted leader: the arm holds

    human = HumanSide(TakeoverGate(GateConfig(mode=TakeoverMode.DEADMAN, start_in_human=True)), FunctionInput(leader_command))
    runtime = RobotRuntime(follower, None, RuntimeConfig(realtime=False), human=human)
    runtime.start()
    print(f"hgd-puppet: {lcfg.name} -> {robot.name} at {hz:g} Hz for {args.seconds:g} s (ctrl-c to stop)", flush=True)
    try:
        report = runtime.run_episode(int(args.seconds * hz), task="puppet", kind="demo")
    except KeyboardInterrupt:
        report = runtime.report
    finally:
        final = follower.observe()["joint_pos"]
        target = cal.to_follower(leader.read())[:n]
        follower.close()
        leader.close()
    out = {"steps": report.steps, "human_steps": report.human_steps, "hold_steps": report.hold_steps,
           "clipped": report.clipped, "timing": report.timing,
           "follower_bus": {"faults": getattr(follower.health, "faults", 0), "retries": getattr(follower.health, "retries", 0),
                            "events": getattr(follower.health, "events", [])},
           "leader_bus": {"faults": leader.health.faults, "retries": leader.health.retries},
           "final_gap_rad": float(np.abs(final - target).max())}
    print(json.dumps(out, indent=2, default=float))
    if args.report:
        with open(args.report, "w") as fh:
            json.dump(out, fh, indent=2, default=float)
    return 0


if __name__ == "__main__":
    sys.exit(main())
