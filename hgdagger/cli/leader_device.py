"""hgd-leader: read a leader arm (Dynamixel or Feetech) and send its follower command to the robot runtime."""

from __future__ import annotations

import argparse
import signal
import sys

from hgdagger.cli.arguments import add_device_security, endpoint, fail, positive_float, reports_missing_extras


@reports_missing_extras
def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="hgd-leader",
        description="Read a leader arm (Dynamixel or Feetech) at a fixed rate, map it through its calibration file to follower "
        "joint targets, and send them as intent to the robot runtime (hgd-run --takeover devices) over ZeroMQ. "
        "If the leader's bus fails, it sends no command and says why (the runtime holds the arm).",
        epilog="Examples:\n"
        "  hgd-leader --robot koch --port /dev/ttyUSB1 --calibration leader_calibration.json\n"
        "  hgd-leader --leader koch_leader --calibration leader_calibration.json   # an arm config, no robot",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--robot", metavar="NAME_OR_PATH",
                       help="the robot whose leader arm this is (its config names the leader; refused unless the "
                       "leader's joints are the follower's)")
    which.add_argument("--leader", help="a leader arm config on its own: a shipped arm (koch_leader) or a JSON/TOML file")
    p.add_argument("--calibration", help="the file hgd-calibrate-leader wrote (default: the robot config's)")
    p.add_argument("--port", help="the leader's serial port, overriding its config")
    p.add_argument("--endpoint", type=endpoint, default="tcp://127.0.0.1:5561", help="the runtime's intent socket (default tcp://127.0.0.1:5561)")
    add_device_security(p)
    p.add_argument("--rate", type=positive_float, default=50.0, help="readings per second (default 50)")
    args = p.parse_args(argv)
    if args.rate <= 0:
        return fail("--rate must be positive")

    from teleop.devices.base import run_device
    from teleop.devices.leader_arm import LeaderCalibration
    from teleop.dynamixel.bus import BusError
    from hgdagger.robots.arms import leader as open_leader, load_arm
    from teleop.dynamixel.dynamixel_leader import DynamixelLeaderDevice
    from hgdagger.robots.leader import calibration_from_lerobot, leader_arm_config, leader_calibration
    from hgdagger.robots.registry import resolve_robot

    leader = None
    try:
        if args.robot:
            robot = resolve_robot(args.robot)
            cfg = leader_arm_config(robot, args.port)  # refused here if its joints are not the follower's
            if not args.calibration and not (robot.leader and robot.leader.calibration) and not cfg.lerobot_calibration:
                raise ValueError(f"no calibration for {robot.name}'s leader: run hgd-calibrate-leader --robot "
                                 f"{args.robot}, then pass --calibration (or name it in the robot config)")
            calibration, _ = leader_calibration(robot, args.calibration, len(cfg.joints), cfg)
        else:
            cfg = load_arm(args.leader)
            if args.port:
                cfg.bus.port = args.port
            if args.calibration:
                calibration = LeaderCalibration.load(args.calibration)  # a bad file fails before the arm is touched
            elif cfg.lerobot_calibration:
                calibration = calibration_from_lerobot(cfg)
            else:
                raise ValueError("--leader needs --calibration (the file hgd-calibrate-leader wrote)")
        leader = open_leader(cfg)  # Dynamixel or Feetech, as the arm file says; retries silent servos for bus.connect_timeout_s, then says why
        device = DynamixelLeaderDevice(leader, calibration)
    except (ValueError, BusError, RuntimeError) as exc:
        if leader is not None:
            leader.close()
        return fail(str(exc))
    except KeyboardInterrupt:
        return fail("interrupted while connecting to the leader arm", 130)
    stop = {"now": False}
    signal.signal(signal.SIGTERM, lambda *_: stop.update(now=True))
    print(f"leader arm {cfg.name} on {cfg.bus.port} -> {args.endpoint} at {args.rate:g} Hz (ctrl-c to quit)", flush=True)
    try:
        run_device(device, args.endpoint, args.rate, should_stop=lambda: stop["now"],
                   curve_server=args.curve_server,
                   curve_secret=args.curve_secret)
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
