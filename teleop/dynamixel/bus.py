"""One Dynamixel bus on the official SDK: open, identify, configure, sync read state, sync write goals.

Protocol work (packets, CRC, timeouts, group sync read/write) is the ``dynamixel_sdk`` package's,
unchanged. Our ``Port`` subclass of its ``PortHandler`` changes three things about the serial
port only: it opens it with an exclusive lock (a second process gets "busy", not garbled packets),
it uses the configured USB latency timer in the reply timeout (the SDK assumes 16 ms, the FTDI
default; set the adapter to 1 ms and a missed reply costs ~4 ms, so it can be retried inside one
control period), and its reads wait in ``select`` for up to 1 ms instead of spinning a core.
"""

from __future__ import annotations

import errno
import termios
import logging
from dataclasses import dataclass, replace

import numpy as np
import serial
from dynamixel_sdk.protocol2_packet_handler import PKT_LENGTH_H, PKT_LENGTH_L, Protocol2PacketHandler
from dynamixel_sdk.robotis_def import DXL_MAKEWORD
from dynamixel_sdk import (COMM_PORT_BUSY, COMM_RX_CORRUPT, COMM_RX_FAIL, COMM_RX_TIMEOUT, COMM_SUCCESS, COMM_TX_ERROR,
                           COMM_TX_FAIL, GroupSyncRead, GroupSyncWrite, PacketHandler, PortHandler)

from teleop.dynamixel import control_table as ct
from teleop.dynamixel.config import BusConfig
from teleop.serial_port import QuietPort

log = logging.getLogger("hgd.dynamixel")


# What a vanished port raises from inside pyserial (termios.error is not an OSError).
PORT_ERRORS = (serial.SerialException, OSError, termios.error)

# The rates the Dynamixel SDK can set; a bus where nothing answers is tried at each (wrong baud rate).
STANDARD_BAUDS = (57_600, 115_200, 1_000_000, 2_000_000, 3_000_000, 4_000_000)

# The SDK's result codes in words a person can act on ("[TxRxResult] There is no status packet!").
_COMM_WORDS = {
    COMM_RX_TIMEOUT: "no reply (no status packet came back in time)",
    COMM_RX_CORRUPT: "a garbled reply (bad checksum: electrical noise, a loose connector, or two servos with one ID)",
    COMM_RX_FAIL: "no reply",
    COMM_TX_FAIL: "the instruction could not be sent (is the adapter still plugged in?)",
    COMM_PORT_BUSY: "the port was busy with another transfer",
    COMM_TX_ERROR: "an invalid instruction packet (a bug in this program: please report it)",
}


class BusError(RuntimeError):
    """Something a person must fix before the arm can run (message says what)."""


class BusLost(BusError):
    """The port itself went away mid-run (adapter unplugged, emulator killed)."""


class NoReply(BusError):
    """A servo did not answer, or answered garbled. It may pass (power coming up, noise), so
    connecting retries it; a wrong port, model or firmware is a plain ``BusError``."""


def comm_text(comm: int) -> str:
    """One SDK result code in plain words."""
    return _COMM_WORDS.get(comm, f"communication error {comm}")


class CheckedPackets(Protocol2PacketHandler):
    """The SDK's Protocol 2.0 handler, but a read whose status packet carries another number of bytes
    than was asked for is refused as corrupt. Under load a reply can come after its request timed
    out; the SDK then takes it as the answer to the next read and slices past its end, yielding a
    garbage value (or an IndexError), which could become a goal position."""

    refused = 0  # status packets refused for their length (late replies), over this handler's life

    def rxPacket(self, port, skip_stuffing=False):  # noqa: N802 (SDK name)
        rxpacket, result = super().rxPacket(port, skip_stuffing)
        self.last_length = DXL_MAKEWORD(rxpacket[PKT_LENGTH_L], rxpacket[PKT_LENGTH_H]) if result == COMM_SUCCESS else -1
        return rxpacket, result

    def _checked(self, port, data, result, error, length):
        if result == COMM_SUCCESS and self.last_length != length + 4:  # instruction, error, data, CRC
            port.clearPort()  # what is buffered belongs to an earlier request
            self.refused += 1
            return [], COMM_RX_CORRUPT, 0
        return data, result, error

    def readTxRx(self, port, dxl_id, address, length):  # noqa: N802 (SDK name)
        return self._checked(port, *super().readTxRx(port, dxl_id, address, length), length)

    def readRx(self, port, dxl_id, length):  # noqa: N802 (SDK name)
        return self._checked(port, *super().readRx(port, dxl_id, length), length)


def packet_error_text(packets: PacketHandler, error: int) -> str:
    """The SDK's text for a servo's error byte, without its "[RxPacketError] " tag."""
    return packets.getRxPacketError(error).removeprefix("[RxPacketError] ")


class Port(QuietPort, PortHandler):
    """The SDK's PortHandler, exclusive, not spinning, with the adapter's latency (teleop.serial_port)."""


def open_port(config: BusConfig) -> Port:
    """Open the bus's serial port, or raise a BusError that says what to do."""
    port = Port(config.port, config.latency_ms)
    if port.getCFlagBaud(config.baudrate) <= 0:
        raise BusError(f"baud rate {config.baudrate} is not one the Dynamixel SDK can set "
                       f"(use 57600, 115200, 1000000, 2000000, 3000000 or 4000000)")
    try:
        port.setBaudRate(config.baudrate)
    except serial.SerialException as exc:
        raise BusError(_explain_open_error(config.port, exc)) from None
    except (OSError, termios.error) as exc:  # pyserial wraps these; should one slip through, say it the same way
        raise BusError(_explain_open_error(config.port, exc)) from None
    return port


def _explain_open_error(name: str, exc: Exception) -> str:
    text = str(exc)
    err = getattr(exc, "errno", None)
    if err == errno.ENOENT or "No such file" in text or "could not open port" in text and "[Errno 2]" in text:
        return (f"serial port {name} does not exist: is the USB adapter plugged in and powered? "
                f"(list adapters with: ls -l /dev/serial/by-id/)")
    if err == errno.EACCES or "Permission denied" in text:
        return f"no permission to open {name}: add yourself to the 'dialout' group (sudo usermod -aG dialout $USER), then log in again"
    if "lock" in text.lower() or err in (errno.EBUSY, errno.EAGAIN):
        return f"serial port {name} is busy: another process has it open (find it with: fuser {name})"
    if err in (errno.ENOTTY, errno.EISDIR) or "Inappropriate ioctl" in text or "Is a directory" in text:
        return (f"{name} is not a serial port: give the USB adapter's device, e.g. /dev/ttyUSB0 "
                f"(list adapters with: ls -l /dev/serial/by-id/)")
    return f"could not open serial port {name}: {text}"


@dataclass
class ServoInfo:
    id: int
    model_number: int
    firmware: int


class DynamixelBus:
    """The servos of one arm on one port. All methods raise ``BusLost`` if the port disappears."""

    def __init__(self, config: BusConfig, models: dict[int, ct.Model], names: dict[int, str] | None = None):
        self.config = config
        self.models = models
        self.ids = list(models)
        self.names = names or {i: f"id {i}" for i in self.ids}
        self.packets = CheckedPackets()
        self.port: Port | None = None
        self._reader: GroupSyncRead | None = None
        self._writer: GroupSyncWrite | None = None
        self.stats = {"reads": 0, "read_retries": 0, "read_failures": 0, "writes": 0, "stale_replies": 0}

    def label(self, servo_id: int) -> str:
        return f"servo {servo_id} ({self.names.get(servo_id, '?')})"

    # ------------------------------------------------------------ connect
    def open(self) -> None:
        self.close()
        self.port = open_port(self.config)
        self._reader = GroupSyncRead(self.port, self.packets, ct.STATE_BLOCK.address, ct.STATE_BLOCK.size)
        for i in self.ids:
            self._reader.addParam(i)
        self._writer = GroupSyncWrite(self.port, self.packets, ct.GOAL_POSITION.address, ct.GOAL_POSITION.size)

    def close(self) -> None:
        if self.port is not None:
            try:
                self.port.closePort()
            except Exception:  # noqa: BLE001 (a vanished port may fail to close; it is gone either way)
                pass
            self.port = None

    def identify(self) -> list[ServoInfo]:
        """Ping every servo and check model and firmware against the configuration."""
        found = []
        for i in self.ids:
            number, result, _ = self._call(self.packets.ping, i, retries=self.config.retries)
            if result != COMM_SUCCESS:
                raise NoReply(f"{self.label(i)} did not answer a ping at {self.config.baudrate} baud on {self.config.port}: "
                              f"check its cable and power, and that its ID and baud rate match the config")
            want = self.models[i]
            if number != want.number:
                raise BusError(f"{self.label(i)} is a {ct.model_name(number)}, but the config says {want.name} "
                               f"(model number {want.number}): fix the config or check the servo's ID")
            firmware = self.read(i, ct.FIRMWARE_VERSION)
            if firmware < self.config.min_firmware:
                raise BusError(f"{self.label(i)} has firmware {firmware}, older than min_firmware "
                               f"{self.config.min_firmware}: update it with ROBOTIS Dynamixel Wizard")
            found.append(ServoInfo(i, number, firmware))
        return found

    # ------------------------------------------------------------ single registers
    def _call(self, fn, *args, retries: int = 0):
        """Run one SDK transfer with retries; the last (result..., comm, error) tuple is returned."""
        corrupt = (COMM_RX_CORRUPT, 0) if fn.__name__.startswith("write") else (0, COMM_RX_CORRUPT, 0)
        out = corrupt
        for attempt in range(retries + 1):
            try:
                out = fn(self.port, *args)
            except PORT_ERRORS as exc:
                self.close()
                raise BusLost(f"serial port {self.config.port} went away: {exc}") from None
            except IndexError:  # the SDK indexed a status packet too short for this read: a late reply
                self.stats["stale_replies"] += 1  # to an earlier request; drop what is buffered and ask again
                self.port.clearPort()
                out = corrupt
                continue
            comm = out[-2]  # (value, comm, error) or (comm, error)
            if comm == COMM_SUCCESS:
                return out
        return out

    def read(self, servo_id: int, reg: ct.Register) -> int:
        fn = {1: self.packets.read1ByteTxRx, 2: self.packets.read2ByteTxRx, 4: self.packets.read4ByteTxRx}[reg.size]
        value, comm, error = self._call(fn, servo_id, reg.address, retries=self.config.retries)
        if comm != COMM_SUCCESS:
            raise NoReply(f"reading {self.label(servo_id)} at address {reg.address}: {comm_text(comm)}")
        if error & 0x7F:
            raise BusError(f"{self.label(servo_id)} refused a read of address {reg.address}: {packet_error_text(self.packets, error)}")
        if reg.signed and value >= 1 << (8 * reg.size - 1):
            value -= 1 << (8 * reg.size)
        return int(value)

    def write(self, servo_id: int, reg: ct.Register, value: int) -> None:
        fn = {1: self.packets.write1ByteTxRx, 2: self.packets.write2ByteTxRx, 4: self.packets.write4ByteTxRx}[reg.size]
        value = int(value) & ((1 << (8 * reg.size)) - 1)
        comm, error = self._call(fn, servo_id, reg.address, value, retries=self.config.retries)
        if comm != COMM_SUCCESS:
            raise NoReply(f"writing {self.label(servo_id)} at address {reg.address}: {comm_text(comm)}")
        if error & 0x7F:
            hint = " (EEPROM registers need torque off)" if (error & 0x7F) == 7 else ""
            raise BusError(f"{self.label(servo_id)} refused a write of address {reg.address}: "
                           f"{packet_error_text(self.packets, error)}{hint}")

    # ------------------------------------------------------------ every control step
    def sync_read_state(self, retries: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        """(position ticks, velocity units, current units) of every servo in ``ids`` order, or None
        when every attempt failed (missed or corrupt status packets)."""
        retries = self.config.retries if retries is None else retries
        for attempt in range(retries + 1):
            self.stats["reads"] += 1
            try:
                comm = self._reader.txRxPacket()
            except PORT_ERRORS as exc:
                self.close()
                raise BusLost(f"serial port {self.config.port} went away: {exc}") from None
            if comm == COMM_SUCCESS:
                g = self._reader.getData
                base = ct.STATE_BLOCK.address
                pos = np.array([g(i, ct.PRESENT_POSITION.address, 4) for i in self.ids], np.int64)
                vel = np.array([g(i, ct.PRESENT_VELOCITY.address, 4) for i in self.ids], np.int64)
                cur = np.array([g(i, base, 2) for i in self.ids], np.int64)
                return _signed(pos, 32), _signed(vel, 32), _signed(cur, 16)
            if attempt < retries:
                self.stats["read_retries"] += 1
            try:
                self.port.clearPort()  # a late reply must not be taken for the next one
            except PORT_ERRORS as exc:
                self.close()
                raise BusLost(f"serial port {self.config.port} went away: {exc}") from None
        self.stats["read_failures"] += 1
        return None

    def sync_write_goal(self, ticks: np.ndarray) -> None:
        """Goal Position of every servo in one packet (no reply to wait for)."""
        self._writer.clearParam()
        for i, t in zip(self.ids, ticks):
            self._writer.addParam(i, list(int(t).to_bytes(4, "little", signed=True)))
        try:
            comm = self._writer.txPacket()
        except PORT_ERRORS as exc:
            self.close()
            raise BusLost(f"serial port {self.config.port} went away: {exc}") from None
        self.stats["writes"] += 1
        if comm != COMM_SUCCESS:
            raise BusLost(f"sync write on {self.config.port} failed: {comm_text(comm)}")

    def missing(self, retries: int = 0) -> list[int]:
        """Ids that do not answer a ping now (diagnosis after failed reads)."""
        out = []
        for i in self.ids:
            _, comm, _ = self._call(self.packets.ping, i, retries=retries)
            if comm != COMM_SUCCESS:
                out.append(i)
        return out

    def answering_elsewhere(self, ids: list[int]) -> dict[int, int]:
        """Which of ``ids`` answer a ping at another standard baud rate, and still not at the
        configured one (a servo that was only late is no baud problem): {id: rate}. Reopens the
        port at each rate in turn and leaves it closed (``open`` restores the configured rate)."""
        found: dict[int, int] = {}
        try:
            for rate in STANDARD_BAUDS:
                if rate == self.config.baudrate:
                    continue
                self.close()
                self.port = open_port(replace(self.config, baudrate=rate))
                for i in ids:
                    if i not in found and self._call(self.packets.ping, i)[1] == COMM_SUCCESS:
                        found[i] = rate
                if len(found) == len(ids):
                    break
            if found:
                self.close()
                self.port = open_port(self.config)
                found = {i: rate for i, rate in found.items()  # 5 pings: a missed reply is no verdict
                         if self._call(self.packets.ping, i, retries=4)[1] != COMM_SUCCESS}
        finally:
            self.close()
        return found

    def wrong_baud(self, silent: list[int]) -> str | None:
        """What to change when servos in ``silent`` answer at another standard rate; None if none do."""
        elsewhere = self.answering_elsewhere(silent)
        if not elsewhere:
            return None
        want, rates = self.config.baudrate, sorted(set(elsewhere.values()))
        if len(silent) == len(self.ids) and len(rates) == 1:
            return (f"servos answer at {rates[0]} baud but the config says {want}: set bus.baudrate to {rates[0]} "
                    f"(or change the servos' baud rate with Dynamixel Wizard)")
        return "; ".join(f"{self.label(i)} answers at {rate} baud, not the bus's {want}: set its baud rate to {want} "
                         f"with Dynamixel Wizard" for i, rate in sorted(elsewhere.items()))

    def silence(self, silent: list[int], waited_s: float, tries: int) -> str:
        """Why connecting gave up on the servos in ``silent`` (none answered at any standard rate)."""
        where = f"at {self.config.baudrate} baud on {self.config.port} (nor at any other standard rate)"
        span = _span(waited_s, tries)
        if len(silent) == len(self.ids) > 1:
            return (f"no servo answered a ping {where} {span}: is the arm's power supply on (the USB adapter does "
                    f"not power the servos), is the cable from the adapter to the first servo seated, and are the "
                    f"servos' IDs {', '.join(map(str, silent))} (Dynamixel Wizard can scan for them)?")
        who = " and ".join(self.label(i) for i in silent)
        ids = ", ".join(map(str, silent))
        if len(silent) == 1:
            fix = f"check its cable and power, and that its ID is {ids} (Dynamixel Wizard can scan for it)"
        else:
            fix = f"check their cables and power, and that their IDs are {ids} (Dynamixel Wizard can scan for them)"
        return f"{who} did not answer a ping {where} {span}: {fix}"

    def unreliable(self, last: str, waited_s: float, tries: int) -> str:
        """Why connecting gave up when every servo answers a ping but replies keep going missing."""
        return (f"every servo on {self.config.port} answers a ping, but replies kept going missing or garbled "
                f"{_span(waited_s, tries)}; the last: {last}. Check the cables and connectors (noise or a loose "
                f"contact), that no two servos share an ID, and that the adapter's latency timer is at most "
                f"bus.latency_ms = {self.config.latency_ms:g} ms (FTDI: /sys/bus/usb-serial/devices/ttyUSB*/latency_timer)")


def _span(waited_s: float, tries: int) -> str:
    return f"in {waited_s:.1f} s ({tries} {'try' if tries == 1 else 'tries'})"


def _signed(values: np.ndarray, bits: int) -> np.ndarray:
    return np.where(values >= 1 << (bits - 1), values - (1 << bits), values)
