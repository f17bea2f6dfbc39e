"""hgd-puppet: the robot runtime drives a Dynamixel follower arm from a Dynamixel leader arm."""

from __future__ import annotations

import argparse
import json
import sys

import numpy as np

from hgdagger.cli.arguments import fail, positive_float, reports_missing_extras, writable_file

EPILOG = """\
Rehearse without hardware (three terminals, or append & to the first two):
  hgd-dxl-emulator --config configs/koch_follower.json --link /tmp/hgd-follower
  hgd-dxl-emulator --config configs/koch_leader.json --link /tmp/hgd-leader --hand-motion sine
  hgd-puppet --follower configs/koch_follower.json --follower-port /tmp/hgd-follower \\
             --leader configs/koch_leader.json --leader-port /tmp/hgd-leader --seconds 10

With hardware: hgd-calibrate-leader first, then pass --calibration leader_calibration.json.
"""


@reports_missing_extras
def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="hgd-puppet",
        description="Puppeteer a Dynamixel follower arm with a Dynamixel leader arm through the robot runtime: "
        "the same fixed-rate loop, safety filter (joint range, velocity) and hold-on-fault behaviour as a policy "
        "rollout. Prints loop timing, bus health and how closely the follower tracked the leader.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--follower", required=True, help="follower arm config (JSON/TOML)")
    p.add_argument("--leader", required=True, help="leader arm config (JSON/TOML)")
    p.add_argument("--calibration", help="leader calibration file (default: identity, gripper -0.5..0.5 rad)")
    p.add_argument("--follower-port", help="override the follower config's serial port")
    p.add_argument("--leader-port", help="override the leader config's serial port")
    p.add_argument("--seconds", type=positive_float, default=10.0, help="how long to run (default 10)")
    p.add_argument("--report", help="write the run report (timing, bus health, tracking) as JSON here")
    args = p.parse_args(argv)
    if args.report and (problem := writable_file(args.report, "--report")):
        return fail(problem)
    if args.seconds <= 0:
        return fail("--seconds must be positive")

    from teleop.devices.leader_arm import LeaderCalibration
    from teleop.dynamixel.bus import BusError
    from teleop.dynamixel.config import ArmConfig
    from teleop.dynamixel.follower import DynamixelFollower
    from teleop.dynamixel.dynamixel_leader import DynamixelLeader
    from teleop.gate import GateConfig, TakeoverGate, TakeoverMode
    from teleop.human_side import FunctionInput, HumanSide
    from teleop.runtime import RobotRuntime, RuntimeConfig

    follower = leader = None
    try:
        fcfg, lcfg = ArmConfig.load(args.follower), ArmConfig.load(args.leader)
        if args.follower_port:
            fcfg.bus.port = args.follower_port
        if args.leader_port:
            lcfg.bus.port = args.leader_port
        n = len(fcfg.joints)
        cal = (LeaderCalibration.load(args.calibration) if args.calibration
               else LeaderCalibration((1.0,) * n, (0,) * n, -0.5, 0.5))
        if len(cal.signs) != n or len(lcfg.joints) != n:
            return fail(f"follower has {n} joints, leader {len(lcfg.joints)}, calibration {len(cal.signs)}: they must match")
        follower = DynamixelFollower(fcfg)
        leader = DynamixelLeader(lcfg)
    except (ValueError, BusError, RuntimeError) as exc:
        for arm in (follower, leader):
            if arm is not None:
                arm.close()
        return fail(str(exc))

    def leader_command(step, obs):
        reading = leader.read()
        return cal.to_follower(reading) if leader.health.ok else None  # a faulted leader: the arm holds

    human = HumanSide(TakeoverGate(GateConfig(mode=TakeoverMode.DEADMAN, start_in_human=True)), FunctionInput(leader_command))
    runtime = RobotRuntime(follower, None, RuntimeConfig(realtime=False), human=human)
    runtime.start()
    print(f"hgd-puppet: {lcfg.name} -> {fcfg.name} at {fcfg.control_hz:g} Hz for {args.seconds:g} s (ctrl-c to stop)", flush=True)
    try:
        report = runtime.run_episode(int(args.seconds * fcfg.control_hz), task="puppet", kind="demo")
    except KeyboardInterrupt:
        report = runtime.report
    finally:
        final = follower.observe()["joint_pos"]
        target = cal.to_follower(leader.read())[:n]
        follower.close()
        leader.close()
    out = {"steps": report.steps, "human_steps": report.human_steps, "hold_steps": report.hold_steps,
           "clipped": report.clipped, "timing": report.timing,
           "follower_bus": {"faults": follower.health.faults, "retries": follower.health.retries,
                            "events": follower.health.events},
           "leader_bus": {"faults": leader.health.faults, "retries": leader.health.retries},
           "final_gap_rad": float(np.abs(final - target).max())}
    print(json.dumps(out, indent=2, default=float))
    if args.report:
        with open(args.report, "w") as fh:
            json.dump(out, fh, indent=2, default=float)
    return 0


if __name__ == "__main__":
    sys.exit(main())
