"""The X-series control table: the registers this stack reads and writes, and the models it knows.

Addresses and sizes are from the ROBOTIS e-Manual's control-table pages of the X-series servos
(e.g. emanual.robotis.com/docs/en/dxl/x/xl330-m288/ and .../xm430-w350/, "Control Table of
EEPROM Area" and "... RAM Area"); they are the same on every X-series model used here. Model
numbers are from each model's page ("Model Number" row). Checked in this project against the
e-Manual sources (github.com/ROBOTIS-GIT/emanual, docs/en/dxl/x/xl330-m288.md and xc330-m288.md):
every address and size below, 1200 for XL330-M288, 1240 for XC330-M288, current unit 1 mA on the
x330s, and "EEPROM Area can only be written when Torque Enable(64) is cleared". The other model
numbers are from their e-Manual pages as commonly cited; ``identify`` names any mismatch at connect.
Resolution: X-series position is 0..4095 per revolution ("Resolution 4096 [pulse/rev]").
The dynamixel_sdk package carries no control table; it agrees on the protocol facts (protocol.py).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Register:
    address: int
    size: int
    signed: bool = False


MODEL_NUMBER = Register(0, 2)
FIRMWARE_VERSION = Register(6, 1)
ID = Register(7, 1)
BAUD_RATE = Register(8, 1)
RETURN_DELAY_TIME = Register(9, 1)
OPERATING_MODE = Register(11, 1)
HOMING_OFFSET = Register(20, 4, signed=True)
CURRENT_LIMIT = Register(38, 2)
MAX_POSITION_LIMIT = Register(48, 4)
MIN_POSITION_LIMIT = Register(52, 4)
TORQUE_ENABLE = Register(64, 1)
LED = Register(65, 1)
HARDWARE_ERROR_STATUS = Register(70, 1)
GOAL_CURRENT = Register(102, 2, signed=True)
GOAL_VELOCITY = Register(104, 4, signed=True)
PROFILE_ACCELERATION = Register(108, 4)
PROFILE_VELOCITY = Register(112, 4)
GOAL_POSITION = Register(116, 4, signed=True)
MOVING = Register(122, 1)
PRESENT_CURRENT = Register(126, 2, signed=True)
PRESENT_VELOCITY = Register(128, 4, signed=True)
PRESENT_POSITION = Register(132, 4, signed=True)
PRESENT_INPUT_VOLTAGE = Register(144, 2)
PRESENT_TEMPERATURE = Register(146, 1)

# Present Current, Velocity and Position are contiguous (126..135): one sync read gets all three.
STATE_BLOCK = Register(PRESENT_CURRENT.address, PRESENT_POSITION.address + 4 - PRESENT_CURRENT.address)

# Operating Mode values (e-Manual, "Operating Mode (11)").
MODE_CURRENT = 0
MODE_VELOCITY = 1
MODE_POSITION = 3
MODE_EXTENDED_POSITION = 4
MODE_CURRENT_BASED_POSITION = 5
MODE_PWM = 16
OPERATING_MODES = {"current": MODE_CURRENT, "velocity": MODE_VELOCITY, "position": MODE_POSITION,
                   "extended_position": MODE_EXTENDED_POSITION,
                   "current_based_position": MODE_CURRENT_BASED_POSITION, "pwm": MODE_PWM}

# Baud Rate register value -> bits per second (e-Manual, "Baud Rate (8)").
BAUD_RATES = {0: 9_600, 1: 57_600, 2: 115_200, 3: 1_000_000, 4: 2_000_000, 5: 3_000_000, 6: 4_000_000, 7: 4_500_000}

VELOCITY_UNIT_RPM = 0.229  # Present/Goal Velocity: 0.229 rev/min per unit (e-Manual, "Goal Velocity (104)")


@dataclass(frozen=True)
class Model:
    name: str
    number: int
    resolution: int = 4096  # position ticks per revolution
    current_unit_ma: float = 2.69  # mA per Present/Goal Current unit
    has_current_control: bool = True


MODELS: dict[str, Model] = {m.name: m for m in (
    Model("XL330-M077", 1190, current_unit_ma=1.0),
    Model("XL330-M288", 1200, current_unit_ma=1.0),
    Model("XC330-M288", 1240, current_unit_ma=1.0),
    Model("XL430-W250", 1060, has_current_control=False),
    Model("XC430-W150", 1070, has_current_control=False),
    Model("XM430-W350", 1020),
    Model("XM430-W210", 1030),
    Model("XH430-W350", 1010),
    Model("XM540-W270", 1120),
    Model("XM540-W150", 1130),
)}
MODELS_BY_NUMBER: dict[int, Model] = {m.number: m for m in MODELS.values()}


def model(name: str) -> Model:
    """The model called ``name`` (e.g. 'XL330-M288'); a clear error listing the known ones."""
    try:
        return MODELS[name.upper()]
    except KeyError:
        raise ValueError(f"unknown Dynamixel model {name!r}; known: {', '.join(sorted(MODELS))}") from None


def model_name(number: int) -> str:
    m = MODELS_BY_NUMBER.get(number)
    return m.name if m else f"model number {number}"
