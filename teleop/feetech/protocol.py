"""Feetech STS/SCS framing as pure functions: checksum, packets in and out, sign-magnitude numbers.

Sources (all public): Feetech's "SCS/STS communication protocol" manual (doc.feetech.cn, "FT-SCS-
Protocol"): a packet is FF FF, ID, LENGTH (= number of parameters + 2), INSTRUCTION (or, in a status
packet, the servo's ERROR byte), PARAMETERS, CHECKSUM, where CHECKSUM = ~(ID + LENGTH + INSTRUCTION
+ PARAMETERS) & 0xFF. There is no byte stuffing: a receiver finds the next FF FF and trusts the
checksum. STS servos store multi-byte registers little endian (SCS servos big endian; this stack
speaks STS only). Registers that carry a sign use sign-magnitude: the manual's "bit 15 is the
direction bit" (speeds) and bit 11 for the Homing Offset (Feetech calls it "position correction").
These facts agree with the ``feetech-servo-sdk`` 1.0 package (protocol_packet_handler.py and
scservo_def.py: ``txPacket``'s checksum, ``SCS_TOHOST``/``SCS_TOSCS``); the tests check our
functions against it. The code here is our own.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

HEADER = b"\xff\xff"
BROADCAST_ID = 0xFE
MAX_PARAMS = 250 - 6  # the SDK's largest packet is 250 bytes


class Instruction(enum.IntEnum):
    """Instruction codes (Feetech protocol manual, "Instruction" table)."""

    PING = 0x01
    READ = 0x02
    WRITE = 0x03
    REG_WRITE = 0x04
    ACTION = 0x05
    RESET = 0x06
    SYNC_READ = 0x82
    SYNC_WRITE = 0x83


class ErrorBit(enum.IntFlag):
    """The bits of a status packet's ERROR byte (Feetech manual; the SDK's ERRBIT_* names)."""

    VOLTAGE = 1
    ANGLE = 2  # the magnetic encoder reads no angle
    OVERHEAT = 4
    OVERCURRENT = 8
    OVERLOAD = 32


ERROR_WORDS = {ErrorBit.VOLTAGE: "input voltage out of range", ErrorBit.ANGLE: "angle sensor fault",
               ErrorBit.OVERHEAT: "overheated", ErrorBit.OVERCURRENT: "over current", ErrorBit.OVERLOAD: "overloaded"}


def checksum(body: bytes | bytearray) -> int:
    """~(sum of ID, LENGTH, INSTRUCTION/ERROR and PARAMETERS) & 0xFF."""
    return ~sum(body) & 0xFF


def build_packet(servo_id: int, instruction: int, params: bytes = b"") -> bytes:
    """One instruction (or, with the error byte as ``instruction``, status) packet."""
    if not 0 <= servo_id <= 0xFE:
        raise ValueError(f"servo id {servo_id} outside 0..254")
    if len(params) > MAX_PARAMS:
        raise ValueError(f"{len(params)} parameter bytes: at most {MAX_PARAMS} fit in one packet")
    body = bytes((servo_id, len(params) + 2, instruction)) + bytes(params)
    return HEADER + body + bytes((checksum(body),))


def status_packet(servo_id: int, error: int = 0, data: bytes = b"") -> bytes:
    """A status (reply) packet: the error byte where the instruction would be, then the data."""
    return build_packet(servo_id, error, data)


def error_text(error: int) -> str:
    """A status packet's error byte in words ("overloaded, overheated")."""
    words = [text for bit, text in ERROR_WORDS.items() if error & bit]
    return ", ".join(words) if words else f"error byte {error:#04x}"


@dataclass(frozen=True)
class Packet:
    servo_id: int
    instruction: int  # in a status packet: the error byte
    params: bytes


class PacketReader:
    """Incremental parser of a byte stream: ``feed`` bytes, get each complete packet whose checksum holds.

    Bytes before FF FF are skipped. A frame with a bad checksum is counted in ``checksum_errors`` and
    only its first header byte dropped, so a real packet that started inside it is still found.
    """

    def __init__(self) -> None:
        self.buffer = bytearray()
        self.checksum_errors = 0

    def feed(self, data: bytes) -> list[Packet]:
        self.buffer += data
        out: list[Packet] = []
        while True:
            start = self.buffer.find(HEADER)
            if start < 0:
                del self.buffer[: max(0, len(self.buffer) - 1)]  # keep a possible half header
                return out
            del self.buffer[:start]
            while len(self.buffer) > 2 and self.buffer[2] == 0xFF:
                del self.buffer[:1]  # FF FF FF...: the header is the last two of the run
            if len(self.buffer) < 4:
                return out
            length = self.buffer[3]
            if self.buffer[2] > 0xFE or length < 2:
                del self.buffer[:1]
                continue
            total = 4 + length
            if len(self.buffer) < total:
                return out
            frame = bytes(self.buffer[:total])
            if checksum(frame[2:-1]) != frame[-1]:
                self.checksum_errors += 1
                del self.buffer[:1]
                continue
            del self.buffer[:total]
            out.append(Packet(frame[2], frame[4], frame[5:-1]))


def to_sign_magnitude(value: int, sign_bit: int) -> int:
    """``value`` as the register holds it: |value| in the bits below ``sign_bit``, that bit set if negative."""
    limit = (1 << sign_bit) - 1
    if abs(value) > limit:
        raise ValueError(f"{value} does not fit in {sign_bit} magnitude bits (|value| <= {limit})")
    return (-value | (1 << sign_bit)) if value < 0 else value


def from_sign_magnitude(raw: int, sign_bit: int) -> int:
    """The register's ``raw`` bits as a signed number (bits above ``sign_bit`` are ignored)."""
    magnitude = raw & ((1 << sign_bit) - 1)
    return -magnitude if raw & (1 << sign_bit) else magnitude


def le(value: int, size: int) -> bytes:
    """``value`` (already encoded, non-negative) as ``size`` little-endian bytes."""
    return (int(value) & ((1 << (8 * size)) - 1)).to_bytes(size, "little")


def from_le(data: bytes) -> int:
    return int.from_bytes(data, "little")
