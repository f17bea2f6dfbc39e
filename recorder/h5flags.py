"""Clear the "file is open for writing" flags a killed HDF5 writer leaves in the superblock.

Files written with ``libver="latest"`` (superblock version 2/3, needed for SWMR) record in the
superblock that a writer has them open; the library refuses to open such a file after a crash
("file is already open for write (may use <h5clear file> ...)"). h5py has no h5clear, so recovery
does what ``h5clear -s`` does: zero the consistency-flags byte and rewrite the superblock checksum
(Bob Jenkins' lookup3 "hashlittle", which HDF5 uses for metadata checksums). Written here from the
published algorithm and checked against the checksum HDF5 itself stored (``superblock_checksum_ok``).
"""

from __future__ import annotations

import os
import struct
from pathlib import Path

SIGNATURE = b"\x89HDF\r\n\x1a\n"
M32 = 0xFFFFFFFF


def _rot(x: int, k: int) -> int:
    return ((x << k) | (x >> (32 - k))) & M32


def lookup3(data: bytes, initval: int = 0) -> int:
    """Jenkins lookup3 hashlittle of ``data`` (HDF5's H5_checksum_lookup3)."""
    n = len(data)
    a = b = c = (0xDEADBEEF + n + initval) & M32
    i = 0
    while n > 12:
        a = (a + int.from_bytes(data[i:i + 4], "little")) & M32
        b = (b + int.from_bytes(data[i + 4:i + 8], "little")) & M32
        c = (c + int.from_bytes(data[i + 8:i + 12], "little")) & M32
        a = (a - c) & M32; a ^= _rot(c, 4); c = (c + b) & M32  # noqa: E702
        b = (b - a) & M32; b ^= _rot(a, 6); a = (a + c) & M32  # noqa: E702
        c = (c - b) & M32; c ^= _rot(b, 8); b = (b + a) & M32  # noqa: E702
        a = (a - c) & M32; a ^= _rot(c, 16); c = (c + b) & M32  # noqa: E702
        b = (b - a) & M32; b ^= _rot(a, 19); a = (a + c) & M32  # noqa: E702
        c = (c - b) & M32; c ^= _rot(b, 4); b = (b + a) & M32  # noqa: E702
        n -= 12
        i += 12
    if n == 0:
        return c
    tail = data[i:i + n] + b"\0" * (12 - n)  # the missing bytes add nothing
    a = (a + int.from_bytes(tail[0:4], "little")) & M32
    b = (b + int.from_bytes(tail[4:8], "little")) & M32
    c = (c + int.from_bytes(tail[8:12], "little")) & M32
    c ^= b; c = (c - _rot(b, 14)) & M32  # noqa: E702
    a ^= c; a = (a - _rot(c, 11)) & M32  # noqa: E702
    b ^= a; b = (b - _rot(a, 25)) & M32  # noqa: E702
    c ^= b; c = (c - _rot(b, 16)) & M32  # noqa: E702
    a ^= c; a = (a - _rot(c, 4)) & M32  # noqa: E702
    b ^= a; b = (b - _rot(a, 14)) & M32  # noqa: E702
    c ^= b; c = (c - _rot(b, 24)) & M32  # noqa: E702
    return c


def _superblock(f) -> tuple[int, int, int]:
    """(offset of the signature, superblock version, length of the checksummed part)."""
    for base in (0, 512, 1024, 2048, 4096):
        f.seek(base)
        head = f.read(12)
        if head[:8] == SIGNATURE:
            version, size_off = head[8], head[9]
            if version not in (2, 3):
                raise ValueError(f"superblock version {version} has no consistency flags to clear")
            return base, version, 12 + 4 * size_off
    raise ValueError("no HDF5 signature found (not an HDF5 file)")


def superblock_checksum_ok(path: Path) -> bool:
    with open(path, "rb") as f:
        base, _, n = _superblock(f)
        f.seek(base)
        blob = f.read(n + 4)
    return struct.unpack("<I", blob[n:n + 4])[0] == lookup3(blob[:n])


def clear_open_flags(path: Path) -> bool:
    """Zero the superblock's consistency flags (in place); True if they were set."""
    with open(path, "r+b") as f:
        base, _, n = _superblock(f)
        f.seek(base)
        blob = bytearray(f.read(n))
        if blob[11] == 0:
            return False
        blob[11] = 0
        f.seek(base)
        f.write(bytes(blob) + struct.pack("<I", lookup3(bytes(blob))))
        f.flush()
        os.fsync(f.fileno())
    return True
