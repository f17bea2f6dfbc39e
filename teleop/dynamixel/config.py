"""What one Dynamixel arm is: its bus, its servos, their calibration and limits.

Loaded from JSON or TOML, or by name from the arms this package ships (``arms/koch_follower.json``
is a worked example). Every field has a default that runs except the bus port and the joints.
Unknown keys are errors, so a typo is caught at load time and not on the arm.
"""

from __future__ import annotations

import json
import math
import tomllib
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from hgdagger.common.types import RobotSpec
from teleop.dynamixel import control_table as ct
from teleop.dynamixel.calibration import GripperMap, JointMap

ARMS = Path(__file__).with_name("arms")  # the arms shipped with the package, loadable by name


@dataclass
class JointConfig:
    name: str
    id: int
    model: str = "XL330-M288"
    sign: float = 1.0
    offset_quarter_turns: int = 0
    center_ticks: float | None = None  # the tick that reads 0 rad; None: the servo's middle (a LeRobot calibration sets it)
    homing_offset: int | None = None  # written to the servo when it holds another; None: leave the servo's
    lower: float = -math.pi  # rad, after calibration
    upper: float = math.pi
    max_velocity: float = 3.0  # rad/s


@dataclass
class GripperConfig:
    id: int
    model: str = "XL330-M288"
    open_ticks: int = 2048
    closed_ticks: int = 3000
    operating_mode: str = "current_based_position"  # grips with a bounded current instead of stalling
    current_limit: int | None = None  # Goal Current units; None leaves the servo's value
    homing_offset: int | None = None


@dataclass
class BusConfig:
    port: str = "/dev/ttyUSB0"
    baudrate: int = 1_000_000
    latency_ms: float = 1.0  # the USB adapter's latency timer (set FTDI adapters to 1 ms)
    retries: int = 2  # extra attempts for one transfer inside a control step
    hold_after: int = 3  # consecutive failed steps before the arm holds and the fault is reported
    reconnect_every_s: float = 0.5  # while the port is gone, try to reopen it this often
    min_firmware: int = 0  # refuse servos with an older firmware version than this
    connect_timeout_s: float = 3.0  # at start, retry a servo that does not answer for this long (0: one try)


@dataclass
class ArmConfig:
    PROTOCOL: ClassVar[str] = "dynamixel"  # the servo family (a subclass for another family names its own)
    ARMS: ClassVar[Path] = ARMS  # the family's shipped arm files, loadable by name
    JOINT: ClassVar[type] = None  # set below, once JointConfig and GripperConfig of this module exist
    GRIPPER: ClassVar[type] = None
    name: str
    bus: BusConfig
    joints: list[JointConfig]
    gripper: GripperConfig | None = None
    control_hz: float = 50.0
    operating_mode: str = "extended_position"  # arm joints; "position" wraps at one turn
    profile_velocity: int = 0  # 0 = as fast as possible: the runtime's own rate limit shapes motion
    torque_on_connect: bool = True  # follower: True. Leader: False (moved by hand)
    torque_off_on_close: bool = True  # a follower then sags under gravity: park it before closing
    leader_gripper_current: int | None = None  # leader only: a light current that springs the trigger open
    lerobot_calibration: str | None = None  # a LeRobot calibration file applied at load (teleop.lerobot_calibration)

    def __post_init__(self) -> None:
        ids = [j.id for j in self.joints] + ([self.gripper.id] if self.gripper else [])
        if len(set(ids)) != len(ids):
            raise ValueError(f"arm {self.name!r}: servo ids repeat: {ids}")
        if not self.joints:
            raise ValueError(f"arm {self.name!r}: no joints configured")
        for j in self.joints:
            ct.model(j.model)
            if j.lower >= j.upper:
                raise ValueError(f"joint {j.name}: lower {j.lower} must be below upper {j.upper}")
        for mode in (self.operating_mode, self.gripper.operating_mode if self.gripper else "position"):
            if mode not in ct.OPERATING_MODES:
                raise ValueError(f"operating mode {mode!r} unknown; choose from {', '.join(ct.OPERATING_MODES)}")

    # ---------------------------------------------------------------- derived
    @property
    def ids(self) -> list[int]:
        """Every servo id on the arm, joints first, gripper last."""
        return [j.id for j in self.joints] + ([self.gripper.id] if self.gripper else [])

    def models(self) -> dict[int, ct.Model]:
        out = {j.id: ct.model(j.model) for j in self.joints}
        if self.gripper:
            out[self.gripper.id] = ct.model(self.gripper.model)
        return out

    def joint_maps(self) -> list[JointMap]:
        return [JointMap(j.sign, j.offset_quarter_turns, ct.model(j.model).resolution, j.center_ticks) for j in self.joints]

    def homing_offsets(self) -> dict[int, int]:
        """The Homing Offset each servo must hold (servos the config leaves alone are absent)."""
        parts = list(self.joints) + ([self.gripper] if self.gripper else [])
        return {p.id: p.homing_offset for p in parts if p.homing_offset is not None}

    def gripper_map(self) -> GripperMap | None:
        return GripperMap(self.gripper.open_ticks, self.gripper.closed_ticks) if self.gripper else None

    def robot_spec(self, cameras: dict[str, tuple[int, int]] | None = None) -> RobotSpec:
        """The RobotSpec a driver for this arm states: its own joints, limits and rate."""
        n = len(self.joints)
        shapes: dict[str, tuple[int, ...]] = {"joint_pos": (n,), "joint_vel": (n,), "gripper_pos": (1,)}
        for cam, (h, w) in (cameras or {}).items():
            shapes[f"{cam}_rgb"] = (h, w, 3)
        return RobotSpec(
            name=self.name, joint_names=tuple(j.name for j in self.joints),
            joint_lower=np.array([j.lower for j in self.joints]), joint_upper=np.array([j.upper for j in self.joints]),
            max_joint_velocity=np.array([j.max_velocity for j in self.joints]), control_period=1.0 / self.control_hz,
            cameras=tuple(cameras or ()), observation_shapes=shapes)

    # ---------------------------------------------------------------- files
    @classmethod
    def from_dict(cls, raw: dict[str, Any], origin: str = "config", folder: Path | None = None) -> "ArmConfig":
        """Build and check a config; a ``lerobot_calibration`` path is relative to ``folder`` (default: cwd)."""
        arm = cls._from_dict(raw, origin)
        if arm.lerobot_calibration:
            from teleop import lerobot_calibration

            path = Path(arm.lerobot_calibration).expanduser()
            path = path if path.is_absolute() or folder is None else folder / path
            arm.lerobot_calibration = str(path)
            lerobot_calibration.apply(arm, lerobot_calibration.read(path), str(path))
        return arm

    @classmethod
    def _from_dict(cls, raw: dict[str, Any], origin: str) -> "ArmConfig":
        try:
            raw = dict(raw)
            raw.pop("protocol", None)  # chose this class (hgdagger.robots.arms)
            raw["bus"] = _build(BusConfig, raw.get("bus", {}), f"{origin}: bus")
            raw["joints"] = [_build(cls.JOINT, j, f"{origin}: joints[{i}]") for i, j in enumerate(raw.get("joints", []))]
            if raw.get("gripper") is not None:
                raw["gripper"] = _build(cls.GRIPPER, raw["gripper"], f"{origin}: gripper")
            return _build(cls, raw, origin)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{origin}: {exc}") from None

    @classmethod
    def shipped_arms(cls) -> list[str]:
        return sorted(p.stem for p in cls.ARMS.glob("*.json"))

    @classmethod
    def load(cls, path: str | Path) -> "ArmConfig":
        """Read a JSON (.json) or TOML (.toml) arm file, or a shipped arm by name (``koch_follower``)."""
        path = Path(path)
        if not path.exists() and path.suffix == "" and (cls.ARMS / f"{path}.json").exists():
            path = cls.ARMS / f"{path}.json"
        if not path.exists():
            raise ValueError(f"arm config {path} does not exist; shipped arms: "
                             f"{', '.join(cls.shipped_arms())} (copy one from {cls.ARMS} to start your own)")
        text = path.read_text()
        try:
            raw = tomllib.loads(text) if path.suffix == ".toml" else json.loads(text)
        except (json.JSONDecodeError, tomllib.TOMLDecodeError) as exc:
            raise ValueError(f"arm config {path} is not valid {path.suffix[1:].upper()}: {exc}") from None
        return cls.from_dict(raw, str(path), path.parent)

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps({"protocol": self.PROTOCOL} | asdict(self), indent=2))


ArmConfig.JOINT, ArmConfig.GRIPPER = JointConfig, GripperConfig


def _build(kind, raw: dict[str, Any], where: str):
    if not isinstance(raw, dict):
        raise ValueError(f"{where}: expected a table/object, got {type(raw).__name__}")
    known = {f.name for f in fields(kind)}
    unknown = set(raw) - known
    if unknown:
        raise ValueError(f"{where}: unknown keys {sorted(unknown)} (known: {sorted(known)})")
    return kind(**raw)


def shipped_arms() -> list[str]:
    return ArmConfig.shipped_arms()
