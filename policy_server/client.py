"""The robot side of the policy server: a DEALER socket, the handshake, requests with timeouts.

Every wait has a timeout. A request that times out resets the socket (so no stale request is
delivered to a server that comes back later), and a socket monitor reports a dropped TCP/IPC link
at once, so a killed server is noticed within a poll rather than after a timeout.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Mapping

import numpy as np
import zmq
from zmq.utils.monitor import recv_monitor_message

from hgdagger.common import curve, wire
from hgdagger.common.observation_sets import fit_frame, is_frame


class ServerUnavailable(TimeoutError):
    """No answer from the policy server within the timeout."""


class ServerError(RuntimeError):
    """The server refused a request; ``code`` is a :class:`hgdagger.common.wire.ErrorCode` value."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"policy server refused the request ({code}): {message}")
        self.code = code


@dataclass
class ClientConfig:
    endpoint: str = "tcp://127.0.0.1:5555"
    robot_id: str = "robot0"
    request_timeout_s: float = 2.0
    connect_timeout_s: float = 5.0
    curve_server_public_file: str | None = None  # the server's public certificate
    curve_client_secret_file: str | None = None  # this robot's secret certificate
    limits: wire.Limits = field(default_factory=wire.Limits)


class PolicyClient:
    """Talk to one policy server. Not thread-safe: one thread owns it (the runtime's fetcher)."""

    def __init__(self, config: ClientConfig | None = None, ctx: zmq.Context | None = None) -> None:
        self.cfg = config or ClientConfig()
        self.ctx = ctx or zmq.Context.instance()
        self.handshake: wire.Handshake | None = None
        self.link_up = False
        self.link_drops = 0
        self._seq = wire.Sequencer()
        self._rid = 0
        self.sock: zmq.Socket | None = None
        self.mon: zmq.Socket | None = None
        self._open()

    # ------------------------------------------------------------------ sockets
    def _open(self) -> None:
        s = self.ctx.socket(zmq.DEALER)
        s.setsockopt(zmq.LINGER, 0)
        s.setsockopt(zmq.IMMEDIATE, 1)  # never queue a request for a server that is not connected
        s.setsockopt(zmq.MAXMSGSIZE, self.cfg.limits.hard_frame_limit)
        s.setsockopt(zmq.RECONNECT_IVL, 50)
        s.setsockopt(zmq.RECONNECT_IVL_MAX, 500)
        if self.cfg.curve_server_public_file:
            curve.secure_client(s, self.cfg.curve_server_public_file, self.cfg.curve_client_secret_file)
        self.mon = s.get_monitor_socket(zmq.EVENT_HANDSHAKE_SUCCEEDED | zmq.EVENT_CONNECTED | zmq.EVENT_DISCONNECTED)
        s.connect(self.cfg.endpoint)
        self.sock = s
        self._timeouts: dict[int, int] = {}  # the socket's SNDTIMEO and RCVTIMEO, set only when they change

    def reset(self) -> None:
        """Drop the socket and everything queued on it, then reconnect (lazy-pirate style)."""
        self._close_sockets()
        self.link_up = False
        self._open()

    def _close_sockets(self) -> None:
        if self.sock is not None:
            try:
                self.sock.disable_monitor()
            except zmq.ZMQError:
                pass
            self.sock.close(0)
        if self.mon is not None:
            self.mon.close(0)
        self.sock = self.mon = None

    def close(self) -> None:
        self._close_sockets()

    def poll_link(self) -> bool:
        """Read pending link events; return whether the link to the server is up."""
        while self.mon is not None and self.mon.poll(0):
            ev = recv_monitor_message(self.mon, zmq.NOBLOCK)["event"]
            if ev == zmq.EVENT_DISCONNECTED:
                if self.link_up:
                    self.link_drops += 1
                self.link_up = False
            elif ev == (zmq.EVENT_HANDSHAKE_SUCCEEDED if self.cfg.curve_server_public_file else zmq.EVENT_CONNECTED):
                self.link_up = True
        return self.link_up

    # ------------------------------------------------------------------ messages
    def _send(self, msg: wire.Message, episode_id: str = "", timeout_s: float = 0.0) -> None:
        """Send without ever blocking longer than ``timeout_s`` (IMMEDIATE: no link, no queueing)."""
        self._timeout(zmq.SNDTIMEO, timeout_s)
        try:
            wire.send(self.sock, msg, seq=self._seq.next(), robot_id=self.cfg.robot_id, episode_id=episode_id)
        except zmq.Again:
            raise ServerUnavailable(f"not connected to {self.cfg.endpoint}") from None

    def recv(self, timeout_s: float) -> wire.Message | None:
        """The next message from the server, or None after ``timeout_s``."""
        self._timeout(zmq.RCVTIMEO, timeout_s)  # (a receive that waits: cheaper than a poll, then a receive)
        try:
            frames = self.sock.recv_multipart(copy=False)
        except zmq.Again:
            return None
        return wire.decode(frames, self.cfg.limits)

    def _timeout(self, option: int, seconds: float) -> None:
        ms = max(0, int(seconds * 1000))
        if self._timeouts.get(option) != ms:
            self.sock.setsockopt(option, ms)
            self._timeouts[option] = ms

    def _await(self, want: type, timeout_s: float, request_id: int | None = None) -> wire.Message:
        deadline = time.monotonic() + timeout_s
        while True:
            left = deadline - time.monotonic()
            msg = self.recv(left) if left > 0 else None
            if msg is None:
                self.reset()
                raise ServerUnavailable(f"no {want.__name__} from {self.cfg.endpoint} within {timeout_s:.2f} s")
            if isinstance(msg, wire.ErrorReply) and (request_id is None or msg.request_id in (request_id, -1)):
                raise ServerError(msg.code, msg.message)
            if isinstance(msg, want) and (request_id is None or getattr(msg, "request_id", None) == request_id):
                return msg
            # anything else is a late answer to an abandoned request: drop it

    def connect(self, timeout_s: float | None = None) -> wire.Handshake:
        """Say hello and wait for the server's handshake. A server binds only once warmed up, so
        this first waits up to ``timeout_s`` for it to listen, then up to ``timeout_s`` for the answer."""
        timeout_s = timeout_s or self.cfg.connect_timeout_s
        try:
            self._send(wire.Hello(client=self.cfg.robot_id), timeout_s=timeout_s)
            self.handshake = self._await(wire.Handshake, timeout_s)
        except ServerUnavailable as e:
            raise ServerUnavailable(f"{e} (is `hgd-serve` running there? it listens once warmed up, which with "
                                    "--compile takes a while; with CURVE, are the keys right?)") from None
        return self.handshake

    def send_request(self, observation: Mapping[str, np.ndarray], prefix: np.ndarray | None = None,
                     frozen_steps: int = 0, episode_id: str = "", obs_time: float | None = None,
                     send_timeout_s: float = 0.0) -> int:
        """Send one observation (cast to the handshake's dtypes, camera frames fitted to the policy's
        size by `fit_frame`; extra keys dropped); return its id.
        By default it never waits: with no link to the server it raises ServerUnavailable at once."""
        hs = self.handshake
        if hs is None:
            raise RuntimeError("call connect() first: the handshake says what the server expects")
        obs = {}
        for k, shape in hs.observation_shapes.items():
            if k not in observation:
                raise wire.SpecMismatch(f"observation lacks {k!r}, which the server's policy needs")
            value = np.asarray(observation[k], dtype=hs.observation_dtypes.get(k))
            if is_frame(tuple(shape)) and is_frame(value.shape) and value.shape != tuple(shape):
                value = fit_frame(value, tuple(shape[:2]))  # a camera at another size: at the policy's
            obs[k] = value
        if prefix is not None:
            prefix = np.asarray(prefix, np.float32)
        self._rid += 1
        self._send(wire.ObsRequest(request_id=self._rid, observation=obs, prefix=prefix,
                                   frozen_steps=int(frozen_steps), obs_time=obs_time or time.time()), episode_id,
                   send_timeout_s)
        return self._rid

    def predict(self, observation: Mapping[str, np.ndarray], prefix: np.ndarray | None = None,
                frozen_steps: int = 0, timeout_s: float | None = None) -> wire.ChunkReply:
        """Blocking request/reply (for scripts and tests; the runtime uses send_request/recv)."""
        timeout_s = timeout_s or self.cfg.request_timeout_s
        rid = self.send_request(observation, prefix, frozen_steps, send_timeout_s=timeout_s)
        return self._await(wire.ChunkReply, timeout_s, rid)

    def reload(self, path: str = "", timeout_s: float = 120.0) -> wire.ReloadReply:
        """Ask the server to load a checkpoint; returns its verdict."""
        self._send(wire.ReloadRequest(path=path), timeout_s=self.cfg.connect_timeout_s)
        return self._await(wire.ReloadReply, timeout_s)
