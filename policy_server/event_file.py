"""TensorBoard event files of scalars, written and read without TensorBoard or protobuf installed.

Training writes its loss curve here so `tensorboard --logdir <checkpoints>` shows it live, without
making TensorBoard (and its protobuf, grpc, werkzeug) a dependency of every training machine. The
format is small and stable:

- a file is a sequence of TFRecords: uint64 length (little-endian), uint32 masked CRC-32C of those
  8 bytes, the data, uint32 masked CRC-32C of the data;
- each record's data is a serialised ``tensorflow.Event`` protobuf: wall_time = 1 (double), step = 2
  (int64), file_version = 3 (string; the first event says "brain.Event:2"), summary = 5, a
  ``Summary`` holding value = 1 { tag = 1 (string), simple_value = 2 (float) } per scalar.

The reader parses exactly what the writer writes (and checks every CRC), for tests and tools.
"""

from __future__ import annotations

import os
import socket
import struct
import time
from dataclasses import dataclass, field
from pathlib import Path

FILE_VERSION = "brain.Event:2"
PREFIX = "events.out.tfevents."


def _crc32c_table() -> list[int]:
    poly = 0x82F63B78  # Castagnoli, reflected
    table = []
    for n in range(256):
        c = n
        for _ in range(8):
            c = (c >> 1) ^ poly if c & 1 else c >> 1
        table.append(c)
    return table


_TABLE = _crc32c_table()


def crc32c(data: bytes) -> int:
    """CRC-32C (Castagnoli), the checksum TFRecord framing uses."""
    c = 0xFFFFFFFF
    for b in data:
        c = _TABLE[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


def masked_crc32c(data: bytes) -> int:
    """TFRecord's masked CRC: rotate right by 15 bits and add a constant (mod 2^32)."""
    c = crc32c(data)
    return (((c >> 15) | (c << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def frame(data: bytes) -> bytes:
    """One TFRecord around `data`."""
    length = struct.pack("<Q", len(data))
    return length + struct.pack("<I", masked_crc32c(length)) + data + struct.pack("<I", masked_crc32c(data))


# ----------------------------------------------------------------------------- protobuf, the few fields used
def _varint(n: int) -> bytes:
    n &= (1 << 64) - 1  # int64 as two's complement, as protobuf encodes negative numbers
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _key(number: int, wire_type: int) -> bytes:
    return _varint((number << 3) | wire_type)


def _bytes_field(number: int, payload: bytes) -> bytes:
    return _key(number, 2) + _varint(len(payload)) + payload


def encode_event(wall_time: float, step: int, scalars: dict[str, float] | None = None,
                 file_version: str | None = None) -> bytes:
    """A serialised Event with a scalar Summary (or the file_version header event)."""
    out = _key(1, 1) + struct.pack("<d", wall_time) + _key(2, 0) + _varint(step)
    if file_version is not None:
        out += _bytes_field(3, file_version.encode())
    if scalars:
        values = b"".join(
            _bytes_field(1, _bytes_field(1, tag.encode()) + _key(2, 5) + struct.pack("<f", float(value)))
            for tag, value in scalars.items())
        out += _bytes_field(5, values)
    return out


def _fields(data: bytes):
    """(field number, wire type, value) of one message: ints for varints, bytes for the rest."""
    i = 0
    while i < len(data):
        key, i = _read_varint(data, i)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, i = _read_varint(data, i)
        elif wire == 1:
            value, i = data[i:i + 8], i + 8
        elif wire == 5:
            value, i = data[i:i + 4], i + 4
        elif wire == 2:
            n, i = _read_varint(data, i)
            value, i = data[i:i + n], i + n
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")
        yield number, wire, value


def _read_varint(data: bytes, i: int) -> tuple[int, int]:
    shift = result = 0
    while True:
        b = data[i]
        i += 1
        result |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return result, i


@dataclass
class Event:
    wall_time: float = 0.0
    step: int = 0
    file_version: str = ""
    scalars: dict[str, float] = field(default_factory=dict)


def decode_event(data: bytes) -> Event:
    ev = Event()
    for number, _, value in _fields(data):
        if number == 1:
            ev.wall_time = struct.unpack("<d", value)[0]
        elif number == 2:
            ev.step = value - (1 << 64) if value >= 1 << 63 else value
        elif number == 3:
            ev.file_version = value.decode()
        elif number == 5:
            for n, _, v in _fields(value):
                if n == 1:
                    parts = {k: x for k, _, x in _fields(v)}
                    ev.scalars[parts[1].decode()] = struct.unpack("<f", parts[2])[0]
    return ev


def read_events(path: str | Path) -> list[Event]:
    """Every event of a file; ValueError naming the offset of a bad CRC or a cut-off record."""
    data = Path(path).read_bytes()
    out, i = [], 0
    while i < len(data):
        if i + 12 > len(data):
            raise ValueError(f"{path}: record cut off at byte {i}")
        header = data[i:i + 8]
        (n,) = struct.unpack("<Q", header)
        if struct.unpack("<I", data[i + 8:i + 12])[0] != masked_crc32c(header):
            raise ValueError(f"{path}: bad length checksum at byte {i}")
        body = data[i + 12:i + 12 + n]
        if len(body) < n or i + 16 + n > len(data):
            raise ValueError(f"{path}: record cut off at byte {i}")
        if struct.unpack("<I", data[i + 12 + n:i + 16 + n])[0] != masked_crc32c(body):
            raise ValueError(f"{path}: bad data checksum at byte {i}")
        out.append(decode_event(body))
        i += 16 + n
    return out


class EventFileWriter:
    """Appends scalar events to a new event file in `folder`; every record is flushed at once, so
    TensorBoard shows the curve live and an interrupted run leaves a readable file."""

    def __init__(self, folder: str | Path):
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        self.path = folder / f"{PREFIX}{int(time.time())}.{socket.gethostname()}.{os.getpid()}"
        self._f = open(self.path, "ab")
        self._write(encode_event(time.time(), 0, file_version=FILE_VERSION))

    def _write(self, event: bytes) -> None:
        self._f.write(frame(event))
        self._f.flush()

    def scalars(self, step: int, values: dict[str, float]) -> None:
        self._write(encode_event(time.time(), step, values))

    def close(self) -> None:
        self._f.close()
