"""The emulator answers every instruction the SDK sends, as the e-Manual describes it."""

from __future__ import annotations

import time

import pytest
from dynamixel_sdk import (COMM_SUCCESS, GroupBulkRead, GroupBulkWrite, PacketHandler, PortHandler)

from teleop.dynamixel import control_table as ct
from teleop.dynamixel.emulator import EmulatedServo, PtyBus, ServoChain
from teleop.dynamixel.protocol import PacketReader, build_packet, Instruction

MODEL = ct.model("XM430-W350")


@pytest.fixture
def sdk():
    chain = ServoChain([EmulatedServo(i, MODEL, tau_s=0.01) for i in (1, 2, 3)])
    with PtyBus(chain) as bus:
        port = PortHandler(bus.port)  # the SDK's own port handler, unchanged
        assert port.openPort() and port.setBaudRate(1_000_000)
        yield port, PacketHandler(2.0), chain
        port.closePort()


def test_ping_read_write_and_broadcast_ping(sdk):
    port, ph, chain = sdk
    number, comm, err = ph.ping(port, 2)
    assert (number, comm, err) == (MODEL.number, COMM_SUCCESS, 0)
    assert ph.write1ByteTxRx(port, 2, ct.LED.address, 1) == (COMM_SUCCESS, 0)
    assert ph.read1ByteTxRx(port, 2, ct.LED.address)[:2] == (1, COMM_SUCCESS)
    found, comm = ph.broadcastPing(port)
    assert comm == COMM_SUCCESS and sorted(found) == [1, 2, 3]
    assert ph.ping(port, 9)[1] != COMM_SUCCESS  # nobody there


def test_bulk_read_and_bulk_write(sdk):
    port, ph, chain = sdk
    writer = GroupBulkWrite(port, ph)
    writer.addParam(1, ct.TORQUE_ENABLE.address, 1, [1])
    writer.addParam(3, ct.LED.address, 1, [1])
    assert writer.txPacket() == COMM_SUCCESS
    reader = GroupBulkRead(port, ph)
    reader.addParam(1, ct.TORQUE_ENABLE.address, 1)
    reader.addParam(3, ct.PRESENT_POSITION.address, 4)
    assert reader.txRxPacket() == COMM_SUCCESS
    assert reader.getData(1, ct.TORQUE_ENABLE.address, 1) == 1
    assert reader.getData(3, ct.PRESENT_POSITION.address, 4) == 2048
    assert chain.servos[3].get(ct.LED) == 1


def test_reg_write_waits_for_action_and_the_servo_moves_first_order(sdk):
    port, ph, chain = sdk
    assert ph.write1ByteTxRx(port, 1, ct.TORQUE_ENABLE.address, 1) == (COMM_SUCCESS, 0)
    assert ph.regWriteTxRx(port, 1, ct.GOAL_POSITION.address, 4, [0x00, 0x0C, 0, 0])[0] == COMM_SUCCESS  # 3072
    time.sleep(0.05)
    assert ph.read4ByteTxRx(port, 1, ct.GOAL_POSITION.address)[0] == 2048
    ph.action(port, 0xFE)
    time.sleep(0.01)  # one time constant: ~63% of the way
    mid = ph.read4ByteTxRx(port, 1, ct.PRESENT_POSITION.address)[0]
    assert 2048 + 0.4 * 1024 < mid < 2048 + 0.9 * 1024
    time.sleep(0.1)
    assert abs(ph.read4ByteTxRx(port, 1, ct.PRESENT_POSITION.address)[0] - 3072) <= 1


def test_errors_come_back_in_the_status_error_byte(sdk):
    port, ph, chain = sdk
    ph.write1ByteTxRx(port, 2, ct.TORQUE_ENABLE.address, 1)
    comm, err = ph.write1ByteTxRx(port, 2, ct.OPERATING_MODE.address, 1)
    assert comm == COMM_SUCCESS and err == 7  # access: EEPROM with torque on
    assert ph.write2ByteTxRx(port, 2, ct.MODEL_NUMBER.address, 5)[1] == 7  # read-only
    assert ph.reboot(port, 2)[0] == COMM_SUCCESS and chain.servos[2].get(ct.TORQUE_ENABLE) == 0


def test_corrupt_replies_are_caught_by_the_sdk_crc_check(sdk):
    port, ph, chain = sdk
    chain.faults.corrupt_rate = 1.0
    assert ph.ping(port, 1)[1] != COMM_SUCCESS
    chain.faults.corrupt_rate = 0.0
    assert ph.ping(port, 1)[1] == COMM_SUCCESS
    reader = PacketReader()
    reply = chain.handle(reader.feed(build_packet(1, Instruction.PING))[0], time.monotonic())
    assert reader.feed(reply)[0].data == bytes([MODEL.number & 0xFF, MODEL.number >> 8, 52])
