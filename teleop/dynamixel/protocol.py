"""Dynamixel Protocol 2.0 framing as pure functions: CRC-16, byte stuffing, packets in and out.

Sources (all public): ROBOTIS e-Manual, "Protocol 2.0" page (emanual.robotis.com/docs/en/dxl/
protocol2/): header FF FF FD 00, then ID, LENGTH (2 bytes, little endian, = bytes after LENGTH:
instruction + parameters + 2 CRC bytes, counted *after* stuffing), INSTRUCTION, PARAMETERS, CRC.
Status packets carry instruction 0x55 and an ERROR byte before their parameters. The CRC is the
e-Manual's "CRC-16 (polynomial x^16+x^15+x^2+1 = 0x8005), initial value 0, not reflected", computed
over every byte from the header to the last parameter and sent low byte first. Byte stuffing: the
e-Manual's rule that FF FF FD inside the instruction/parameter field is sent as FF FF FD FD so no
payload can look like a header. These facts agree with the ``dynamixel_sdk`` 4.1 package
(protocol2_packet_handler.py: ``updateCRC``, ``addStuffing``, ``removeStuffing``); the tests
check our functions against it. The code here is our own.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

HEADER = bytes((0xFF, 0xFF, 0xFD, 0x00))
BROADCAST_ID = 0xFE
STATUS = 0x55


class Instruction(enum.IntEnum):
    """Instruction codes (e-Manual, Protocol 2.0, "Instruction" table)."""

    PING = 0x01
    READ = 0x02
    WRITE = 0x03
    REG_WRITE = 0x04
    ACTION = 0x05
    FACTORY_RESET = 0x06
    REBOOT = 0x08
    STATUS = 0x55
    SYNC_READ = 0x82
    SYNC_WRITE = 0x83
    BULK_READ = 0x92
    BULK_WRITE = 0x93


class StatusError(enum.IntEnum):
    """The low 7 bits of a status packet's ERROR byte (e-Manual, Protocol 2.0, "Error" table).
    Bit 7 (0x80) is the Alert flag: a hardware error is latched in the Hardware Error Status register."""

    NONE = 0
    RESULT_FAIL = 1
    INSTRUCTION = 2
    CRC = 3
    DATA_RANGE = 4
    DATA_LENGTH = 5
    DATA_LIMIT = 6
    ACCESS = 7


ALERT_BIT = 0x80


def _crc_table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        crc = byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x8005) if crc & 0x8000 else (crc << 1)
        table.append(crc & 0xFFFF)
    return tuple(table)


CRC_TABLE = _crc_table()


def crc16(data: bytes | bytearray, crc: int = 0) -> int:
    """CRC-16/0x8005 (initial 0, MSB first) as the e-Manual defines it for Protocol 2.0."""
    for byte in data:
        crc = ((crc << 8) ^ CRC_TABLE[((crc >> 8) ^ byte) & 0xFF]) & 0xFFFF
    return crc


def _advance(run: int, byte: int) -> int:
    """How much of FF FF FD the stream ends with (0..3) after ``byte``."""
    if byte == 0xFF:
        return min(run + 1, 2) if run < 3 else 1
    return 3 if (run == 2 and byte == 0xFD) else 0


def stuff(payload: bytes) -> bytes:
    """Insert 0xFD after every FF FF FD in an instruction+parameter field."""
    out = bytearray()
    run = 0
    for byte in payload:
        out.append(byte)
        run = _advance(run, byte)
        if run == 3:
            out.append(0xFD)
            run = 0
    return bytes(out)


def unstuff(payload: bytes) -> bytes:
    """Remove the 0xFD that ``stuff`` inserted after each FF FF FD."""
    out = bytearray()
    run = 0
    for byte in payload:
        if run == 3 and byte == 0xFD:
            run = 0  # the stuffed byte: drop it, and matching starts afresh as in ``stuff``
            continue
        out.append(byte)
        run = _advance(run, byte)
    return bytes(out)


def build_packet(servo_id: int, instruction: int, params: bytes = b"", error: int | None = None) -> bytes:
    """One complete packet. ``error`` given: a status packet (instruction must be STATUS)."""
    if not 0 <= servo_id <= 0xFE:
        raise ValueError(f"servo id {servo_id} outside 0..254")
    body = bytes((instruction,)) + (bytes((error,)) if error is not None else b"") + bytes(params)
    body = stuff(body)
    length = len(body) + 2
    packet = HEADER + bytes((servo_id, length & 0xFF, length >> 8)) + body
    crc = crc16(packet)
    return packet + bytes((crc & 0xFF, crc >> 8))


def status_packet(servo_id: int, error: int = 0, params: bytes = b"") -> bytes:
    """A status (reply) packet: instruction 0x55, the error byte, then the data."""
    return build_packet(servo_id, STATUS, params, error=error)


@dataclass(frozen=True)
class Packet:
    servo_id: int
    instruction: int
    params: bytes  # unstuffed; for a status packet the first byte is the error byte

    @property
    def error(self) -> int:
        return self.params[0] if self.instruction == STATUS and self.params else 0

    @property
    def data(self) -> bytes:
        return self.params[1:] if self.instruction == STATUS else self.params


class PacketReader:
    """Incremental parser for a byte stream (the emulator's side of the bus).

    ``feed`` bytes as they arrive; ``packets`` yields each complete packet with a valid CRC.
    Garbage before a header is skipped; a packet whose CRC fails is counted in ``crc_errors`` and
    dropped (a real servo stays silent too; the e-Manual's CRC error code is only for valid frames).
    """

    MAX_LENGTH = 1024

    def __init__(self) -> None:
        self.buffer = bytearray()
        self.crc_errors = 0

    def feed(self, data: bytes) -> list[Packet]:
        self.buffer += data
        out = []
        while True:
            start = self.buffer.find(HEADER[:3])
            if start < 0:
                del self.buffer[: max(0, len(self.buffer) - 2)]  # keep a possible split header
                return out
            del self.buffer[:start]
            if len(self.buffer) < 7:
                return out
            length = self.buffer[5] | (self.buffer[6] << 8)
            if self.buffer[3] != 0x00 or length < 3 or length > self.MAX_LENGTH:
                del self.buffer[:1]
                continue
            total = 7 + length
            if len(self.buffer) < total:
                return out
            frame = bytes(self.buffer[:total])
            del self.buffer[:total]
            if crc16(frame[:-2]) != (frame[-2] | (frame[-1] << 8)):
                self.crc_errors += 1
                continue
            body = unstuff(frame[7:-2])
            out.append(Packet(frame[4], body[0], bytes(body[1:])))


def le(value: int, size: int) -> bytes:
    """``value`` as ``size`` little-endian bytes (two's complement for negatives)."""
    return (value & ((1 << (8 * size)) - 1)).to_bytes(size, "little")


def from_le(data: bytes, signed: bool = False) -> int:
    return int.from_bytes(data, "little", signed=signed)
