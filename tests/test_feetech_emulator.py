"""The Feetech emulator answers what the feetech-servo-sdk sends, as the STS manual describes it,
through the SDK's own port handler on a real pty."""

from __future__ import annotations

import os
import time

import pytest
import scservo_sdk as scs
from hypothesis import given, settings
from hypothesis import strategies as st

from teleop.feetech import control_table as ct
from teleop.feetech.emulator import EmulatedServo, PtyBus, ServoChain
from teleop.feetech.protocol import Instruction, build_packet

MODEL = ct.model("STS3215")


@pytest.fixture
def sdk():
    chain = ServoChain([EmulatedServo(i, MODEL, tau_s=0.01) for i in (1, 2, 3)])
    with PtyBus(chain) as bus:
        port = scs.PortHandler(bus.port)  # the SDK's own port handler, unchanged
        assert port.openPort() and port.setBaudRate(1_000_000)
        yield port, scs.PacketHandler(0), chain, bus
        port.closePort()


def test_ping_reads_the_model_number_and_reads_and_writes_land(sdk):
    port, ph, chain, _ = sdk
    assert ph.ping(port, 2) == (777, scs.COMM_SUCCESS, 0)
    assert ph.write1ByteTxRx(port, 2, ct.ACCELERATION.address, 200) == (scs.COMM_SUCCESS, 0)
    assert ph.read1ByteTxRx(port, 2, ct.ACCELERATION.address)[:2] == (200, scs.COMM_SUCCESS)
    assert ph.read2ByteTxRx(port, 3, ct.PRESENT_POSITION.address)[:2] == (2048, scs.COMM_SUCCESS)
    assert ph.ping(port, 9)[1] != scs.COMM_SUCCESS  # nobody there


def test_sync_read_and_sync_write_move_the_servos(sdk):
    port, ph, chain, _ = sdk
    writer = scs.GroupSyncWrite(port, ph, ct.TORQUE_ENABLE.address, 1)
    for i in (1, 2, 3):
        writer.addParam(i, [1])
    assert writer.txPacket() == scs.COMM_SUCCESS
    goals = scs.GroupSyncWrite(port, ph, ct.GOAL_POSITION.address, 2)
    for i, goal in ((1, 1000), (2, 3000), (3, 2048)):
        goals.addParam(i, [goal & 0xFF, goal >> 8])
    assert goals.txPacket() == scs.COMM_SUCCESS
    time.sleep(0.1)  # ten time constants
    reader = scs.GroupSyncRead(port, ph, ct.PRESENT_POSITION.address, 2)
    for i in (1, 2, 3):
        reader.addParam(i)
    assert reader.txRxPacket() == scs.COMM_SUCCESS
    assert [reader.getData(i, ct.PRESENT_POSITION.address, 2) for i in (1, 2, 3)] == [1000, 3000, 2048]


def test_reg_write_waits_for_action(sdk):
    port, ph, chain, _ = sdk
    ph.write1ByteTxRx(port, 1, ct.TORQUE_ENABLE.address, 1)
    assert ph.regWriteTxRx(port, 1, ct.GOAL_POSITION.address, 2, [0x00, 0x0C])[0] == scs.COMM_SUCCESS  # 3072
    time.sleep(0.05)
    assert ph.read2ByteTxRx(port, 1, ct.GOAL_POSITION.address)[0] == 2048
    ph.action(port, 0xFE)
    time.sleep(0.1)
    assert abs(ph.read2ByteTxRx(port, 1, ct.PRESENT_POSITION.address)[0] - 3072) <= 1


def test_homing_offset_shifts_present_position_and_the_servo_holds_its_limits(sdk):
    port, ph, chain, _ = sdk
    servo = chain.servos[1]
    ph.write1ByteTxRx(port, 1, ct.LOCK.address, 0)
    ph.write2ByteTxRx(port, 1, ct.HOMING_OFFSET.address, scs.SCS_TOSCS(-100, 11))  # Present = actual - offset
    assert ph.read2ByteTxRx(port, 1, ct.PRESENT_POSITION.address)[0] == 2148
    assert servo.get(ct.HOMING_OFFSET) == -100
    ph.write2ByteTxRx(port, 1, ct.MAX_POSITION_LIMIT.address, 2500)
    ph.write1ByteTxRx(port, 1, ct.TORQUE_ENABLE.address, 1)
    ph.write2ByteTxRx(port, 1, ct.GOAL_POSITION.address, 4000)
    time.sleep(0.1)
    assert abs(ph.read2ByteTxRx(port, 1, ct.PRESENT_POSITION.address)[0] - 2500) <= 1  # clipped to its limit


def test_eeprom_reaches_flash_only_while_unlocked(sdk):
    port, ph, chain, _ = sdk
    servo = chain.servos[2]
    ph.write2ByteTxRx(port, 2, ct.MIN_POSITION_LIMIT.address, 100)  # locked (the power-up state): RAM only
    ph.write1ByteTxRx(port, 2, ct.LOCK.address, 0)
    ph.write2ByteTxRx(port, 2, ct.MAX_POSITION_LIMIT.address, 3900)  # unlocked: kept
    ph.write1ByteTxRx(port, 2, ct.TORQUE_ENABLE.address, 1)
    ph.write2ByteTxRx(port, 2, ct.MODEL_NUMBER.address, 5)  # read-only: ignored
    servo.power_cycle()
    assert servo.get(ct.MIN_POSITION_LIMIT) == 0 and servo.get(ct.MAX_POSITION_LIMIT) == 3900
    assert servo.get(ct.TORQUE_ENABLE) == 0 and servo.get(ct.LOCK) == 1 and servo.get(ct.MODEL_NUMBER) == 777


def test_present_velocity_and_load_are_sign_magnitude(sdk):
    port, ph, chain, _ = sdk
    ph.write1ByteTxRx(port, 3, ct.TORQUE_ENABLE.address, 1)
    ph.write2ByteTxRx(port, 3, ct.GOAL_POSITION.address, 1500)  # moving down: negative speed, negative load
    time.sleep(0.005)
    raw_vel, comm, _ = ph.read2ByteTxRx(port, 3, ct.PRESENT_VELOCITY.address)
    raw_load, _, _ = ph.read2ByteTxRx(port, 3, ct.PRESENT_LOAD.address)
    assert comm == scs.COMM_SUCCESS and raw_vel & 0x8000 and scs.SCS_TOHOST(raw_vel, 15) < 0
    assert raw_load & 0x400 and scs.SCS_TOHOST(raw_load, 10) < 0


def test_bad_checksums_are_caught_by_the_sdk(sdk):
    port, ph, chain, _ = sdk
    chain.faults.corrupt_rate = 1.0
    # (A loaded machine can delay a reply past the SDK's ~34 ms timeout: a timeout is no verdict.)
    results = {ph.ping(port, 1)[1] for _ in range(5)}
    assert scs.COMM_RX_CORRUPT in results and scs.COMM_SUCCESS not in results, results
    chain.faults.corrupt_rate = 0.0
    assert scs.COMM_SUCCESS in {ph.ping(port, 1)[1] for _ in range(5)}


@settings(max_examples=25)
@given(st.binary(max_size=200))
def test_garbage_on_the_wire_never_stops_the_servos_answering(noise):
    chain = ServoChain([EmulatedServo(1, MODEL)])
    with PtyBus(chain) as bus:
        fd = os.open(bus.path, os.O_RDWR | os.O_NOCTTY)
        try:
            # noise, then a READ far enough behind that a false header in the noise has been resolved
            os.write(fd, noise + b"\x00" * 260 + build_packet(1, Instruction.READ, bytes([ct.MODEL_NUMBER.address, 2])))
            deadline, got = time.monotonic() + 2.0, b""
            while b"\xff\xff\x01\x04\x00\x09\x03" not in got and time.monotonic() < deadline:
                got += os.read(fd, 512) if _readable(fd) else b""
        finally:
            os.close(fd)
    assert b"\xff\xff\x01\x04\x00\x09\x03" in got  # status of servo 1: error 0, model 777 (0x0309)


def _readable(fd: int) -> bool:
    import select

    return bool(select.select([fd], [], [], 0.05)[0])
