"""Small helpers every command-line entry point shares."""

from __future__ import annotations

import sys
from pathlib import Path


def fail(message: str, code: int = 2) -> int:
    """Print a user-facing error (no traceback) and return the exit code."""
    prog = sys.argv[0].rsplit("/", 1)[-1] if sys.argv and sys.argv[0] else "hgd"
    print(f"{prog}: error: {message}", file=sys.stderr)
    return code


def parse_size(text: str) -> tuple[int, int] | None:
    """'480x640' -> (480, 640); None when malformed."""
    try:
        height, width = (int(part) for part in text.lower().split("x"))
    except ValueError:
        return None
    return (height, width) if height > 0 and width > 0 else None


# Top-level modules of the optional dependency groups (pyproject.toml), and the group that brings each.
EXTRAS = {"torch": "policy", "matplotlib": "policy", "mujoco": "sim", "gymnasium": "sim",
          "pygame": "robot", "dynamixel_sdk": "robot", "scservo_sdk": "robot", "pyarrow": "lerobot", "av": "lerobot"}


def reports_missing_extras(main):
    """A command's entry point that, when it needs an optional dependency this machine lacks (a
    robot-side install has no torch or MuJoCo), says which group to install instead of a traceback."""
    import functools

    @functools.wraps(main)
    def run(*args, **kwargs):
        try:
            return main(*args, **kwargs)
        except ModuleNotFoundError as exc:
            top = (exc.name or "").split(".")[0]
            if top not in EXTRAS:
                raise
            return fail(f"this needs {top}, which is not installed here: pip install 'hgdagger-stack[{EXTRAS[top]}]' "
                        "(a robot-side install has the client, runtime, drivers and recorder only)")

    return run


# ----------------------------------------------------------------------------- argument types
# argparse names the flag when one of these refuses a value: "argument --hz: must be > 0, got 0".
def _number(kind, text: str, low: float | None, inclusive: bool):
    import argparse

    try:
        value = kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {'a whole number' if kind is int else 'a number'}, got {text!r}")
    if kind is float and value != value:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}")
    if low is not None and (value < low or (value == low and not inclusive)):
        raise argparse.ArgumentTypeError(f"must be {'>=' if inclusive else '>'} {low:g}, got {text}")
    return value


def positive_int(text: str) -> int:
    """A count that must be at least 1 (episodes, steps, a batch size)."""
    return _number(int, text, 1, True)


def nonnegative_int(text: str) -> int:
    return _number(int, text, 0, True)


def positive_float(text: str) -> float:
    """A rate or a duration that must be above zero."""
    return _number(float, text, 0, False)


def nonnegative_float(text: str) -> float:
    return _number(float, text, 0, True)


def endpoint(text: str) -> str:
    """A ZeroMQ endpoint: tcp://HOST:PORT (HOST may be * to bind), ipc://PATH or inproc://NAME."""
    import argparse
    import re

    if re.fullmatch(r"tcp://(\*|\[[0-9a-fA-F:]+\]|[A-Za-z0-9_.-]+):(\*|\d{1,5})", text) or \
            re.fullmatch(r"(ipc|inproc)://.+", text):
        return text
    raise argparse.ArgumentTypeError(f"expected tcp://HOST:PORT, ipc://PATH or inproc://NAME, got {text!r}")


def existing_file(text: str) -> str:
    """A file that must exist now (a key, a config); kept as given."""
    import argparse

    if not Path(text).is_file():
        raise argparse.ArgumentTypeError(f"no such file: {text}")
    return text


def _unwritable(folder: Path) -> str | None:
    """Why `folder` cannot hold output (after trying to create it), or None."""
    import os

    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        return f"cannot create {folder} ({e.strerror or e})"
    return None if os.access(folder, os.W_OK) else f"{folder} is not writable"


def writable_folder(path, flag: str) -> str | None:
    """Create the output folder now, before any work; a message naming the flag if that fails."""
    why = _unwritable(Path(path))
    return f"{flag} {path}: {why}" if why else None


def writable_file(path, flag: str) -> str | None:
    """The folder of an output file, checked (and created) before any work."""
    why = _unwritable(Path(path).parent)
    return f"{flag} {path}: {why}" if why else None


LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


def add_log_level(p, default: str = "WARNING") -> None:
    """--log-level, the same on every long-running command (a wrong level is an argparse error, not a traceback)."""
    p.add_argument("--log-level", type=str.upper, choices=LOG_LEVELS, default=default, metavar="LEVEL",
                   help=f"how much to log: {', '.join(LOG_LEVELS)} (default: {default})")


def add_threads_argument(parser, processes_note: str) -> None:
    """The one ``--threads N`` flag every torch command takes (argparse refuses 0, -1 and 'two')."""
    from hgdagger.common.threads import MAX_DEFAULT

    parser.add_argument("--threads", type=positive_int, default=None, metavar="N",
                        help=f"torch CPU threads of this process (and OpenMP/MKL/OpenBLAS of those it starts). "
                        f"Default: OMP_NUM_THREADS if set, else cores // (busy processes + 1), at most "
                        f"{MAX_DEFAULT}: {processes_note}")


def add_image_storage(p) -> None:
    """--image-storage: how camera frames are stored, the same on hgd-record and every command that
    starts its own recorder."""
    from recorder.image_storage import ALIASES, DEFAULT, STORAGES

    p.add_argument("--image-storage", choices=[*STORAGES, *ALIASES], default=DEFAULT, metavar="HOW",
                   help="how camera frames are stored: " + "; ".join(f"{s.name}: {s.help}" for s in STORAGES.values())
                   + f" (default: {DEFAULT})")


def add_intent_security(p) -> None:
    """The flags that secure a session command's device endpoint (--intent-endpoint)."""
    p.add_argument("--intent-curve-secret", type=existing_file, default=None,
                   help="this runtime's secret certificate: devices must then hold a key it knows")
    p.add_argument("--intent-curve-clients", default=None, help="folder of the public certificates of allowed devices")
    p.add_argument("--insecure", action="store_true",
                   help="allow --intent-endpoint beyond loopback without CURVE (anyone who reaches it can drive the arm)")


def intent_security(args) -> tuple[dict, str | None]:
    """HumanOptions fields for the device endpoint's CURVE keys, and a problem to report, if any."""
    from hgdagger.common import curve

    if bool(args.intent_curve_secret) != bool(args.intent_curve_clients):
        return {}, "CURVE for devices needs both --intent-curve-secret and --intent-curve-clients"
    problem = curve.exposure_problem(args.intent_endpoint, bool(args.intent_curve_secret), args.insecure,
                                     flags="--intent-curve")
    if problem:
        return {}, "--intent-endpoint " + problem
    return {"curve_secret": args.intent_curve_secret, "curve_clients": args.intent_curve_clients}, None


def add_device_security(p) -> None:
    """The flags a device process needs to reach a runtime whose device endpoint uses CURVE."""
    p.add_argument("--curve-server", type=existing_file, default=None,
                   help="the runtime's public certificate (its --intent-curve-secret's pair)")
    p.add_argument("--curve-secret", type=existing_file, default=None, help="this device's secret certificate")
