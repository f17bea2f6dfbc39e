"""hgd-dxl-emulator: a Dynamixel servo chain on a pseudo-terminal, to rehearse a rig without hardware."""

from __future__ import annotations

import argparse
import math
import signal
import sys
import threading
import time

from hgdagger.cli.arguments import (
    fail, nonnegative_float, positive_int, reports_missing_extras,
)
from hgdagger.cli.emulator_options import add_servo_and_fault_arguments, vanishing_ids

EPILOG = """\
Examples:
  # a follower arm as configs/koch_follower.json describes it, at a stable name:
  hgd-dxl-emulator --config configs/koch_follower.json --link /tmp/hgd-follower
  # then put "port": "/tmp/hgd-follower" in a copy of the config and connect the driver to it.

  # a leader arm whose joints a "hand" swings along sine waves (torque-off servos):
  hgd-dxl-emulator --config configs/koch_leader.json --link /tmp/hgd-leader --hand-motion sine

  # a flaky bus: 5% of packets unanswered, 2% of replies with a bad CRC, servo 3 toggled
  # missing/present by `kill -USR1 <pid>`:
  hgd-dxl-emulator --config configs/koch_follower.json --link /tmp/hgd-follower \\
      --drop 0.05 --corrupt 0.02 --vanish-ids 3

  # the Koch's physics twin on the pty: goal positions move a MuJoCo model of the arm on a table with a
  # cube, present position/velocity/current come from the physics (needs the sim extra):
  hgd-dxl-emulator --config koch_follower --twin koch_v1_1 --link /tmp/hgd-follower
  hgd-run --robot koch --port /tmp/hgd-follower --no-cameras ...     # the real-arm config, driving the twin

Signals: SIGUSR1 toggles the --vanish-ids servos between missing and present; SIGINT/SIGTERM stop
the emulator (the link is removed); SIGKILL leaves a dangling link, like an unplugged adapter.
"""


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="hgd-dxl-emulator",
        description="Emulate a chain of Dynamixel X-series servos speaking Protocol 2.0 byte for byte on a "
        "pseudo-terminal. The real Dynamixel SDK (and hgd's drivers) open its tty exactly like a USB adapter. "
        "Servos with torque on move to their goal with a first-order lag; with torque off they stay put or "
        "follow --hand-motion (a leader arm being moved).",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", help="arm config (JSON/TOML) whose servo ids and models to emulate")
    p.add_argument("--servos", type=positive_int, default=7, help="without --config: this many servos, ids 1..N (default 7)")
    p.add_argument("--model", default="XL330-M288", help="without --config: their model (default XL330-M288)")
    p.add_argument("--link", help="also publish the tty at this path (a symlink, replaced atomically on restart)")
    p.add_argument("--twin", default=None, metavar="MODEL",
                   help="with --config: back the servos with MuJoCo physics of this arm model (koch_v1_1) instead of "
                   "a first-order lag, on the wall clock")
    add_servo_and_fault_arguments(p, "a wrong CRC")
    p.add_argument("--return-delay-us", type=nonnegative_float, default=0.0, help="with --baud: servo return delay per reply, us")
    return p


@reports_missing_extras
def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from teleop.dynamixel import control_table as ct
    from teleop.dynamixel.config import ArmConfig
    from teleop.dynamixel.emulator import EmulatedServo, Faults, ServoChain

    try:
        vanish = vanishing_ids(args)
    except ValueError as exc:
        return fail(str(exc))
    try:
        if args.config:
            models = ArmConfig.load(args.config).models()
        else:
            models = {i: ct.model(args.model) for i in range(1, args.servos + 1)}
    except ValueError as exc:
        return fail(str(exc))
    if args.twin:
        if not args.config:
            return fail("--twin needs --config (the arm config whose servos the twin's joints are)")
        from sim.twin import TwinServoChain
        from sim.twin_robot import open_physics

        try:
            twin = open_physics(ArmConfig.load(args.config), args.twin)
        except ValueError as exc:
            return fail(str(exc))
        faults = Faults(drop_rate=args.drop, corrupt_rate=args.corrupt, delay_s=args.delay_ms / 1e3, seed=args.seed)
        return _serve(TwinServoChain(twin, faults), args, models, vanish, f"the {args.twin} twin's")
    servos = [EmulatedServo(i, m, tau_s=args.tau) for i, m in models.items()]
    if args.hand_motion == "sine":
        t0 = time.monotonic()
        for k, s in enumerate(servos):
            amp = 0.5 * s.model.resolution / (2 * math.pi)
            s.hand = (lambda t, a=amp, ph=k * 0.7, r=s.model.resolution: r / 2 + a * math.sin(2 * math.pi * (t - t0) / 4.0 + ph))
    faults = Faults(drop_rate=args.drop, corrupt_rate=args.corrupt, delay_s=args.delay_ms / 1e3, seed=args.seed)
    return _serve(ServoChain(servos, faults), args, models, vanish, "servos")


def _serve(chain, args, models, vanish: set[int], what: str) -> int:
    from teleop.dynamixel.emulator import PtyBus

    faults = chain.faults
    bus = PtyBus(chain, link=args.link, baudrate=args.baud, return_delay_s=args.return_delay_us / 1e6)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())

    def toggle(*_):
        faults.vanished = set() if faults.vanished else set(vanish)
        print(f"servos {sorted(vanish)} {'gone' if faults.vanished else 'back'}", flush=True)

    signal.signal(signal.SIGUSR1, toggle)
    bus.start()
    ids = ", ".join(f"{i} ({m.name})" for i, m in models.items())
    print(f"hgd-dxl-emulator: {what} {ids} on {bus.path}" + (f", linked at {bus.link}" if bus.link else ""), flush=True)
    print(f"PORT {bus.port}", flush=True)
    stop.wait()
    bus.stop()
    print(f"hgd-dxl-emulator: stopped; {chain.stats}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
