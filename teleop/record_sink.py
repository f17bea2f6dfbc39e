"""Forward the runtime's step records to a recorder process over ZeroMQ PUSH (one-way).

A thread drains the runtime's bounded RecordQueue and sends each message with ``wire.send``.
Drop policy: the PUSH socket holds at most ``hwm`` messages for a slow or absent recorder; beyond
that a message is dropped and counted rather than blocking (the recorder sees the gap in the
header sequence numbers). Records carry the images zero-copy.
"""

from __future__ import annotations

import logging
import threading

import zmq

from hgdagger.common import curve, wire
from hgdagger.common.record_queue import RecordQueue

log = logging.getLogger("hgd.records")


class RecordForwarder:
    def __init__(self, records: RecordQueue, endpoint: str, hwm: int = 10_000, ctx: zmq.Context | None = None,
                 curve_server_public_file: str | None = None, curve_client_secret_file: str | None = None) -> None:
        """With the recorder's public key (and this robot's secret key) the stream is encrypted and
        the recorder admits it only if it knows this robot's public key."""
        self.records = records
        self.sock = (ctx or zmq.Context.instance()).socket(zmq.PUSH)
        self.sock.setsockopt(zmq.SNDHWM, hwm)
        self.sock.setsockopt(zmq.LINGER, 2000)  # give queued records 2 s to leave at shutdown
        if curve_server_public_file:
            curve.secure_client(self.sock, curve_server_public_file, curve_client_secret_file)
        self.sock.connect(endpoint)
        self.sent = 0
        self.dropped = 0
        self._seq = wire.Sequencer()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="hgd-records", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not (self._stop.is_set() and self.records.empty()):
            msg = self.records.get(timeout=0.1)
            if msg is None:
                continue
            try:
                wire.send(self.sock, msg, flags=zmq.NOBLOCK, seq=self._seq.next())
                self.sent += 1
            except zmq.Again:
                self.dropped += 1
                if self.dropped in (1, 10, 100) or self.dropped % 1000 == 0:
                    log.warning("recorder not keeping up: %d records dropped", self.dropped)

    def close(self) -> None:
        """Send what is queued (bounded by the queue), then close."""
        self._stop.set()
        self._thread.join(timeout=5.0)
        self.sock.close()
