"""hgd-leader: read a Dynamixel leader arm and send its follower command to the robot runtime."""

from __future__ import annotations

import argparse
import signal
import sys

from hgdagger.cli.arguments import add_device_security, endpoint, fail, positive_float, reports_missing_extras


@reports_missing_extras
def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="hgd-leader",
        description="Read a Dynamixel leader arm at a fixed rate, map it through its calibration file to follower "
        "joint targets, and send them as intent to the robot runtime (hgd-run --takeover devices) over ZeroMQ. "
        "If the leader's bus fails, it sends no command and says why (the runtime holds the arm).",
        epilog="Example: hgd-leader --leader configs/koch_leader.json --calibration leader_calibration.json")
    p.add_argument("--leader", required=True, help="the leader arm's config (JSON/TOML)")
    p.add_argument("--calibration", required=True, help="the file hgd-calibrate-leader wrote")
    p.add_argument("--port", help="override the config's serial port")
    p.add_argument("--endpoint", type=endpoint, default="tcp://127.0.0.1:5561", help="the runtime's intent socket (default tcp://127.0.0.1:5561)")
    add_device_security(p)
    p.add_argument("--rate", type=positive_float, default=50.0, help="readings per second (default 50)")
    args = p.parse_args(argv)
    if args.rate <= 0:
        return fail("--rate must be positive")

    from teleop.devices.base import run_device
    from teleop.devices.leader_arm import LeaderCalibration
    from teleop.dynamixel.bus import BusError
    from teleop.dynamixel.config import ArmConfig
    from teleop.dynamixel.dynamixel_leader import DynamixelLeader, DynamixelLeaderDevice

    leader = None
    try:
        cfg = ArmConfig.load(args.leader)
        if args.port:
            cfg.bus.port = args.port
        calibration = LeaderCalibration.load(args.calibration)  # a bad file fails before the arm is touched
        leader = DynamixelLeader(cfg)  # retries silent servos for bus.connect_timeout_s, then says why
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
