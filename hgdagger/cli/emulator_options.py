"""The servo emulators' shared flags (hgd-dxl-emulator, hgd-feetech-emulator): how the emulated
servos move and which faults they inject, one vocabulary for both protocols."""

from __future__ import annotations

from hgdagger.cli.arguments import nonnegative_float, positive_float


def add_servo_and_fault_arguments(p, bad_checksum: str) -> None:
    """``bad_checksum``: what the protocol's corrupt status packet carries (a wrong CRC, a bad checksum)."""
    p.add_argument("--tau", type=positive_float, default=0.05, help="first-order time constant of the servos, s (default 0.05)")
    p.add_argument("--hand-motion", choices=["none", "sine"], default="none",
                   help="torque-off servos: 'sine' swings each joint +-0.5 rad with a 4 s period (default none)")
    p.add_argument("--drop", type=nonnegative_float, default=0.0, help="fraction of instruction packets left unanswered")
    p.add_argument("--corrupt", type=nonnegative_float, default=0.0, help=f"fraction of status packets sent with {bad_checksum}")
    p.add_argument("--delay-ms", type=nonnegative_float, default=0.0, help="extra delay before every reply, ms")
    p.add_argument("--baud", type=int, default=0,
                   help="add the wire time of each reply at this baud rate (10 bits/byte); 0: as fast as the pty")
    p.add_argument("--vanish-ids", default="", help="comma-separated ids that SIGUSR1 makes disappear / reappear")
    p.add_argument("--seed", type=int, default=0, help="random seed of the fault injection")


def vanishing_ids(args) -> set[int]:
    """The --vanish-ids, after checking the fault fractions (ValueError: one line naming the flag)."""
    for name in ("drop", "corrupt"):
        if not 0.0 <= getattr(args, name) <= 1.0:
            raise ValueError(f"--{name} must be a fraction in [0, 1]")
    try:
        return {int(x) for x in args.vanish_ids.split(",") if x.strip()}
    except ValueError:
        raise ValueError(f"--vanish-ids {args.vanish_ids!r}: expected comma-separated integers") from None
