"""Small helpers every command-line entry point shares."""

from __future__ import annotations

import sys


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
EXTRAS = {"torch": "policy", "matplotlib": "policy", "mujoco": "sim", "gymnasium": "sim", "cv2": "sim",
          "pygame": "robot", "dynamixel_sdk": "robot"}


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
