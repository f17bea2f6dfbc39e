"""One Feetech bus on the official SDK: open, identify, configure, sync read state, sync write goals.

Packets, checksums, timeouts and group sync read/write are the ``feetech-servo-sdk`` package's
(``scservo_sdk``), unchanged. As for Dynamixel, our ``Port`` subclass of its ``PortHandler`` changes
the serial port only: an exclusive lock (a second process gets "busy"), the configured latency timer
in the reply timeout instead of a fixed 16 ms, reads that wait in ``select`` for up to 1 ms instead
of spinning a core (the SDK opens the port with ``timeout=0`` and polls it), and ``clearPort`` that
drops unread input (the SDK's only flushes output, so a late reply would be taken for the next).
``CheckedPackets`` refuses a status packet whose length is not the one asked for (the SDK slices
whatever came). The connect, fault and message logic is the Dynamixel bus's (``DynamixelBus``):
the same retries and the same words, with Feetech's tool named where Dynamixel Wizard is.
"""

from __future__ import annotations

import logging
from dataclasses import replace

import numpy as np
import scservo_sdk as scs
from scservo_sdk.protocol_packet_handler import protocol_packet_handler

from teleop.dynamixel.bus import PORT_ERRORS, BusError, BusLost, DynamixelBus, NoReply, ServoInfo, _explain_open_error
from teleop.dynamixel.config import BusConfig
from teleop.serial_port import QuietPort
from teleop.feetech import control_table as ct
from teleop.feetech.protocol import error_text, from_sign_magnitude, to_sign_magnitude

log = logging.getLogger("hgd.feetech")

# The rates an STS servo can be set to, fastest first; a bus where nothing answers is tried at each.
STANDARD_BAUDS = tuple(sorted(ct.BAUD_CODES, reverse=True))
TOOL = "Feetech's FD software"  # where Dynamixel says "Dynamixel Wizard"

_COMM_WORDS = {
    scs.COMM_RX_TIMEOUT: "no reply (no status packet came back in time)",
    scs.COMM_RX_CORRUPT: "a garbled reply (bad checksum: electrical noise, a loose connector, or two servos with one ID)",
    scs.COMM_RX_FAIL: "no reply",
    scs.COMM_TX_FAIL: "the instruction could not be sent (is the adapter still plugged in?)",
    scs.COMM_PORT_BUSY: "the port was busy with another transfer",
    scs.COMM_TX_ERROR: "an invalid instruction packet (a bug in this program: please report it)",
}


def comm_text(comm: int) -> str:
    """One SDK result code in plain words."""
    return _COMM_WORDS.get(comm, f"communication error {comm}")


class CheckedPackets(protocol_packet_handler):
    """The SDK's STS packet handler, but a read answered with another number of bytes than asked
    for is refused as corrupt (a late reply to an earlier request), never sliced into a value."""

    refused = 0

    def _checked(self, port, data, result, error, length):
        if result == scs.COMM_SUCCESS and len(data) != length:
            port.clearPort()
            self.refused += 1
            return [], scs.COMM_RX_CORRUPT, 0
        return data, result, error

    def readTxRx(self, port, scs_id, address, length):  # noqa: N802 (SDK name)
        return self._checked(port, *super().readTxRx(port, scs_id, address, length), length)

    def readRx(self, port, scs_id, length):  # noqa: N802 (SDK name)
        return self._checked(port, *super().readRx(port, scs_id, length), length)


def new_packets() -> CheckedPackets:
    scs.PacketHandler(0)  # sets the SDK's (module-global) byte order to STS little endian
    return CheckedPackets()


class Port(QuietPort, scs.PortHandler):
    """The SDK's PortHandler, exclusive, not spinning, with the adapter's latency (teleop.serial_port)."""

    def clearPort(self):  # noqa: N802 (SDK name): the SDK flushes output only, so a late reply was read as the next
        self.ser.reset_input_buffer()


def open_port(config: BusConfig) -> Port:
    """Open the bus's serial port, or raise a BusError that says what to do."""
    port = Port(config.port, config.latency_ms)
    if port.getCFlagBaud(config.baudrate) <= 0 or config.baudrate not in ct.BAUD_CODES:
        raise BusError(f"baud rate {config.baudrate} is not one a Feetech STS servo can use "
                       f"(use {', '.join(str(b) for b in sorted(ct.BAUD_CODES))})")
    try:
        port.setBaudRate(config.baudrate)
    except PORT_ERRORS as exc:
        raise BusError(_explain_open_error(config.port, exc)) from None
    return port


class FeetechBus(DynamixelBus):
    """The STS servos of one arm on one port. All methods raise ``BusLost`` if the port disappears."""

    def __init__(self, config: BusConfig, models: dict[int, ct.Model], names: dict[int, str] | None = None):
        super().__init__(config, models, names)
        self.packets = new_packets()

    def open(self) -> None:
        self.close()
        self.port = open_port(self.config)
        self.packets = new_packets()
        self._reader = scs.GroupSyncRead(self.port, self.packets, ct.STATE_BLOCK.address, ct.STATE_BLOCK.size)
        for i in self.ids:
            self._reader.addParam(i)
        self._writer = scs.GroupSyncWrite(self.port, self.packets, ct.GOAL_POSITION.address, ct.GOAL_POSITION.size)

    def identify(self) -> list[ServoInfo]:
        """Ping every servo (the SDK's ping reads Model Number too) and check it against the config."""
        found = []
        for i in self.ids:
            number, result, _ = self._call(self.packets.ping, i, retries=self.config.retries)
            if result != scs.COMM_SUCCESS:
                raise NoReply(f"{self.label(i)} did not answer a ping at {self.config.baudrate} baud on {self.config.port}: "
                              f"check its cable and power, and that its ID and baud rate match the config")
            want = self.models[i]
            if number != want.number:
                raise BusError(f"{self.label(i)} is a {ct.model_name(number)}, but the config says {want.name} "
                               f"(model number {want.number}): fix the config or check the servo's ID")
            firmware = self.read(i, ct.FIRMWARE_MAJOR)
            if firmware < self.config.min_firmware:
                raise BusError(f"{self.label(i)} has firmware {firmware}, older than min_firmware "
                               f"{self.config.min_firmware}: update it with {TOOL}")
            found.append(ServoInfo(i, number, firmware))
        return found

    def read(self, servo_id: int, reg: ct.Register) -> int:
        fn = {1: self.packets.read1ByteTxRx, 2: self.packets.read2ByteTxRx}[reg.size]
        value, comm, error = self._call(fn, servo_id, reg.address, retries=self.config.retries)
        if comm != scs.COMM_SUCCESS:
            raise NoReply(f"reading {self.label(servo_id)} at address {reg.address}: {comm_text(comm)}")
        if error:
            raise BusError(f"{self.label(servo_id)} reports {error_text(error)} (reading address {reg.address}): "
                           f"check its power supply, load and temperature")
        return from_sign_magnitude(value, reg.sign_bit) if reg.sign_bit is not None else int(value)

    def write(self, servo_id: int, reg: ct.Register, value: int) -> None:
        fn = {1: self.packets.write1ByteTxRx, 2: self.packets.write2ByteTxRx}[reg.size]
        raw = to_sign_magnitude(int(value), reg.sign_bit) if reg.sign_bit is not None else int(value)
        if not 0 <= raw < 1 << (8 * reg.size):
            raise BusError(f"{value} does not fit register {reg.address} of {self.label(servo_id)}")
        comm, error = self._call(fn, servo_id, reg.address, raw, retries=self.config.retries)
        if comm != scs.COMM_SUCCESS:
            raise NoReply(f"writing {self.label(servo_id)} at address {reg.address}: {comm_text(comm)}")
        if error:
            raise BusError(f"{self.label(servo_id)} reports {error_text(error)} (writing address {reg.address}): "
                           f"check its power supply, load and temperature")

    def sync_read_state(self, retries: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        """(position steps, velocity steps/s, load in 0.1 %) of every servo in ``ids`` order, or None
        when every attempt failed (missed or corrupt status packets)."""
        retries = self.config.retries if retries is None else retries
        for attempt in range(retries + 1):
            self.stats["reads"] += 1
            try:
                comm = self._reader.txRxPacket()
            except PORT_ERRORS as exc:
                self.close()
                raise BusLost(f"serial port {self.config.port} went away: {exc}") from None
            except IndexError:  # a status packet too short for this read: a late reply; ask again
                self.stats["stale_replies"] += 1
                comm = scs.COMM_RX_CORRUPT
            if comm == scs.COMM_SUCCESS and all(len(self._reader.data_dict[i]) == ct.STATE_BLOCK.size for i in self.ids):
                g = self._reader.getData
                pos = [g(i, ct.PRESENT_POSITION.address, 2) for i in self.ids]
                vel = [from_sign_magnitude(g(i, ct.PRESENT_VELOCITY.address, 2), 15) for i in self.ids]
                load = [from_sign_magnitude(g(i, ct.PRESENT_LOAD.address, 2), 10) for i in self.ids]
                return np.array(pos, np.int64), np.array(vel, np.int64), np.array(load, np.int64)
            if attempt < retries:
                self.stats["read_retries"] += 1
            try:
                self.port.clearPort()
            except PORT_ERRORS as exc:
                self.close()
                raise BusLost(f"serial port {self.config.port} went away: {exc}") from None
        self.stats["read_failures"] += 1
        return None

    def sync_write_goal(self, ticks: np.ndarray) -> None:
        """Goal Position of every servo in one packet (no reply to wait for); 0..4095 per turn."""
        self._writer.clearParam()
        for i, t in zip(self.ids, ticks):
            t = int(min(max(int(t), 0), self.models[i].resolution - 1))
            self._writer.addParam(i, [t & 0xFF, t >> 8])
        try:
            comm = self._writer.txPacket()
        except PORT_ERRORS as exc:
            self.close()
            raise BusLost(f"serial port {self.config.port} went away: {exc}") from None
        self.stats["writes"] += 1
        if comm != scs.COMM_SUCCESS:
            raise BusLost(f"sync write on {self.config.port} failed: {comm_text(comm)}")

    def missing(self, retries: int = 0) -> list[int]:
        return [i for i in self.ids if self._call(self.packets.ping, i, retries=retries)[1] != scs.COMM_SUCCESS]

    def answering_elsewhere(self, ids: list[int]) -> dict[int, int]:
        """Which of ``ids`` answer a ping at another STS rate and still not at the configured one."""
        found: dict[int, int] = {}
        try:
            for rate in STANDARD_BAUDS:
                if rate == self.config.baudrate:
                    continue
                self.close()
                self.port = open_port(replace(self.config, baudrate=rate))
                for i in ids:
                    if i not in found and self._call(self.packets.ping, i)[1] == scs.COMM_SUCCESS:
                        found[i] = rate
                if len(found) == len(ids):
                    break
            if found:
                self.close()
                self.port = open_port(self.config)
                found = {i: rate for i, rate in found.items()
                         if self._call(self.packets.ping, i, retries=4)[1] != scs.COMM_SUCCESS}
        finally:
            self.close()
        return found

    def wrong_baud(self, silent: list[int]) -> str | None:
        text = super().wrong_baud(silent)
        return None if text is None else text.replace("Dynamixel Wizard", TOOL)

    def silence(self, silent: list[int], waited_s: float, tries: int) -> str:
        return super().silence(silent, waited_s, tries).replace("Dynamixel Wizard", TOOL)
