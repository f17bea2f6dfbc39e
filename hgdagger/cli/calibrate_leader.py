"""hgd-calibrate-leader: walk the operator through calibrating a leader arm (Dynamixel or Feetech); write the file."""

from __future__ import annotations

import argparse
import json
import sys

from hgdagger.cli.arguments import fail, reports_missing_extras

EPILOG = """\
What it measures (LeaderCalibration, read by hgd-leader and the runtime):
  signs                 +1/-1 per joint: taken from the leader config's joint "sign" fields
                        (or --signs), i.e. which way each leader joint turns relative to the follower
  offset_quarter_turns  per joint, so the leader reads the reference pose when it is held in it
                        (servo horns are mounted at multiples of a quarter turn)
  gripper_open/closed   the raw trigger angle fully open and fully closed (mapped to 0..1)

Examples:
  hgd-calibrate-leader --robot koch --port /dev/ttyUSB1 --out leader_calibration.json
  # no hardware: hgd-dxl-emulator --config koch_leader --link /tmp/hgd-leader &
  hgd-calibrate-leader --leader koch_leader --port /tmp/hgd-leader --pose 0,0,0,0,0 --out leader_calibration.json
"""


@reports_missing_extras
def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="hgd-calibrate-leader",
        description="Calibrate a Dynamixel leader arm against its follower: you hold the leader in a reference "
        "pose, then open and close its trigger; the command computes quarter-turn offsets and the gripper range "
        "and writes the calibration file.", epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--robot", metavar="NAME_OR_PATH", help="the robot whose leader arm to calibrate (from its config)")
    which.add_argument("--leader", help="a leader arm config on its own: a shipped arm (koch_leader, so101_leader) or a JSON/TOML file")
    p.add_argument("--port", help="override the config's serial port (e.g. an emulator's link)")
    p.add_argument("--pose", help="the follower pose to hold the leader in, comma-separated rad (default: all 0)")
    p.add_argument("--signs", help="comma-separated +1/-1 per joint (default: the config's joint signs)")
    p.add_argument("--out", default="leader_calibration.json", help="where to write (default leader_calibration.json)")
    args = p.parse_args(argv)

    from teleop.dynamixel.bus import BusError
    from hgdagger.robots.arms import leader as open_leader, load_arm
    from teleop.dynamixel.dynamixel_leader import calibrate

    try:
        if args.robot:
            from hgdagger.robots.leader import leader_arm_config
            from hgdagger.robots.registry import resolve_robot

            cfg = leader_arm_config(resolve_robot(args.robot), args.port)
        else:
            cfg = load_arm(args.leader)
            if args.port:
                cfg.bus.port = args.port
        n = len(cfg.joints)
        pose = [float(x) for x in args.pose.split(",")] if args.pose else [0.0] * n
        signs = [float(x) for x in args.signs.split(",")] if args.signs else [j.sign for j in cfg.joints]
        leader = open_leader(cfg)  # Dynamixel or Feetech, as the arm file says
    except (ValueError, BusError, RuntimeError) as exc:
        return fail(str(exc))
    try:
        cal = calibrate(leader, pose, signs, ask=lambda prompt: input(prompt + " "))
    except (ValueError, EOFError) as exc:
        return fail(f"calibration not written: {exc}")
    finally:
        leader.close()
    cal.save(args.out)
    print(f"wrote {args.out}: {json.dumps(json.loads(open(args.out).read()))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
