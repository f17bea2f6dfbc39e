"""The policy server: a ROUTER socket that batches concurrent robot requests into one forward pass.

One thread owns the socket and the policy. Each turn it drains every message that has arrived (up
to ``max_batch`` observation requests), answers handshakes and errors at once, runs one
``predict_chunks`` call for the batch, and replies to each robot with its chunk and timings.
A reload (on command, or when the watched checkpoint file changes) loads in a helper thread and is
swapped in between two batches; a checkpoint that fails to load, or that would change what the
handshake promised, leaves the old one serving and is reported.

It binds only once warmed up (``warmup_rounds``: every batch size it may serve, with and without
an RTC prefix, so first-call costs — allocation, CUDA start-up, one torch.compile per batch size —
are paid before any robot waits on them; and the doubt worker's start-up, 15 s at most): a
robot that starts first keeps retrying the connection meanwhile (PolicyClient.connect) instead of
timing out on its first request. Doubt (``doubt_samples``) never delays a chunk: a worker process
samples it after the reply, and the robot's later replies carry it (see :mod:`policy_server.doubt`).
"""

from __future__ import annotations

import functools
import inspect
import logging
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import zmq

from hgdagger.common import curve, wire
from hgdagger.common.types import ChunkPolicy
from policy_server.doubt import DoubtSampler, policy_tag, served_copy

log = logging.getLogger("hgd.server")

PolicyLoader = Callable[[str], ChunkPolicy]


@dataclass
class ServerConfig:
    """How the server listens and batches."""

    endpoint: str = "tcp://127.0.0.1:5555"
    max_batch: int = 8
    batch_window_ms: float = 0.0  # extra wait for stragglers after the first request of a batch
    poll_ms: int = 50  # how often an idle server checks for stop, reload results and file changes
    watch_path: str | None = None  # reload when this file's mtime changes
    watch_interval_s: float = 1.0
    curve_secret_file: str | None = None  # server's secret certificate (zmq.auth format)
    curve_clients_dir: str | None = None  # public certificates of the clients allowed in
    limits: wire.Limits = field(default_factory=wire.Limits)
    inject_delay_ms: float = 0.0  # fault drills and benchmarks: every forward pass takes this much longer
    # Before binding, pass this many times over every batch size 1..max_batch (hgd-serve: 1). 0: the
    # first requests pay the policy's first-call costs (fine for the toy and the expert in tests).
    warmup_rounds: int = 0
    # >= 2: a worker process samples this many chunks for a robot's observation after its reply;
    # later replies carry the spread (policy_server.doubt). Every Nth request of a robot, at most.
    doubt_samples: int = 0
    doubt_every: int = 1
    doubt_threads: int = 1  # the worker's torch threads
    doubt_start_timeout_s: float = 15.0  # from its start, wait at most this long for the worker, then serve
    # Each request's initial flow noise is drawn from (noise_seed, robot id, request id), so the
    # same requests get the same chunks whatever else the server is doing (batching, other robots,
    # restarts): a rerun of a sim experiment reproduces. None: fresh noise from the global generator.
    noise_seed: int | None = 0
    name: str = "hgd-policy-server"


def request_noise(seed: int, robot_id: str, request_id: int, shape: tuple[int, ...]) -> np.ndarray:
    """The initial flow noise of one request: a pure function of who asked and which request it was
    (not of the episode id, which is unique to every recording)."""
    import zlib

    key = [seed, zlib.crc32(robot_id.encode()), request_id & 0xFFFFFFFF]
    return np.random.default_rng(key).standard_normal(shape).astype(np.float32)


def default_observation_dtypes(shapes: dict[str, tuple[int, ...]]) -> dict[str, str]:
    """Images (H, W, 3) travel as uint8, everything else as float64."""
    return {k: ("|u1" if len(s) == 3 and s[-1] == 3 else "<f8") for k, s in shapes.items()}


def observation_dtypes(policy: ChunkPolicy) -> dict[str, str]:
    """What robots send: the policy's own dtypes if it names them, else the defaults."""
    shapes = {k: tuple(v) for k, v in policy.info.observation_shapes.items()}
    return getattr(policy, "observation_dtypes", None) or default_observation_dtypes(shapes)


def dummy_observations(shapes: dict[str, tuple[int, ...]], dtypes: dict[str, str], batch: int) -> dict[str, np.ndarray]:
    """A batch of all-zero observations: warm-up exercises the code paths; the values do not matter."""
    return {k: np.zeros((batch, *s), dtypes[k]) for k, s in shapes.items()}


def warm_up(policy: ChunkPolicy, hs: wire.Handshake, max_batch: int, rounds: int, takes_noise: bool) -> None:
    """Call the policy as serving will: every batch size up to ``max_batch`` (a compiled policy
    compiles one graph per size), with noise if it takes it, and with a prefix if it inpaints."""
    H, A = hs.chunk_length, hs.action_dim
    rng = np.random.default_rng(0)
    for _ in range(rounds):
        for b in range(1, max_batch + 1):
            obs = dummy_observations(hs.observation_shapes, hs.observation_dtypes, b)
            noise = {"noise": rng.standard_normal((b, H, A)).astype(np.float32)} if takes_noise else {}
            policy.predict_chunks(obs, **noise)
            if hs.supports_prefix:
                prefix = np.full((b, H, A), np.nan, np.float32)
                prefix[:, : H // 2] = 0.0
                policy.predict_chunks(obs, prefix=prefix, frozen_steps=np.ones(b, np.int64), **noise)


@dataclass
class _Pending:
    envelope: list[bytes]
    req: wire.ObsRequest
    recv_t: float


class PolicyServer:
    """Serve one ChunkPolicy to many robots. Call :meth:`serve_forever` (or run it in a thread)."""

    def __init__(self, policy: ChunkPolicy, config: ServerConfig | None = None,
                 loader: PolicyLoader | None = None, ctx: zmq.Context | None = None,
                 doubt_factory: Callable[[], ChunkPolicy] | None = None, doubt_loader: PolicyLoader | None = None) -> None:
        """``doubt_factory`` builds the doubt worker's policy in its own process, so it must pickle;
        by default the worker gets a pickled copy of ``policy``. It follows reloads with
        ``doubt_loader`` (default: ``loader``), which must pickle too."""
        self.cfg = config or ServerConfig()
        self.loader = loader
        self.ctx = ctx or zmq.Context.instance()
        self._set_policy(policy)
        self._stop = threading.Event()
        self._reload_lock = threading.Lock()
        self._reload_result: tuple[list[bytes] | None, ChunkPolicy | None, str, str] | None = None
        self._reload_busy = False
        self._watch_mtime = self._mtime(self.cfg.watch_path)
        self._next_watch = 0.0
        self._chunk_id = 0
        self._seq = wire.Sequencer()
        self.stats = {"requests": 0, "batches": 0, "errors": 0, "reloads": 0, "reload_failures": 0}
        self.doubt = self._start_doubt(policy, doubt_factory, doubt_loader or loader)
        try:
            self.warmup_s = self._warm_up()
            self.sock = self._make_socket()
        except BaseException:
            if self.doubt is not None:
                self.doubt.close()
            raise
        self._poller = zmq.Poller()  # kept: socket.poll() would build a new one on every call
        self._poller.register(self.sock, zmq.POLLIN)
        if self.doubt is not None:
            self._poller.register(self.doubt.sock, zmq.POLLIN)
        self.bound_endpoint = self.sock.getsockopt_string(zmq.LAST_ENDPOINT)

    # ------------------------------------------------------------------ setup
    def _set_policy(self, policy: ChunkPolicy) -> None:
        # Every ChunkPolicy accepts a prefix (one that cannot inpaint ignores it), so robots send
        # one unless the policy says ``supports_prefix = False`` (then the bytes would be wasted).
        info = policy.info
        dtypes = observation_dtypes(policy)
        self.policy = policy
        self._policy_tag = policy_tag(policy)
        self._takes_noise = "noise" in inspect.signature(policy.predict_chunks).parameters
        self.handshake = wire.handshake_from_info(
            info, dtypes, supports_prefix=bool(getattr(policy, "supports_prefix", True)), server=self.cfg.name)

    def _start_doubt(self, policy: ChunkPolicy, factory: Callable[[], ChunkPolicy] | None,
                     loader: PolicyLoader | None) -> DoubtSampler | None:
        """Start the doubt worker (it builds and warms up its policy while we warm up ours)."""
        if self.cfg.doubt_samples < 2:
            return None
        try:
            return DoubtSampler(factory or functools.partial(served_copy, policy), loader, self.cfg.doubt_samples,
                                every=self.cfg.doubt_every, threads=self.cfg.doubt_threads, ctx=self.ctx)
        except Exception as e:  # e.g. a policy that does not pickle and no factory: chunks still flow
            log.error("doubt sampling is off: cannot start its worker (%s: %s)", type(e).__name__, e)
            return None

    def _warm_up(self) -> float:
        """Warm the policy up, then wait for the doubt worker; return the seconds it all took."""
        t0 = time.monotonic()
        if self.cfg.warmup_rounds > 0:
            log.info("warming up: batch sizes 1..%d, %d round(s)", self.cfg.max_batch, self.cfg.warmup_rounds)
            try:
                warm_up(self.policy, self.handshake, self.cfg.max_batch, self.cfg.warmup_rounds, self._takes_noise)
            except Exception:  # a policy that cannot take all-zero observations: it still serves real ones
                log.exception("warm-up failed; the first requests may be slow")
        if self.doubt is not None:
            if not self.doubt.wait_ready(self.cfg.doubt_start_timeout_s):
                log.info("the doubt worker is still starting: doubt shows once it is ready")  # (normal when busy)
            self.doubt.lower_priority()  # before any robot is served
        return time.monotonic() - t0

    def _make_socket(self) -> zmq.Socket:
        sock = self.ctx.socket(zmq.ROUTER)
        sock.setsockopt(zmq.LINGER, 0)
        sock.setsockopt(zmq.ROUTER_MANDATORY, 0)  # a vanished client's reply is dropped, not an error
        sock.setsockopt(zmq.MAXMSGSIZE, self.cfg.limits.hard_frame_limit)
        sock.setsockopt(zmq.SNDHWM, 1000)
        if self.cfg.curve_secret_file:
            self._setup_curve(sock)
        sock.bind(self.cfg.endpoint)
        return sock

    def _setup_curve(self, sock: zmq.Socket) -> None:
        self._auth = curve.secure_server(self.ctx, sock, self.cfg.curve_secret_file, self.cfg.curve_clients_dir)

    @staticmethod
    def _mtime(path: str | None) -> float | None:
        try:
            return os.stat(path).st_mtime if path else None
        except OSError:
            return None

    # ------------------------------------------------------------------ loop
    def stop(self) -> None:
        self._stop.set()

    def close(self) -> None:
        self.sock.close(0)
        if self.doubt is not None:
            self.doubt.close()
        if getattr(self, "_auth", None) is not None:
            self._auth.stop()

    def serve_forever(self) -> None:
        """Serve until :meth:`stop` is called (or the process is killed)."""
        log.info("serving %s on %s (H=%d, A=%d)", self.handshake.checkpoint_id, self.bound_endpoint,
                 self.handshake.chunk_length, self.handshake.action_dim)
        try:
            while not self._stop.is_set():
                if self._reload_result is not None:  # (read without the lock: at worst one poll later)
                    self._maybe_swap_policy()
                if self.cfg.watch_path:
                    self._maybe_watch()
                ready = [s for s, _ in self._poller.poll(self.cfg.poll_ms)]
                if self.doubt is not None and self.doubt.sock in ready:
                    self.doubt.pump()
                if self.sock not in ready:
                    continue
                batch = self._drain()
                if batch:
                    self._run_batch(batch)
        finally:
            self.close()

    def _drain(self) -> list[_Pending]:
        """Read everything already queued (and, optionally, what arrives within the batch window).
        Called when the poller said a message is waiting."""
        batch: list[_Pending] = []
        deadline = None
        waiting = True  # (the poller said so: no need to ask the socket again)
        while len(batch) < self.cfg.max_batch:
            if not waiting and not self.sock.getsockopt(zmq.EVENTS) & zmq.POLLIN:  # (cheaper than zmq.Again)
                if batch and self.cfg.batch_window_ms > 0:
                    deadline = deadline or time.monotonic() + self.cfg.batch_window_ms / 1000
                    left = deadline - time.monotonic()
                    if left > 0 and self.sock.poll(max(1, int(left * 1000))):
                        continue
                break
            waiting = False
            frames = self.sock.recv_multipart(copy=False)
            pending = self._handle(frames)
            if pending is not None:
                batch.append(pending)
        return batch

    def _handle(self, frames: list[zmq.Frame]) -> _Pending | None:
        recv_t = time.monotonic()
        envelope = [frames[0].bytes]  # ROUTER prepends the peer identity
        msg: wire.Message | None = None
        try:
            msg = wire.decode(frames[1:], self.cfg.limits)
            if isinstance(msg, wire.ObsRequest):
                wire.check_observation(msg.observation, self.handshake)
                wire.check_prefix(msg.prefix, self.handshake)
                if not 0 <= msg.frozen_steps <= self.handshake.chunk_length:
                    raise wire.SpecMismatch(f"frozen_steps {msg.frozen_steps} outside [0, H]")
                return _Pending(envelope, msg, recv_t)
            if isinstance(msg, wire.Hello):
                self._reply(envelope, self.handshake, msg)
            elif isinstance(msg, wire.ReloadRequest):
                self._start_reload(envelope, msg.path)
            else:
                raise wire.UnknownMessageType(f"the policy server does not take {msg.TYPE!r} messages")
        except wire.WireError as e:
            self.stats["errors"] += 1
            log.warning("refused a message from %r: %s", envelope[0], e)
            rid = msg.request_id if isinstance(msg, wire.ObsRequest) else -1
            self._reply(envelope, wire.ErrorReply(code=e.code.value, message=str(e), request_id=rid))
        return None

    def _reply(self, envelope: list[bytes], msg: wire.Message, request: wire.Message | None = None) -> None:
        hdr = request.header if request is not None else None
        try:
            wire.send(self.sock, msg, envelope=envelope, flags=zmq.NOBLOCK, seq=self._seq.next(),
                      robot_id=hdr.robot_id if hdr else "", episode_id=hdr.episode_id if hdr else "")
        except zmq.Again:
            log.warning("reply to %r dropped: its send queue is full", envelope[0])

    def _run_batch(self, batch: list[_Pending]) -> None:
        hs = self.handshake
        H, A = hs.chunk_length, hs.action_dim
        if len(batch) == 1:  # (a copy with a batch axis: a tenth of np.stack's cost)
            obs = {k: np.array(batch[0].req.observation[k])[None] for k in hs.observation_shapes}
        else:
            obs = {k: np.stack([np.asarray(p.req.observation[k]) for p in batch]) for k in hs.observation_shapes}
        has_prefix = any(p.req.prefix is not None for p in batch)
        prefix = frozen = None
        if has_prefix:
            prefix = np.full((len(batch), H, A), np.nan, np.float32)
            for i, p in enumerate(batch):
                if p.req.prefix is not None:
                    prefix[i] = p.req.prefix
            frozen = np.array([p.req.frozen_steps for p in batch], np.int64)
        noise = {}
        if self.cfg.noise_seed is not None and self._takes_noise:
            noise["noise"] = np.stack([request_noise(self.cfg.noise_seed, p.req.header.robot_id, p.req.request_id, (H, A))
                                       for p in batch])
        t0 = time.monotonic()
        try:
            chunks = np.asarray(self.policy.predict_chunks(obs, prefix=prefix, frozen_steps=frozen, **noise))
            if self.cfg.inject_delay_ms > 0:
                time.sleep(self.cfg.inject_delay_ms / 1e3)
            if chunks.shape != (len(batch), H, A) or not np.isfinite(chunks).all():
                raise ValueError(f"policy returned {chunks.shape} (finite: {np.isfinite(chunks).all()}), "
                                 f"expected finite {(len(batch), H, A)}")
        except Exception as e:  # the policy failing must not take the server down
            log.exception("policy failed on a batch of %d", len(batch))
            for p in batch:
                self._reply(p.envelope, wire.ErrorReply(code=wire.ErrorCode.INTERNAL.value,
                                                        message=f"policy failed: {e}", request_id=p.req.request_id), p.req)
            return
        t1 = time.monotonic()
        chunks = chunks.astype(hs.action_dtype, copy=False)
        self.stats["batches"] += 1
        self.stats["requests"] += len(batch)
        for i, p in enumerate(batch):
            self._chunk_id += 1
            reply = wire.ChunkReply(
                request_id=p.req.request_id, actions=chunks[i], checkpoint_id=hs.checkpoint_id,
                chunk_id=self._chunk_id, queue_ms=(t0 - p.recv_t) * 1e3, inference_ms=(t1 - t0) * 1e3,
                total_ms=(time.monotonic() - p.recv_t) * 1e3, batch_size=len(batch), doubt=self._newest_doubt(p))
            self._reply(p.envelope, reply, p.req)
        if self.doubt is not None:  # only now that every chunk is on its way
            for p in batch:
                self.doubt.offer(p.envelope[0], p.req, p.recv_t)

    def _newest_doubt(self, p: _Pending) -> float:
        """The robot's newest doubt (sampled for one of its earlier observations), or -1."""
        if self.doubt is None:
            return -1.0
        return self.doubt.latest(p.envelope[0], p.req.header.episode_id, self._policy_tag)

    # ------------------------------------------------------------------ hot reload
    def _maybe_watch(self) -> None:
        path = self.cfg.watch_path
        now = time.monotonic()
        if not path or now < self._next_watch:  # (serve_forever asks only when a path is watched)
            return
        self._next_watch = now + self.cfg.watch_interval_s
        m = self._mtime(path)
        if m is not None and m != self._watch_mtime:
            self._watch_mtime = m
            log.info("%s changed: reloading", path)
            self._start_reload(None, path)

    def _start_reload(self, envelope: list[bytes] | None, path: str) -> None:
        path = path or (self.cfg.watch_path or "")
        why = ("this server has no checkpoint loader" if self.loader is None else
               "no checkpoint path given (and none watched)" if not path else "")
        with self._reload_lock:
            if not why and self._reload_busy:
                why = "a reload is already running"
            if not why:
                self._reload_busy = True
        if why:
            if envelope is not None:
                self._reply(envelope, wire.ReloadReply(ok=False, checkpoint_id=self.handshake.checkpoint_id, message=why))
            return

        def work() -> None:
            try:
                new = self.loader(path)
                err = self._incompatible(new)
            except Exception as e:
                new, err = None, f"{type(e).__name__}: {e}"
            with self._reload_lock:
                self._reload_result = (envelope, None if err else new, path, err)

        threading.Thread(target=work, name="hgd-reload", daemon=True).start()

    def _incompatible(self, new: ChunkPolicy) -> str:
        old, info = self.handshake, new.info
        shapes = {k: [int(n) for n in s] for k, s in info.observation_shapes.items()}
        if (info.chunk_length, info.action_dim, shapes) != (old.chunk_length, old.action_dim, old.observation_shapes):
            return (f"checkpoint changes what clients were promised (H={info.chunk_length}, A={info.action_dim}, "
                    f"obs={shapes}); restart the server to serve it")
        return ""

    def _maybe_swap_policy(self) -> None:
        with self._reload_lock:
            result, self._reload_result = self._reload_result, None
            if result is not None:
                self._reload_busy = False
        if result is None:
            return
        envelope, new, path, err = result
        if new is not None:
            self._set_policy(new)  # between two batches: atomic for every client
            self.stats["reloads"] += 1
            if self.doubt is not None:
                self.doubt.load(path)
            log.info("now serving %s (from %s)", self.handshake.checkpoint_id, Path(path).name)
        else:
            self.stats["reload_failures"] += 1
            log.error("reload of %s failed, still serving %s: %s", path, self.handshake.checkpoint_id, err)
        if envelope is not None:
            self._reply(envelope, wire.ReloadReply(ok=new is not None, checkpoint_id=self.handshake.checkpoint_id,
                                                   message=err or f"loaded {path}"))
