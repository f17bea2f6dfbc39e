"""Protocol 2.0 framing: CRC, byte stuffing and packets, against the e-Manual's examples and the SDK."""

from __future__ import annotations

import pytest
from dynamixel_sdk.protocol2_packet_handler import Protocol2PacketHandler
from hypothesis import given
from hypothesis import strategies as st

from teleop.dynamixel.protocol import (HEADER, Instruction, PacketReader, build_packet, crc16, status_packet, stuff,
                                       unstuff)

SDK = Protocol2PacketHandler()
# Bytes biased towards FF/FD so header-like runs are common.
tricky = st.lists(st.sampled_from([0xFF, 0xFD, 0x00, 0x55]) | st.integers(0, 255), max_size=64).map(bytes)


def test_packets_match_the_e_manual_examples_byte_for_byte():
    # e-Manual Protocol 2.0: "Ping" example for ID 1 and "Read" of Present Position (132, 4 bytes).
    assert build_packet(1, Instruction.PING).hex(" ") == "ff ff fd 00 01 03 00 01 19 4e"
    assert build_packet(1, Instruction.READ, bytes([0x84, 0x00, 0x04, 0x00])).hex(" ") == \
        "ff ff fd 00 01 07 00 02 84 00 04 00 1d 15"


@given(st.binary(max_size=200))
def test_crc_equals_the_sdk_table_crc(data):
    assert crc16(data) == SDK.updateCRC(0, list(data), len(data))


@given(tricky)
def test_unstuff_inverts_stuff(payload):
    assert unstuff(stuff(payload)) == payload


@given(tricky)
def test_stuffed_payload_never_contains_a_bare_header(payload):
    s = stuff(payload)
    for i in range(len(s) - 3):
        if s[i:i + 3] == HEADER[:3]:
            assert s[i + 3] == 0xFD


@given(tricky)
def test_stuffing_agrees_with_the_sdk(params):
    ours = build_packet(3, Instruction.WRITE, params)
    # The SDK stuffs and CRCs in txPacket; rebuild its packet the way txPacket does.
    length = len(params) + 3
    raw = [0xFF, 0xFF, 0xFD, 0x00, 3, length & 0xFF, length >> 8, Instruction.WRITE] + list(params) + [0, 0]
    raw = SDK.addStuffing(raw)
    total = (raw[5] | raw[6] << 8) + 7
    crc = SDK.updateCRC(0, raw, total - 2)
    raw[total - 2], raw[total - 1] = crc & 0xFF, crc >> 8
    assert ours == bytes(raw[:total])


def test_stuffing_example():
    assert stuff(bytes([0xFF, 0xFF, 0xFD, 0x01])) == bytes([0xFF, 0xFF, 0xFD, 0xFD, 0x01])
    assert stuff(bytes([0xFF, 0xFF, 0xFF, 0xFD])) == bytes([0xFF, 0xFF, 0xFF, 0xFD, 0xFD])


@given(st.lists(st.tuples(st.integers(0, 252), tricky), min_size=1, max_size=5), st.data())
def test_reader_recovers_every_packet_from_any_split_of_the_stream(packets, data):
    stream = b"\x00\x13" + b"".join(status_packet(i, 0, p) for i, p in packets)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=6)))
    reader, got = PacketReader(), []
    for a, b in zip([0] + cuts, cuts + [len(stream)]):
        got += reader.feed(stream[a:b])
    assert [(p.servo_id, p.error, p.data) for p in got] == [(i, 0, p) for i, p in packets]


def test_reader_drops_a_corrupt_packet_and_keeps_the_next():
    good = build_packet(2, Instruction.PING)
    bad = bytearray(build_packet(1, Instruction.PING))
    bad[-1] ^= 0xFF
    reader = PacketReader()
    got = reader.feed(bytes(bad) + good)
    assert [p.servo_id for p in got] == [2] and reader.crc_errors == 1


def test_status_packet_is_what_the_sdk_accepts():
    pkt = list(status_packet(7, 0, bytes([0xFF, 0xFF, 0xFD, 0x10])))
    assert SDK.updateCRC(0, pkt, len(pkt) - 2) == pkt[-2] | pkt[-1] << 8
    assert SDK.removeStuffing(pkt)[9:13] == [0xFF, 0xFF, 0xFD, 0x10]


def test_bad_ids_are_refused():
    with pytest.raises(ValueError):
        build_packet(300, Instruction.PING)
