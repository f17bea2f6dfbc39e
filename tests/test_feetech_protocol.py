"""Feetech STS framing: checksum, packets and sign-magnitude numbers, against the manual's example
and the feetech-servo-sdk's own packet code; the stream parser fuzzed with hypothesis."""

from __future__ import annotations

import pytest
import scservo_sdk as scs
from hypothesis import given
from hypothesis import strategies as st
from scservo_sdk.protocol_packet_handler import protocol_packet_handler

from teleop.feetech.protocol import (Instruction, PacketReader, build_packet, checksum, error_text, from_sign_magnitude,
                                     status_packet, to_sign_magnitude)

# bytes biased towards FF so header-like runs are common
tricky = st.lists(st.sampled_from([0xFF, 0xFE, 0x00, 0x02]) | st.integers(0, 255), max_size=40).map(bytes)


class Wire:
    """The far end of a serial line for the SDK's packet code: keeps what it writes, serves what it reads."""

    def __init__(self, incoming: bytes = b""):
        self.sent, self.incoming, self.is_using = b"", bytearray(incoming), False
        self.packet_timeout = 0

    def clearPort(self):  # noqa: N802 (SDK name)
        pass

    def writePort(self, packet):  # noqa: N802
        self.sent += bytes(packet)
        return len(packet)

    def readPort(self, length):  # noqa: N802
        out = bytes(self.incoming[:length])
        del self.incoming[:length]
        return out

    def setPacketTimeout(self, n):  # noqa: N802
        self.left = 3

    def isPacketTimeout(self):  # noqa: N802
        self.left -= 1
        return self.left < 0


def sdk():
    scs.PacketHandler(0)
    return protocol_packet_handler()


def test_a_read_of_present_position_matches_the_manuals_layout_byte_for_byte():
    # FF FF, ID 1, LENGTH 4 (2 params + 2), READ, address 56, 2 bytes, ~(1+4+2+56+2) & 0xFF
    assert build_packet(1, Instruction.READ, bytes([56, 2])).hex(" ") == "ff ff 01 04 02 38 02 be"
    assert status_packet(1, 0, bytes([0x00, 0x08])).hex(" ") == "ff ff 01 04 00 00 08 f2"


@given(st.integers(0, 253), st.integers(0, 255), st.binary(max_size=20))
def test_our_write_packets_are_the_sdks(servo_id, address, data):
    wire = Wire()
    sdk().writeTxOnly(wire, servo_id, address, len(data), list(data))
    assert wire.sent == build_packet(servo_id, Instruction.WRITE, bytes([address]) + data)


@given(st.lists(st.integers(0, 253), min_size=1, max_size=10, unique=True), st.integers(0, 255), st.integers(1, 8))
def test_our_sync_read_is_the_sdks(ids, address, length):
    wire = Wire()
    sdk().syncReadTx(wire, address, length, ids, len(ids))
    assert wire.sent == build_packet(0xFE, Instruction.SYNC_READ, bytes([address, length, *ids]))


@given(st.integers(0, 253), st.integers(0, 127), tricky)
def test_the_sdk_accepts_our_status_packets(servo_id, error, data):
    wire = Wire(status_packet(servo_id, error, data))
    packet, result = sdk().rxPacket(wire)
    assert result == scs.COMM_SUCCESS and bytes(packet) == status_packet(servo_id, error, data)


@given(st.binary(min_size=1, max_size=60))
def test_checksum_is_the_inverted_byte_sum(body):
    assert (checksum(body) + sum(body)) & 0xFF == 0xFF


@given(st.lists(st.tuples(st.integers(0, 253), tricky), min_size=1, max_size=5), st.data())
def test_the_reader_recovers_every_packet_from_any_split_of_the_stream(packets, data):
    stream = b"\x00\x13\xff" + b"".join(status_packet(i, 0, p) for i, p in packets)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=6)))
    reader, got = PacketReader(), []
    for a, b in zip([0] + cuts, cuts + [len(stream)]):
        got += reader.feed(stream[a:b])
    assert [(p.servo_id, p.params) for p in got] == [(i, p) for i, p in packets]


@given(st.binary(max_size=300))
def test_garbage_never_raises_and_whatever_the_reader_returns_checks_out(noise):
    reader = PacketReader()
    for p in reader.feed(noise) + reader.feed(noise[::-1]):
        assert build_packet(p.servo_id, p.instruction, p.params)  # a well-formed packet: it re-encodes
    assert len(reader.buffer) <= 300 * 2


@given(st.lists(st.binary(max_size=30).map(lambda b: b.replace(b"\xff", b"")), min_size=2, max_size=5))
def test_a_packet_after_garbage_without_headers_is_found(chunks):
    good = build_packet(3, Instruction.PING)
    stream = b"".join(c + good for c in chunks)
    assert [p.servo_id for p in PacketReader().feed(stream)] == [3] * len(chunks)


def test_a_bad_checksum_is_counted_and_the_packet_after_it_kept():
    bad = bytearray(build_packet(1, Instruction.PING))
    bad[-1] ^= 0xFF
    reader = PacketReader()
    assert [p.servo_id for p in reader.feed(bytes(bad) + build_packet(2, Instruction.PING))] == [2]
    assert reader.checksum_errors == 1


@given(st.integers(-2047, 2047))
def test_sign_magnitude_round_trips_and_agrees_with_the_sdk(value):
    raw = to_sign_magnitude(value, 11)
    assert from_sign_magnitude(raw, 11) == value and 0 <= raw < 1 << 12
    assert raw == scs.SCS_TOSCS(value, 11) and scs.SCS_TOHOST(raw, 11) == value


def test_sign_magnitude_refuses_what_does_not_fit_and_examples():
    assert to_sign_magnitude(-1, 15) == 0x8001 and from_sign_magnitude(0x8001, 15) == -1
    with pytest.raises(ValueError, match="does not fit"):
        to_sign_magnitude(2048, 11)
    with pytest.raises(ValueError):
        build_packet(300, Instruction.PING)
    assert error_text(0x24) == "overheated, overloaded"
