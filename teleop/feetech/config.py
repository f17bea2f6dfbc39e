"""What one Feetech arm is: its bus, its STS servos, their calibration and limits.

The Dynamixel ``ArmConfig``'s shape and rules (unknown keys are errors, every field but the port and
the joints has a default that runs), with STS models and operating modes, the Homing Offset and
position limits the servos hold, and ``lerobot_calibration``: a LeRobot calibration file whose
zeros, directions, ranges and homing offsets replace the joints' own (``teleop.lerobot_calibration``),
so an arm calibrated with LeRobot runs without recalibrating. Loaded from JSON or TOML, or by name
from the arms this package ships (``arms/so101_follower.json``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from teleop.dynamixel.calibration import GripperMap, JointMap
from teleop.dynamixel.config import ArmConfig
from teleop.dynamixel.config import JointConfig as DynamixelJointConfig
from teleop.feetech import control_table as ct

ARMS = Path(__file__).with_name("arms")
PROTOCOL = "feetech"


@dataclass
class JointConfig(DynamixelJointConfig):
    """An arm joint, as for Dynamixel (the fields mean the same), on an STS3215 by default."""

    model: str = "STS3215"


@dataclass
class GripperConfig:
    id: int
    model: str = "STS3215"
    open_ticks: int = 2048
    closed_ticks: int = 3000
    operating_mode: str = "position"
    torque_limit: int | None = None  # Torque Limit, 0.1 % of the maximum: grip without burning the motor
    homing_offset: int | None = None


@dataclass
class FeetechArmConfig(ArmConfig):
    PROTOCOL: ClassVar[str] = PROTOCOL
    ARMS: ClassVar[Path] = ARMS
    operating_mode: str = "position"  # STS arm joints: one turn, limits enforced by the servo
    p_coefficient: int | None = None  # position loop P gain (STS default 32; LeRobot uses 16 against shaking)
    return_delay_us: int | None = 0  # reply delay (STS default 500 us); None leaves the servo's

    def __post_init__(self) -> None:
        ids = self.ids
        if len(set(ids)) != len(ids):
            raise ValueError(f"arm {self.name!r}: servo ids repeat: {ids}")
        if not self.joints:
            raise ValueError(f"arm {self.name!r}: no joints configured")
        for j in self.joints:
            ct.model(j.model)
            if j.lower >= j.upper:
                raise ValueError(f"joint {j.name}: lower {j.lower} must be below upper {j.upper}")
        if self.gripper:
            ct.model(self.gripper.model)
        for mode in (self.operating_mode, self.gripper.operating_mode if self.gripper else "position"):
            if mode not in ct.OPERATING_MODES:
                raise ValueError(f"operating mode {mode!r} unknown for Feetech servos; choose from {', '.join(ct.OPERATING_MODES)}")
        if self.bus.baudrate not in ct.BAUD_CODES:
            raise ValueError(f"bus.baudrate {self.bus.baudrate} is not an STS rate ({', '.join(map(str, sorted(ct.BAUD_CODES)))})")
        if self.leader_gripper_current is not None:
            raise ValueError("leader_gripper_current is for Dynamixel leaders; an STS leader's trigger has no spring current")
        if self.return_delay_us is not None and not 0 <= self.return_delay_us <= 508:
            raise ValueError(f"return_delay_us must be 0..508 (2 us steps), got {self.return_delay_us}")

    def models(self) -> dict[int, ct.Model]:
        out = {j.id: ct.model(j.model) for j in self.joints}
        if self.gripper:
            out[self.gripper.id] = ct.model(self.gripper.model)
        return out

    def joint_maps(self) -> list[JointMap]:
        return [JointMap(j.sign, j.offset_quarter_turns, ct.model(j.model).resolution, j.center_ticks) for j in self.joints]

    def gripper_map(self) -> GripperMap | None:
        return GripperMap(self.gripper.open_ticks, self.gripper.closed_ticks) if self.gripper else None


FeetechArmConfig.JOINT, FeetechArmConfig.GRIPPER = JointConfig, GripperConfig


def shipped_arms() -> list[str]:
    return FeetechArmConfig.shipped_arms()
