"""Arm protocols to their config, follower and leader classes. An arm file says which it speaks
(``"protocol": "feetech"``; no key: Dynamixel, as every arm file before there were two), and every
command asks here for the class that drives it: no command names a servo family. Adding a servo
family is one ``register_arm_protocol`` call.
"""

from __future__ import annotations

import json
import tomllib
from dataclasses import dataclass
from importlib import import_module
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class ArmProtocol:
    name: str
    config: str  # "module:Class" of its arm config (imported on use: a robot-side install needs only its own SDK)
    follower: str
    leader: str
    arms_folder: str  # "package/relative/folder" of its shipped arms

    def load(self, what: str):
        module, name = getattr(self, what).split(":")
        return getattr(import_module(module), name)

    def shipped(self) -> dict[str, Path]:
        folder = Path(__file__).resolve().parents[2] / self.arms_folder
        return {p.stem: p for p in sorted(folder.glob("*.json"))}


_PROTOCOLS: dict[str, ArmProtocol] = {}


def register_arm_protocol(protocol: ArmProtocol) -> None:
    _PROTOCOLS[protocol.name] = protocol


def arm_protocols() -> list[str]:
    return sorted(_PROTOCOLS)


def protocol_named(name: Any, origin: str) -> ArmProtocol:
    try:
        return _PROTOCOLS[name]
    except (KeyError, TypeError):
        raise ValueError(f"{origin}: protocol {name!r} is not a known arm protocol; known: {', '.join(arm_protocols())}") from None


def protocol_of(arm) -> ArmProtocol:
    """The protocol whose config class ``arm`` is."""
    for protocol in _PROTOCOLS.values():
        if type(arm) is protocol.load("config"):
            return protocol
    raise TypeError(f"{type(arm).__name__} is no registered arm config")


def shipped_arms() -> dict[str, Path]:
    """Every shipped arm by name, over all protocols."""
    return {name: path for p in _PROTOCOLS.values() for name, path in p.shipped().items()}


def arm_from_dict(raw: dict[str, Any], origin: str, folder: Path | None = None):
    """An arm config from a parsed table; ``protocol`` picks its class (default dynamixel)."""
    if not isinstance(raw, dict):
        raise ValueError(f"{origin}: expected an arm config table/object, got {type(raw).__name__}")
    protocol = protocol_named(raw.get("protocol", "dynamixel"), origin)
    cls = protocol.load("config")
    return cls.from_dict({k: v for k, v in raw.items() if k != "protocol"}, origin, folder)


def arm_to_dict(arm) -> dict[str, Any]:
    """An arm config as a table ``arm_from_dict`` reads back (with its ``protocol`` when not Dynamixel)."""
    from dataclasses import asdict

    name = protocol_of(arm).name
    return ({} if name == "dynamixel" else {"protocol": name}) | asdict(arm)


def load_arm(ref: str | Path):
    """An arm config from a file (.json/.toml) or a shipped arm's name, of whichever protocol it says."""
    shipped = shipped_arms()
    path = Path(ref).expanduser()
    if not path.exists() and str(ref) in shipped:
        path = shipped[str(ref)]
    if not path.exists():
        raise ValueError(f"arm config {ref} does not exist; shipped arms: {', '.join(sorted(shipped))}")
    try:
        raw = tomllib.loads(path.read_text()) if path.suffix == ".toml" else json.loads(path.read_text())
    except (json.JSONDecodeError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"arm config {path} is not valid {'TOML' if path.suffix == '.toml' else 'JSON'}: {exc}") from None
    return arm_from_dict(raw, str(path), path.parent)


def follower(arm, cameras=None):
    """A connected follower driver for ``arm`` (retries silent servos, then says why)."""
    return protocol_of(arm).load("follower")(arm, cameras=cameras)


def leader(arm):
    """A connected leader arm for ``arm`` (torque off)."""
    return protocol_of(arm).load("leader")(arm)


register_arm_protocol(ArmProtocol("dynamixel", "teleop.dynamixel.config:ArmConfig",
                                  "teleop.dynamixel.follower:DynamixelFollower",
                                  "teleop.dynamixel.dynamixel_leader:DynamixelLeader", "teleop/dynamixel/arms"))
register_arm_protocol(ArmProtocol("feetech", "teleop.feetech.config:FeetechArmConfig",
                                  "teleop.feetech.follower:FeetechFollower",
                                  "teleop.feetech.follower:FeetechLeader", "teleop/feetech/arms"))
