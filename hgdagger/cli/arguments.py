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
