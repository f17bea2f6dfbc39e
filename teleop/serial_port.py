"""What both servo SDKs' port handlers get wrong for a control loop, fixed once (a mixin put before
either SDK's ``PortHandler``): the port is opened exclusively (a second process gets "busy", not
interleaved packets), a read waits on the serial driver instead of spinning a core, and the reply
timeout uses the adapter's real latency timer rather than the SDK's assumed 16 ms."""

from __future__ import annotations

import serial


class QuietPort:
    def __init__(self, port_name: str, latency_ms: float = 1.0, read_wait_s: float = 0.001):
        super().__init__(port_name)
        self.latency_ms = latency_ms
        self.read_wait_s = read_wait_s

    def setupPort(self, cflag_baud):  # noqa: N802 (SDK name)
        if self.is_open:
            self.closePort()
        self.ser = serial.Serial(port=self.port_name, baudrate=self.baudrate, bytesize=serial.EIGHTBITS,
                                 timeout=self.read_wait_s, exclusive=True)
        self.is_open = True
        self.ser.reset_input_buffer()
        self.tx_time_per_byte = (1000.0 / self.baudrate) * 10.0
        return True

    def setPacketTimeout(self, packet_length):  # noqa: N802 (SDK name)
        # The SDK's formula (bytes on the wire + 2 latency timers + 2 ms), with our latency.
        self.packet_start_time = self.getCurrentTime()
        self.packet_timeout = self.tx_time_per_byte * packet_length + self.latency_ms * 2.0 + 2.0
