"""hgd-feetech-emulator: a Feetech STS servo chain on a pseudo-terminal, to rehearse a rig without hardware."""

from __future__ import annotations

import argparse
import math
import signal
import sys
import threading
import time

from hgdagger.cli.arguments import fail, positive_int, reports_missing_extras
from hgdagger.cli.emulator_options import add_servo_and_fault_arguments, vanishing_ids

EPILOG = """\
Examples:
  # an SO-101 follower as the shipped so101_follower describes it, at a stable name:
  hgd-feetech-emulator --config so101_follower --link /tmp/hgd-so101
  hgd-run --robot so101 --port /tmp/hgd-so101 --no-cameras ...

  # an SO-101 leader whose joints a "hand" swings along sine waves (torque-off servos):
  hgd-feetech-emulator --config so101_leader --link /tmp/hgd-so101-leader --hand-motion sine

  # servos that hold a LeRobot calibration's Homing Offsets and limits, as an arm calibrated with
  # lerobot-calibrate does (the file is LeRobot's own JSON):
  hgd-feetech-emulator --config so101_follower --lerobot-calibration my_follower.json --link /tmp/hgd-so101

  # the SO-101's physics twin on the pty: goal positions move a MuJoCo model of the arm on a table with a
  # cube; present positions, velocities and loads are the physics; torque off lets the arm sag:
  hgd-feetech-emulator --config so101_follower --twin so101 --link /tmp/hgd-so101
  hgd-run --robot so101 --port /tmp/hgd-so101 --no-cameras ...     # the real-arm config, driving the twin

  # a flaky bus: 5% of packets unanswered, 2% of replies with a bad checksum, servo 3 toggled
  # missing/present by `kill -USR1 <pid>`:
  hgd-feetech-emulator --config so101_follower --link /tmp/hgd-so101 --drop 0.05 --corrupt 0.02 --vanish-ids 3

Signals: SIGUSR1 toggles the --vanish-ids servos between missing and present; SIGUSR2 power-cycles
every servo (torque off, RAM cleared, EEPROM from flash); SIGINT/SIGTERM stop the emulator (the
link is removed); SIGKILL leaves a dangling link, like an unplugged adapter.
"""


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="hgd-feetech-emulator",
        description="Emulate a chain of Feetech STS servos (STS3215: SO-100/SO-101 arms) speaking the Feetech "
        "protocol byte for byte on a pseudo-terminal. The real feetech-servo-sdk (and hgd's drivers) open its tty "
        "exactly like the arm's USB adapter. Servos with torque on move to their goal with a first-order lag; with "
        "torque off they stay put or follow --hand-motion (a leader arm being moved).",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", help="Feetech arm config (a shipped name, JSON or TOML) whose servo ids and models to emulate")
    p.add_argument("--servos", type=positive_int, default=6, help="without --config: this many STS3215 servos, ids 1..N (default 6)")
    p.add_argument("--lerobot-calibration", help="with --config: start the servos holding this LeRobot calibration's "
                   "Homing Offsets and position limits, each horn in the middle of its range")
    p.add_argument("--link", help="also publish the tty at this path (a symlink, replaced atomically on restart)")
    p.add_argument("--twin", default=None, metavar="MODEL",
                   help="with --config: back the servos with MuJoCo physics of this arm model (so101) instead of "
                   "a first-order lag, on the wall clock")
    add_servo_and_fault_arguments(p, "a bad checksum")
    return p


@reports_missing_extras
def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from teleop import lerobot_calibration
    from teleop.feetech import control_table as ct
    from teleop.feetech.emulator import EmulatedServo, Faults, ServoChain
    from hgdagger.robots.arms import load_arm

    try:
        vanish = vanishing_ids(args)
    except ValueError as exc:
        return fail(str(exc))
    if args.lerobot_calibration and not args.config:
        return fail("--lerobot-calibration needs --config (the arm whose motors the file names)")
    try:
        arm = load_arm(args.config) if args.config else None
        models = arm.models() if arm else {i: ct.model("STS3215") for i in range(1, args.servos + 1)}
        if arm is not None and not isinstance(next(iter(models.values())), ct.Model):
            return fail(f"{args.config} is not a Feetech arm (hgd-dxl-emulator emulates Dynamixel arms)")
        motors = lerobot_calibration.read(args.lerobot_calibration) if args.lerobot_calibration else {}
        if arm is not None and motors:
            lerobot_calibration.apply(arm, motors, args.lerobot_calibration)
    except ValueError as exc:
        return fail(str(exc))
    faults = Faults(drop_rate=args.drop, corrupt_rate=args.corrupt, delay_s=args.delay_ms / 1e3, seed=args.seed)
    if args.twin:
        if arm is None:
            return fail("--twin needs --config (the arm config whose servos the twin's joints are)")
        from sim.twin import twin_bus
        from sim.twin_robot import open_physics

        try:
            twin = open_physics(arm, args.twin)
        except ValueError as exc:
            return fail(str(exc))
        return _serve(twin_bus(arm).chain(twin, faults), args, models, vanish, f"the {args.twin} twin's")
    by_id = {m.id: m for m in motors.values()}
    servos = []
    for i, model in models.items():
        m = by_id.get(i)
        s = EmulatedServo(i, model, tau_s=args.tau, position=round(m.mid + m.homing_offset) if m else 2048)
        if m:  # what lerobot-calibrate leaves in the servo's flash
            for reg, value in ((ct.HOMING_OFFSET, m.homing_offset), (ct.MIN_POSITION_LIMIT, m.range_min),
                               (ct.MAX_POSITION_LIMIT, m.range_max)):
                s.put(reg, value)
            s.flash = bytes(s.table[: ct.EEPROM_END])
            s.update(time.monotonic())
        servos.append(s)
    if args.hand_motion == "sine":
        t0 = time.monotonic()
        for k, s in enumerate(servos):
            amp, base = 0.5 * s.model.resolution / (2 * math.pi), s.actual
            s.hand = (lambda t, a=amp, ph=k * 0.7, b=base: b + a * math.sin(2 * math.pi * (t - t0) / 4.0 + ph))
    return _serve(ServoChain(servos, faults), args, models, vanish, "servos")


def _serve(chain, args, models, vanish: set[int], what: str) -> int:
    """Serve ``chain`` on a pty until SIGINT/SIGTERM, with the signal-driven faults."""
    from teleop.feetech.emulator import PtyBus

    bus = PtyBus(chain, link=args.link, baudrate=args.baud)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())

    def toggle(*_):
        chain.faults.vanished = set() if chain.faults.vanished else set(vanish)
        print(f"servos {sorted(vanish)} {'gone' if chain.faults.vanished else 'back'}", flush=True)

    def power_cycle(*_):
        with chain.lock:
            for s in chain.servos.values():
                s.power_cycle()
        print("servos power-cycled", flush=True)

    signal.signal(signal.SIGUSR1, toggle)
    signal.signal(signal.SIGUSR2, power_cycle)
    bus.start()
    ids = ", ".join(f"{i} ({m.name})" for i, m in models.items())
    print(f"hgd-feetech-emulator: {what} {ids} on {bus.path}" + (f", linked at {bus.link}" if bus.link else ""), flush=True)
    print(f"PORT {bus.port}", flush=True)
    stop.wait()
    bus.stop()
    print(f"hgd-feetech-emulator: stopped; {chain.stats}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
