"""The STS-series control table: the registers this stack reads and writes, and the models it knows.

Addresses and sizes are from Feetech's STS/SMS memory table (doc.feetech.cn, "FT-SMS-STS-emanual";
the same table LeRobot's ``STS_SMS_SERIES_CONTROL_TABLE`` states). EEPROM is addresses 0..39 and is
written to flash only while Lock (55) is 0; with Lock at 1 a write takes effect but is lost at the
next power-up. Position is 0..4095 per turn (STS3215: 4096 steps). Sign-magnitude registers name
their sign bit (see ``protocol.to_sign_magnitude``): Homing Offset bit 11, velocities bit 15, Present
Load bit 10. Feetech's Homing Offset is subtracted: Present Position = actual - Homing Offset.
Model numbers are what the servo's Model Number (3) reads: 777 for the STS3215 (LeRobot agrees).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Register:
    address: int
    size: int
    sign_bit: int | None = None  # sign-magnitude: the bit that carries the sign; None: unsigned


FIRMWARE_MAJOR = Register(0, 1)
FIRMWARE_MINOR = Register(1, 1)
MODEL_NUMBER = Register(3, 2)
ID = Register(5, 1)
BAUD_RATE = Register(6, 1)
RETURN_DELAY_TIME = Register(7, 1)  # 2 us per unit
MIN_POSITION_LIMIT = Register(9, 2)
MAX_POSITION_LIMIT = Register(11, 2)
MAX_TORQUE_LIMIT = Register(16, 2)
P_COEFFICIENT = Register(21, 1)
PROTECTION_CURRENT = Register(28, 2)
HOMING_OFFSET = Register(31, 2, sign_bit=11)
OPERATING_MODE = Register(33, 1)
TORQUE_ENABLE = Register(40, 1)
ACCELERATION = Register(41, 1)
GOAL_POSITION = Register(42, 2)
GOAL_TIME = Register(44, 2)
GOAL_VELOCITY = Register(46, 2, sign_bit=15)
TORQUE_LIMIT = Register(48, 2)
LOCK = Register(55, 1)
PRESENT_POSITION = Register(56, 2)
PRESENT_VELOCITY = Register(58, 2, sign_bit=15)  # steps/s
PRESENT_LOAD = Register(60, 2, sign_bit=10)  # 0.1 % of the maximum torque
PRESENT_VOLTAGE = Register(62, 1)
PRESENT_TEMPERATURE = Register(63, 1)
MOVING = Register(66, 1)
PRESENT_CURRENT = Register(69, 2)  # 6.5 mA per unit

EEPROM_END = 40  # addresses below are EEPROM
READ_ONLY = {FIRMWARE_MAJOR.address, FIRMWARE_MINOR.address, MODEL_NUMBER.address, MODEL_NUMBER.address + 1}

# Present Position, Velocity and Load are contiguous (56..61): one sync read gets all three.
STATE_BLOCK = Register(PRESENT_POSITION.address, PRESENT_LOAD.address + 2 - PRESENT_POSITION.address)

# Operating Mode values (Feetech manual, "Operating Mode (33)").
MODE_POSITION = 0
MODE_VELOCITY = 1
MODE_PWM = 2
MODE_STEP = 3
OPERATING_MODES = {"position": MODE_POSITION, "velocity": MODE_VELOCITY, "pwm": MODE_PWM, "step": MODE_STEP}

# Baud Rate register value -> bits per second (Feetech manual, "Baud Rate (6)").
BAUD_RATES = {0: 1_000_000, 1: 500_000, 2: 250_000, 3: 128_000, 4: 115_200, 5: 57_600, 6: 38_400, 7: 19_200}
BAUD_CODES = {rate: code for code, rate in BAUD_RATES.items()}

CURRENT_UNIT_MA = 6.5


@dataclass(frozen=True)
class Model:
    name: str
    number: int
    resolution: int = 4096  # position steps per turn


MODELS: dict[str, Model] = {m.name: m for m in (
    Model("STS3215", 777),
    Model("STS3250", 2825),
)}
MODELS_BY_NUMBER: dict[int, Model] = {m.number: m for m in MODELS.values()}


def model(name: str) -> Model:
    """The model called ``name`` (e.g. 'STS3215'); a clear error listing the known ones."""
    try:
        return MODELS[name.upper()]
    except KeyError:
        raise ValueError(f"unknown Feetech model {name!r}; known: {', '.join(sorted(MODELS))}") from None


def model_name(number: int) -> str:
    m = MODELS_BY_NUMBER.get(number)
    return m.name if m else f"model number {number}"
