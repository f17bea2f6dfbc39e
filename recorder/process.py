"""The recorder process: binds a ROUTER socket, decodes typed messages, writes episodes.

Runs until SIGINT/SIGTERM (then finishes an open episode as 'aborted'), or, started by a session
command for itself (``parent_pid``), until that process is gone. Malformed messages are counted and
skipped. Senders are DEALER sockets (``teleop.record_sink.RecordForwarder``); the recorder answers
a ``RecorderHello`` (so a session can refuse to start without a recorder) and every ``EpisodeEnd``
with a ``RecorderAck`` naming the file written, or why there is none (so a session never reports an
episode saved that was not). The socket's receive queue (RCVHWM, 200 messages) is small on purpose: when it
is full the sender (``teleop.record_sink.RecordForwarder``) waits and its backlog stays in the
runtime's process, so a kill of this process loses at most that queue plus the sender's, never a
burst's worth of episodes; the control loop itself never waits. A one-line status goes to stderr every
``status_every`` seconds and a JSON summary to stdout at exit.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import time
from pathlib import Path

import zmq

from hgdagger.common import curve, wire
from recorder import image_storage as storages
from recorder.recording_session import RecordingSession

log = logging.getLogger("hgd.recorder")


def serve(endpoint: str, folder: Path, *, round_index: int | None = None, compression: str | None = "lzf",
          flush_interval: float = 0.5, status_every: float = 10.0, hwm: int = 200,
          max_seconds: float | None = None, ready_file: Path | None = None,
          image_storage: str | None = storages.DEFAULT, curve_secret: str | None = None,
          curve_clients: str | None = None, parent_pid: int | None = None) -> dict:
    """Record from ``endpoint`` into ``folder`` until stopped; returns the final stats. With
    ``curve_secret`` only senders whose public keys are in ``curve_clients`` are heard."""
    session = RecordingSession(folder, round_index, compression, flush_interval, image_storage=image_storage)
    ctx = zmq.Context.instance()
    sock = ctx.socket(zmq.ROUTER)
    sock.setsockopt(zmq.RCVHWM, hwm)
    sock.setsockopt(zmq.RCVBUF, 64 * 1024)  # what the kernel holds for us is in flight too: kept small
    sock.setsockopt(zmq.LINGER, 0)
    sock.setsockopt(zmq.MAXMSGSIZE, wire.DEFAULT_LIMITS.hard_frame_limit)
    sock.setsockopt(zmq.SNDHWM, 1000)  # acks; a sender that never reads them loses only its own
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
        while not stop["now"] and (t_end is None or time.monotonic() < t_end) and not _orphaned(parent_pid):
            if poller.poll(50):
                for _ in range(256):  # drain a burst, then give the flush timer a turn
                    try:
                        frames = sock.recv_multipart(zmq.NOBLOCK, copy=False)
                    except zmq.Again:
                        break
                    try:
                        msg = wire.decode(frames[1:])
                    except wire.WireError as e:
                        session.stats.bad_messages += 1
                        log.warning("bad message skipped: %s", e)
                        continue
                    if isinstance(msg, wire.RecorderHello):
                        _answer(sock, frames[0], msg, wire.RecorderAck(kind="hello", folder=str(folder), error=session.stats.error))
                        continue
                    session.handle(msg)
                    if isinstance(msg, wire.EpisodeEnd) and session.last_saved is not None:
                        saved = session.last_saved
                        _answer(sock, frames[0], msg, wire.RecorderAck(kind="episode", file=saved.file, steps=saved.steps,
                                                                       label=saved.label, error=saved.error))
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


def _answer(sock: zmq.Socket, peer: zmq.Frame, to: wire.Message, ack: wire.RecorderAck) -> None:
    """Reply to the sender of ``to`` (never blocks: a sender gone away simply misses its ack)."""
    ack.header.robot_id, ack.header.episode_id = to.header.robot_id, to.header.episode_id
    try:
        wire.send(sock, ack, envelope=[peer], flags=zmq.NOBLOCK)
    except zmq.ZMQError as e:
        log.warning("could not answer %s: %s", to.header.robot_id or "a sender", e)


def _orphaned(parent_pid: int | None) -> bool:
    """A recorder started by a session for itself stops when that session is gone (a kill -9
    included): it closes the open episode as 'aborted' rather than wait forever."""
    return parent_pid is not None and os.getppid() != parent_pid
