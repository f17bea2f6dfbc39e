"""A robot config file: the one place that says which robot a session drives.

JSON or TOML; unknown keys are errors that name the field, so a typo is caught at load time and
not on the arm. ``hgdagger/robots/builtin/koch.json`` is the worked example:

    name          the robot's name (stored with every episode)
    driver        {"type": <a registered driver type>, ...that type's own settings}
    control_hz    the loop rate (default: the driver's own)
    cameras       [{"name", "source", "height", "width", "fps", ...}]: teleop.cameras.CameraConfig
    kinematics    the arm model Cartesian teleop (gamepad, keyboard) solves with: panda, koch_v1_1
    leader        the leader arm that fits it, if any: {"arm": <arm config>, "calibration": <file>}

An arm config (``driver.follower``, ``leader.arm``) is a table inline, a shipped arm's name
(``koch_follower``) or a file; files are relative to the robot config's folder.
    task          what the operator is asked to do (stored as each episode's task), optional
"""

from __future__ import annotations

import json
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any


class RobotConfigError(ValueError):
    """A robot config that cannot be used; the message names the file and the field."""


@dataclass(frozen=True)
class LeaderConfig:
    arm: dict[str, Any] | str  # an arm config (Dynamixel or Feetech, hgdagger.robots.arms): a table, a shipped name or a file
    calibration: str | None = None  # the file hgd-calibrate-leader wrote (relative: to the robot file)


@dataclass(frozen=True)
class RobotConfig:
    name: str
    driver: dict[str, Any]
    control_hz: float | None = None
    cameras: tuple[dict[str, Any], ...] = ()
    kinematics: str | None = None
    leader: LeaderConfig | None = None
    task: str = ""
    origin: str = field(default="", compare=False)  # the file it came from (for messages and relative paths)

    @property
    def driver_type(self) -> str:
        return str(self.driver["type"])

    @property
    def folder(self) -> Path:
        return Path(self.origin).parent if self.origin else Path.cwd()

    def load_arm(self, ref: dict[str, Any] | str, where: str):
        """An arm config given inline, by a shipped arm's name, or as a file relative to this config;
        its ``protocol`` (default dynamixel) picks the config class (``hgdagger.robots.arms``)."""
        from hgdagger.robots.arms import arm_from_dict, load_arm, shipped_arms

        if isinstance(ref, dict):
            return arm_from_dict(ref, f"{self.origin}: {where}", self.folder)
        if not isinstance(ref, str):
            raise RobotConfigError(f"{self.origin}: {where} must be an arm config table, a shipped arm's name "
                                   f"({', '.join(sorted(shipped_arms()))}) or a file name")
        return load_arm(ref if ref in shipped_arms() else self.resolve(ref))

    def resolve(self, path: str) -> str:
        """A path written in the config, relative to the config's own folder."""
        p = Path(path).expanduser()
        return str(p if p.is_absolute() else self.folder / p)


def robot_config_from_dict(raw: Any, origin: str) -> RobotConfig:
    """Validate a parsed config; every problem is one RobotConfigError naming ``origin`` and the field."""
    if not isinstance(raw, dict):
        raise RobotConfigError(f"{origin}: expected a table/object at the top, got {type(raw).__name__}")
    known = {f.name for f in fields(RobotConfig)} - {"origin"}
    if unknown := sorted(set(raw) - known):
        raise RobotConfigError(f"{origin}: unknown keys {unknown} (known: {sorted(known)})")
    for key in ("name", "driver"):
        if key not in raw:
            raise RobotConfigError(f"{origin}: missing '{key}'")
    if not isinstance(raw["name"], str) or not raw["name"]:
        raise RobotConfigError(f"{origin}: 'name' must be a non-empty string")
    driver = raw["driver"]
    if not isinstance(driver, dict) or not isinstance(driver.get("type"), str):
        raise RobotConfigError(f"{origin}: 'driver' must be a table with a 'type' (e.g. {{\"type\": \"dynamixel\", ...}})")
    hz = raw.get("control_hz")
    if hz is not None and (isinstance(hz, bool) or not isinstance(hz, (int, float)) or not 0 < hz <= 1000):
        raise RobotConfigError(f"{origin}: 'control_hz' must be a number in (0, 1000], got {hz!r}")
    cameras = raw.get("cameras", [])
    if not isinstance(cameras, list) or not all(isinstance(c, dict) for c in cameras):
        raise RobotConfigError(f"{origin}: 'cameras' must be a list of tables")
    names = [c.get("name") for c in cameras]
    if any(not isinstance(n, str) or not n for n in names) or len(set(names)) != len(names):
        raise RobotConfigError(f"{origin}: every camera needs a unique non-empty 'name', got {names}")
    kinematics = raw.get("kinematics")
    if kinematics is not None and not isinstance(kinematics, str):
        raise RobotConfigError(f"{origin}: 'kinematics' must be a model name, e.g. \"koch_v1_1\"")
    leader = raw.get("leader")
    if leader is not None:
        if not isinstance(leader, dict) or not isinstance(leader.get("arm"), (dict, str)):
            raise RobotConfigError(f"{origin}: 'leader' must be a table with an 'arm' (the leader's arm config: a table, "
                                   "a shipped arm's name or a file)")
        if unknown := sorted(set(leader) - {"arm", "calibration"}):
            raise RobotConfigError(f"{origin}: leader: unknown keys {unknown} (known: ['arm', 'calibration'])")
        cal = leader.get("calibration")
        if cal is not None and not isinstance(cal, str):
            raise RobotConfigError(f"{origin}: leader.calibration must be a file name")
        arm = leader["arm"]
        leader = LeaderConfig(arm=dict(arm) if isinstance(arm, dict) else arm, calibration=cal)
    task = raw.get("task", "")
    if not isinstance(task, str):
        raise RobotConfigError(f"{origin}: 'task' must be a string")
    return RobotConfig(name=raw["name"], driver=dict(driver), control_hz=None if hz is None else float(hz),
                       cameras=tuple(dict(c) for c in cameras), kinematics=kinematics, leader=leader, task=task,
                       origin=origin)


def load_robot_config(path: str | Path) -> RobotConfig:
    """Read a robot config file (.json or .toml)."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise RobotConfigError(f"cannot read robot config {path}: {exc.strerror or exc}") from None
    try:
        raw = tomllib.loads(text) if path.suffix == ".toml" else json.loads(text)
    except (json.JSONDecodeError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise RobotConfigError(f"robot config {path} is not valid {'TOML' if path.suffix == '.toml' else 'JSON'}: {exc}") from None
    return robot_config_from_dict(raw, str(path))
