"""Checking settings that came from a file or a command line against a dataclass's own defaults,
so `--set lr=abc` or `demos=-2` is one line naming the setting, not a traceback minutes later."""

from __future__ import annotations

import dataclasses
import json
from typing import Any


def setting_value(text: str) -> Any:
    """A command line's setting value, as every --set reads it: JSON where it parses (3, 0.5, true,
    [1, 2], "x"), else the text itself (so task=pick_place needs no quotes)."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def type_errors(config: Any, prefix: str = "") -> list[str]:
    """Every field whose value has another kind than the field's default (int, float, str, bool;
    nested dataclasses recursively). Fields whose default is None or a container are not judged."""
    errors = []
    defaults = type(config)()
    for f in dataclasses.fields(config):
        value, default = getattr(config, f.name), getattr(defaults, f.name)
        name = prefix + f.name
        if dataclasses.is_dataclass(default):
            errors += type_errors(value, name + ".") if dataclasses.is_dataclass(value) else [
                f"{name}: expected a group of settings, got {value!r}"]
        elif isinstance(default, bool):
            if not isinstance(value, bool):
                errors.append(f"{name}: expected true or false, got {value!r}")
        elif isinstance(default, int):
            if not isinstance(value, int) or isinstance(value, bool):
                errors.append(f"{name}: expected a whole number, got {value!r}")
        elif isinstance(default, float):
            if not isinstance(value, (int, float)) or isinstance(value, bool) or value != value:
                errors.append(f"{name}: expected a number, got {value!r}")
        elif isinstance(default, str) and not isinstance(value, str):
            errors.append(f"{name}: expected text, got {value!r}")
    return errors


def range_errors(config: Any, minimum: dict[str, float]) -> list[str]:
    """Every named numeric field below its minimum."""
    return [f"{name}: must be at least {low:g}, got {getattr(config, name)}" for name, low in minimum.items()
            if isinstance(getattr(config, name), (int, float)) and getattr(config, name) < low]
