"""The recorder process: binds a PULL socket, decodes typed messages, writes episodes.

Runs until SIGINT/SIGTERM (then finishes an open episode as 'aborted'). Malformed messages are
counted and skipped. The socket's receive queue (RCVHWM, 200 messages) is small on purpose: when it
is full the sender (``teleop.record_sink.RecordForwarder``) waits and its backlog stays in the
runtime's process, so a kill of this process loses at most that queue plus the sender's, never a
burst's worth of episodes; the control loop itself never waits. A one-line status goes to stderr every
``status_every`` seconds and a JSON summary to stdout at exit.
"""

from __future__ import annotations

import logging
import signal
import sys
import time
from pathlib import Path

import zmq

from hgdagger.common import curve, wire
from recorder.recording_session import RecordingSession

log = logging.getLogger("hgd.recorder")


def serve(endpoint: str, folder: Path, *, round_index: int | None = None, compression: str | None = "lzf",
          flush_interval: float = 0.5, status_every: float = 10.0, hwm: int = 200,
          max_seconds: float | None = None, ready_file: Path | None = None,
          image_compression: str | None = None, curve_secret: str | None = None,
          curve_clients: str | None = None) -> dict:
    """Record from ``endpoint`` into ``folder`` until stopped; returns the final stats. With
    ``curve_secret`` only senders whose public keys are in ``curve_clients`` are heard."""
    session = RecordingSession(folder, round_index, compression, flush_interval, image_compression=image_compression)
    ctx = zmq.Context.instance()
    sock = ctx.socket(zmq.PULL)
    sock.setsockopt(zmq.RCVHWM, hwm)
    sock.setsockopt(zmq.RCVBUF, 64 * 1024)  # what the kernel holds for us is in flight too: kept small
    sock.setsockopt(zmq.LINGER, 0)
    sock.setsockopt(zmq.MAXMSGSIZE, wire.DEFAULT_LIMITS.hard_frame_limit)
    auth = None
    try:
        if curve_secret:
            auth = curve.secure_server(ctx, sock, curve_secret, curve_clients)
        sock.bind(endpoint)
    except (zmq.ZMQError, curve.CurveError) as e:
        session.close()
        if auth is not None:
            auth.stop()
        raise RuntimeError(f"cannot bind {endpoint}: {e}") from None
    stop = {"now": False}

    def on_signal(signum, frame):  # noqa: ARG001
        stop["now"] = True

    old = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    if ready_file is not None:
        Path(ready_file).write_text("ready")
    print(f"hgd-record: listening on {endpoint}, writing episodes to {folder} (ctrl-c to stop)", flush=True)
    t_end = None if max_seconds is None else time.monotonic() + max_seconds
    next_status = time.monotonic() + status_every
    poller = zmq.Poller()
    poller.register(sock, zmq.POLLIN)
    try:
        while not stop["now"] and (t_end is None or time.monotonic() < t_end):
            if poller.poll(50):
                for _ in range(256):  # drain a burst, then give the flush timer a turn
                    try:
                        frames = sock.recv_multipart(zmq.NOBLOCK, copy=False)
                    except zmq.Again:
                        break
                    try:
                        msg = wire.decode(frames)
                    except wire.WireError as e:
                        session.stats.bad_messages += 1
                        log.warning("bad message skipped: %s", e)
                        continue
                    session.handle(msg)
            session.tick()
            if time.monotonic() >= next_status:
                next_status += status_every
                s = session.stats
                print(f"[hgd-record] episodes {s.episodes_finished}  steps {s.steps_written}  "
                      f"gaps {s.step_gaps}  refused {s.records_refused}" + (f"  ERROR {s.error}" if s.error else ""),
                      file=sys.stderr, flush=True)
    finally:
        for s, h in old.items():
            signal.signal(s, h)
        session.close()
        sock.close()
        if auth is not None:
            auth.stop()
    return session.stats.as_dict() | {"files": [str(p) for p in session.finished]}
