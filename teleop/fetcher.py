"""The runtime's background link to the policy server. The control loop never touches a socket:
it drops a request into a one-slot mailbox (newest wins) and drains events (chunks, failures,
link changes) from a bounded queue, both without waiting.

The fetcher thread sleeps in one ``zmq.Poller`` over three things: a doorbell rung by the loop
when a request is posted, the DEALER socket, and the socket monitor (a killed server shows up as a
disconnect event at once on loopback/IPC). No busy waiting, and every wait has a timeout.
"""

from __future__ import annotations

import itertools
import logging
import queue
import threading
import time
from dataclasses import dataclass
from typing import Mapping

import numpy as np
import zmq

from hgdagger.common import wire
from policy_server.client import ClientConfig, PolicyClient, ServerError, ServerUnavailable
from teleop.timing import try_realtime

log = logging.getLogger("hgd.fetcher")
_ids = itertools.count()


@dataclass
class ChunkEvent:
    obs_step: int
    reply: wire.ChunkReply
    latency_s: float  # request sent -> reply received, on this machine's clock
    episode_id: str = ""  # the episode whose observation was sent: a reply never outlives it


@dataclass
class FailedEvent:
    obs_step: int
    reason: str
    episode_id: str = ""


@dataclass
class LinkEvent:
    up: bool
    reason: str = ""


Event = ChunkEvent | FailedEvent | LinkEvent


class ChunkFetcher:
    """Owns a PolicyClient in its own thread. ``submit`` and ``events`` never block."""

    def __init__(self, client_cfg: ClientConfig, ctx: zmq.Context | None = None, events_size: int = 16,
                 rt_priority: int | None = None) -> None:
        """``rt_priority``: run this thread under SCHED_FIFO too (when permitted). It shares the GIL
        with the control loop; at normal priority it can be preempted while holding the GIL,
        stalling a real-time loop behind it (priority inversion)."""
        self.cfg = client_cfg
        self.rt_priority = rt_priority
        self.ctx = ctx or zmq.Context.instance()
        self._slot: tuple[int, dict, np.ndarray | None, int, str] | None = None
        self._slot_lock = threading.Lock()
        self._events: queue.Queue[Event] = queue.Queue(maxsize=events_size)
        self.dropped_events = 0  # drop policy: the oldest event goes when the queue is full
        self.replaced_requests = 0  # drop policy: a newer request replaces one not yet sent
        addr = f"inproc://hgd-doorbell-{next(_ids)}"
        self._bell_rx = self.ctx.socket(zmq.PULL)
        self._bell_rx.bind(addr)
        self._bell_tx = self.ctx.socket(zmq.PUSH)
        self._bell_tx.setsockopt(zmq.SNDHWM, 2)
        self._bell_tx.setsockopt(zmq.LINGER, 0)
        self._bell_tx.connect(addr)
        self._stop = threading.Event()
        self.handshake: wire.Handshake | None = None
        self._thread = threading.Thread(target=self._run, name="hgd-fetcher", daemon=True)

    # ------------------------------------------------------------------ loop side (never blocks)
    def start(self, connect_timeout_s: float = 10.0) -> wire.Handshake:
        """Connect and handshake (blocking, before the loop starts), then run in the background."""
        self.client = PolicyClient(self.cfg, self.ctx)
        self.handshake = self.client.connect(connect_timeout_s)
        self.client.poll_link()
        self._thread.start()
        return self.handshake

    def submit(self, obs_step: int, observation: Mapping[str, np.ndarray], prefix: np.ndarray | None,
               frozen_steps: int, episode_id: str = "") -> None:
        with self._slot_lock:
            if self._slot is not None:
                self.replaced_requests += 1
            self._slot = (obs_step, dict(observation), prefix, frozen_steps, episode_id)
        try:
            self._bell_tx.send(b"", zmq.NOBLOCK)
        except zmq.Again:
            pass  # the bell is already ringing

    def forget_request(self) -> None:
        """Drop a posted request not yet sent (a new episode begins: the old observation is void)."""
        with self._slot_lock:
            self._slot = None

    def events(self) -> list[Event]:
        out = []
        while True:
            try:
                out.append(self._events.get_nowait())
            except queue.Empty:
                return out

    def wait_events(self, timeout_s: float) -> list[Event]:
        """Block until at least one event arrives (or ``timeout_s``), then drain. Lockstep sim runs
        only: a real-time loop never calls this."""
        try:
            first = self._events.get(timeout=timeout_s)
        except queue.Empty:
            return []
        return [first, *self.events()]

    def stop(self) -> None:
        self._stop.set()
        if self._thread.ident is not None:  # started (a failed handshake never starts it)
            self._thread.join(timeout=2.0)
        for s in (self._bell_tx, self._bell_rx):
            s.close(0)
        if getattr(self, "client", None) is not None:
            self.client.close()

    # ------------------------------------------------------------------ fetcher thread
    def _emit(self, ev: Event) -> None:
        while True:
            try:
                self._events.put_nowait(ev)
                return
            except queue.Full:
                try:
                    self._events.get_nowait()
                    self.dropped_events += 1
                except queue.Empty:
                    pass

    def _run(self) -> None:
        if self.rt_priority is not None:
            try_realtime(self.rt_priority)
        c = self.client
        in_flight: tuple[int, int, float, str] | None = None  # (request id, obs step, sent at, episode id)
        usable = True  # connected, and the handshake on this connection matched
        why_down = f"lost the link to {self.cfg.endpoint}"
        next_try = 0.0
        while not self._stop.is_set():
            poller = zmq.Poller()
            poller.register(self._bell_rx, zmq.POLLIN)
            poller.register(c.sock, zmq.POLLIN)
            poller.register(c.mon, zmq.POLLIN)
            timeout = 100 if in_flight is None else max(1, int((in_flight[2] + self.cfg.request_timeout_s - time.monotonic()) * 1000))
            ready = dict(poller.poll(min(timeout, 100)))
            if c.mon in ready:
                c.poll_link()
            if usable and not c.link_up:
                usable = False
                self._emit(LinkEvent(False, why_down))
                if in_flight is not None:
                    self._emit(FailedEvent(in_flight[1], "server link lost", in_flight[3]))
                    in_flight = None
            elif not usable and c.link_up and time.monotonic() >= next_try:
                next_try = time.monotonic() + 1.0  # a server that answers the link but not the hello: retry each second
                if self._rehandshake():
                    usable, why_down = True, f"lost the link to {self.cfg.endpoint}"
                    self._emit(LinkEvent(True, "policy server is back"))
            if c.sock in ready:
                in_flight = self._read_reply(in_flight)
            if in_flight is not None and time.monotonic() - in_flight[2] > self.cfg.request_timeout_s:
                self._emit(FailedEvent(in_flight[1], f"no reply within {self.cfg.request_timeout_s:.2f} s", in_flight[3]))
                in_flight = None
                c.reset()  # drop the stale request with the socket; the link comes back by itself
                why_down = f"no reply within {self.cfg.request_timeout_s:.2f} s; reconnecting"
            if self._bell_rx in ready:
                while self._bell_rx.poll(0):
                    self._bell_rx.recv()
            if in_flight is None and usable:
                in_flight = self._send_pending()

    def _rehandshake(self) -> bool:
        try:
            hs = self.client.connect(2.0)
        except (ServerUnavailable, ServerError, wire.WireError) as e:
            log.warning("policy server reachable but the handshake failed: %s", e)
            return False
        old = self.handshake
        if (hs.chunk_length, hs.action_dim, hs.observation_shapes) != (old.chunk_length, old.action_dim, old.observation_shapes):
            log.error("the restarted server serves an incompatible policy (H=%d A=%d); staying on hold",
                      hs.chunk_length, hs.action_dim)
            return False
        self.handshake = hs
        self.client.poll_link()
        return True

    def _send_pending(self) -> tuple[int, int, float, str] | None:
        with self._slot_lock:
            slot, self._slot = self._slot, None
        if slot is None:
            return None
        obs_step, obs, prefix, frozen, ep = slot
        try:
            rid = self.client.send_request(obs, prefix if self.handshake.supports_prefix else None,
                                           frozen if self.handshake.supports_prefix else 0, episode_id=ep)
        except (ServerUnavailable, wire.WireError) as e:
            self._emit(FailedEvent(obs_step, str(e), ep))
            return None
        return rid, obs_step, time.monotonic(), ep

    def _read_reply(self, in_flight: tuple[int, int, float, str] | None) -> tuple[int, int, float, str] | None:
        while self.client.sock.poll(0):
            try:
                msg = self.client.recv(0)
            except wire.WireError as e:
                log.warning("dropped a bad message from the server: %s", e)
                continue
            if in_flight is None:
                continue
            rid, obs_step, sent, ep = in_flight
            if isinstance(msg, wire.ChunkReply) and msg.request_id == rid:
                self._emit(ChunkEvent(obs_step, msg, time.monotonic() - sent, ep))
                in_flight = None
            elif isinstance(msg, wire.ErrorReply) and msg.request_id in (rid, -1):
                self._emit(FailedEvent(obs_step, f"server error {msg.code}: {msg.message}", ep))
                in_flight = None
        return in_flight
