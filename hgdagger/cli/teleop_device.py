"""hgd-device: run one input device as its own process, sending intent to the robot runtime."""

from __future__ import annotations

import argparse
import signal
import sys

from hgdagger.cli.arguments import (
    add_device_security, endpoint, fail, nonnegative_float, positive_float, reports_missing_extras,
)

DEFAULT_ENDPOINT = "tcp://127.0.0.1:5561"


@reports_missing_extras
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="hgd-device",
        description="Read a keyboard (in this terminal, also over ssh) or a gamepad and send the operator's "
        "intent to the robot runtime over ZeroMQ. The runtime decides who is in control; this only says what "
        "the person means.",
        epilog="Keyboard keys: " + __import__("teleop.devices.keyboard", fromlist=["HELP"]).HELP,
    )
    parser.add_argument("kind", choices=["keyboard", "gamepad"], help="which device to read")
    parser.add_argument("--endpoint", type=endpoint, default=DEFAULT_ENDPOINT, help=f"the runtime's intent socket (default {DEFAULT_ENDPOINT})")
    add_device_security(parser)
    parser.add_argument("--rate", type=positive_float, default=50.0, help="messages per second (default 50)")
    parser.add_argument("--preset", default="xbox", help="gamepad button map: xbox, dualshock or generic (default xbox)")
    parser.add_argument("--button-map", help="JSON file overriding the preset's axes and buttons")
    parser.add_argument("--dead-zone", type=nonnegative_float, default=0.12, help="gamepad stick dead zone, 0..0.9 (default 0.12)")
    args = parser.parse_args(argv)
    if args.rate <= 0:
        return fail("--rate must be positive")
    if not 0 <= args.dead_zone < 0.9:
        return fail("--dead-zone must be in [0, 0.9)")

    from teleop.devices.base import run_device

    stop = {"now": False}
    signal.signal(signal.SIGTERM, lambda *_: stop.update(now=True))
    try:
        if args.kind == "keyboard":
            from teleop.devices.keyboard import HELP, TerminalKeyboard

            device = TerminalKeyboard()
            print(f"keyboard -> {args.endpoint}\n{HELP}\n(ctrl-c to quit)", flush=True)
        else:
            from teleop.devices.gamepad import GAMEPAD_PRESETS, ButtonMap, GamepadMapper, PygameGamepad

            if args.preset not in GAMEPAD_PRESETS:
                return fail(f"unknown preset {args.preset!r}; presets: {', '.join(GAMEPAD_PRESETS)}")
            button_map = ButtonMap.load(args.button_map) if args.button_map else GAMEPAD_PRESETS[args.preset]
            device = PygameGamepad(GamepadMapper(button_map, dead_zone=args.dead_zone))
            print(f"gamepad ({device.stick.get_name() if device.stick else 'not connected yet'}) -> {args.endpoint}", flush=True)
    except (RuntimeError, ValueError) as exc:
        return fail(str(exc))
    try:
        run_device(device, args.endpoint, args.rate, should_stop=lambda: stop["now"],
                   curve_server=args.curve_server,
                   curve_secret=args.curve_secret)
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
