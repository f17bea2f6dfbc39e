"""Forward the runtime's step records to a recorder process over ZeroMQ (DEALER to its ROUTER).

A thread drains the runtime's bounded RecordQueue and sends each message with ``wire.send``. The
recorder answers a ``RecorderHello`` (``probe``: is anyone recording?) and each episode's end with
the file it wrote, or why it wrote none (``wait_saved``): a session says an episode is saved only
when the recorder has said so.
Back-pressure, not loss: the PUSH socket holds at most ``hwm`` messages for a slow or absent
recorder; when it is full the thread waits, and the backlog stays in the runtime's RecordQueue, in
this process, where a recorder crash cannot reach it (a restarted recorder receives it). Only when
that queue is full too does the runtime drop new records, counted (the control loop never waits).
So a recorder killed during a burst loses at most what was in flight beyond this process: ``hwm``
messages here plus the recorder's own receive queue.

Every frame is copied into its ZeroMQ message by libzmq with the GIL released, not sent zero-copy:
a zero-copy send leaves the array to pyzmq's garbage-collector thread, a Python thread that wakes
for every frame libzmq lets go of and needs the GIL to drop it, each wake a chance to hold the GIL
just when the control loop's tick is due. A record's frames are small (cameras record at the
policy's resolution: ``teleop.cameras.CameraConfig.record_size``), so the copy costs microseconds.
The thread shares the GIL with the control loop, so a real-time loop gives it a SCHED_FIFO priority
below its own (``rt_priority``), as it does its chunk fetcher's.
"""

from __future__ import annotations

import logging
import threading
import time

import zmq

from hgdagger.common import curve, wire
from hgdagger.common.record_queue import RecordQueue
from teleop.timing import set_thread_priority

log = logging.getLogger("hgd.records")

COPY_ALWAYS = 2**31 - 1  # pyzmq copies frames below this many bytes (its default: 64 KiB)


class RecordForwarder:
    def __init__(self, records: RecordQueue, endpoint: str, hwm: int = 100, ctx: zmq.Context | None = None,
                 curve_server_public_file: str | None = None, curve_client_secret_file: str | None = None,
                 rt_priority: int | None = None) -> None:
        """With the recorder's public key (and this robot's secret key) the stream is encrypted and
        the recorder admits it only if it knows this robot's public key. ``rt_priority``: the
        thread's SCHED_FIFO priority (None: the normal scheduler); it may be changed at any time and
        the thread applies it before its next record."""
        self.records = records
        self.rt_priority = rt_priority
        self.scheduler = "normal scheduler"  # what the thread runs under now
        self._priority: int | None = None
        self.sock = (ctx or zmq.Context.instance()).socket(zmq.DEALER)
        self.sock.setsockopt(zmq.SNDHWM, hwm)
        self.sock.setsockopt(zmq.LINGER, 2000)  # give queued records 2 s to leave at shutdown
        self.sock.setsockopt(zmq.IMMEDIATE, 1)  # nothing queued for a recorder that is not connected
        self.sock.setsockopt(zmq.SNDBUF, 64 * 1024)  # the kernel's share of what is in flight, kept small too
        self.sock.copy_threshold = COPY_ALWAYS  # see the module docstring
        self.sock.setsockopt(zmq.MAXMSGSIZE, 1 << 20)  # acks are small: anything bigger is not one
        if curve_server_public_file:
            curve.secure_client(self.sock, curve_server_public_file, curve_client_secret_file)
        self.sock.connect(endpoint)
        self.sent = 0
        self.dropped = 0  # only at close, when the recorder never came back for what was left
        self.waits = 0
        self._seq = wire.Sequencer()
        self._acks: dict[str, wire.RecorderAck] = {}  # episode id -> the recorder's answer to its end
        self._hello: wire.RecorderAck | None = None
        self._answered = threading.Condition()
        self._stop = threading.Event()
        self._give_up = threading.Event()
        self._thread = threading.Thread(target=self._run, name="hgd-records", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not (self._stop.is_set() and self.records.empty()):
            if self.rt_priority != self._priority:  # only this thread can change its own scheduling
                self._priority = self.rt_priority
                self.scheduler = set_thread_priority(self._priority)
            self._read_acks()
            msg = self.records.get(timeout=0.1)
            if msg is None:
                continue
            seq = self._seq.next()
            while True:
                try:
                    wire.send(self.sock, msg, flags=zmq.NOBLOCK, seq=seq)
                    self.sent += 1
                    break
                except zmq.Again:  # the recorder is behind or gone: wait, the backlog stays in our queue
                    if self._stop.is_set() and self._give_up.is_set():
                        self.dropped += 1
                        break
                    self._read_acks()
                    self.waits += 1
                    if self.waits in (10, 100) or self.waits % 10_000 == 0:  # a second, ten: not the connect
                        log.warning("recorder not keeping up or not reachable: holding %d records",
                                    self.records.size())
                    self.sock.poll(100, zmq.POLLOUT)

    def _read_acks(self) -> None:
        """Take the recorder's answers off the socket (this thread owns it); anything else is ignored."""
        while self.sock.poll(0, zmq.POLLIN):
            try:
                msg = wire.decode(self.sock.recv_multipart(copy=False))
            except (wire.WireError, zmq.ZMQError) as e:
                log.warning("ignored a bad message from the recorder: %s", e)
                continue
            if not isinstance(msg, wire.RecorderAck):
                continue
            with self._answered:
                if msg.kind == "hello":
                    self._hello = msg
                else:
                    self._acks[msg.header.episode_id] = msg
                self._answered.notify_all()

    def probe(self, timeout_s: float = 3.0) -> wire.RecorderAck | None:
        """Ask the recorder whether it is there (its answer names the folder it writes to); None when
        nobody answered within ``timeout_s``."""
        with self._answered:
            self._hello = None
        self.records.put(wire.RecorderHello())
        return self._wait(lambda: self._hello, timeout_s)

    def wait_saved(self, episode_id: str, timeout_s: float = 5.0) -> wire.RecorderAck | None:
        """The recorder's answer to this episode's end (its file, or why none), or None when it has
        not answered within ``timeout_s`` (unreachable, or still behind)."""
        return self._wait(lambda: self._acks.pop(episode_id, None), timeout_s)

    def _wait(self, answer, timeout_s: float):
        deadline = time.monotonic() + timeout_s
        with self._answered:
            while (got := answer()) is None:
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self._answered.wait(left)
            return got

    def close(self, timeout: float = 5.0) -> None:
        """Send what is queued (waiting up to `timeout` for a slow recorder), then close; what the
        recorder never took by then is dropped and counted."""
        self._stop.set()
        self._thread.join(timeout=timeout)
        self._give_up.set()
        self._thread.join(timeout=1.0)
        self.sock.close()
