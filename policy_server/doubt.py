"""The policy's doubt: how much several sampled chunks for the same observation disagree.

A flow-matching policy is a distribution; when its samples for one observation spread widely the
policy is unsure what to do — the lecture's question of detecting when an intervention is needed.
The server measures it (hgd-serve --doubt-samples); the console shows it as a gauge and may beep; nothing acts on it.

Doubt is for a person's eyes; chunks are for the arm. So doubt never delays a chunk:

- The server replies with the chunk first and only then hands the observation to a *doubt worker*,
  a process of its own with its own copy of the policy. It samples ``--doubt-samples`` fresh
  chunks (no RTC prefix: the policy's own spread, not the inpainting's) in one batched pass and
  sends back their spread. Every later reply to that robot carries its newest doubt (-1 until the
  first, after a reload, in a new episode, and once its observation is ``max_age_s``, 5 s, old);
  the runtime keeps the last doubt it got and greys it when no new one comes.
- A process, not a thread, and not slices between batches: a thread shares the GIL (on 2 cores a
  concurrent sampling thread took a batch-1 chunk from 5.7 to 9.7 ms median), the served policy
  need not be thread-safe (the expert's kinematics share MuJoCo data), and a slice of sampling in
  the serving thread delays whichever request arrives during it — a robot in lockstep sends its
  next request just after a reply, which is exactly then.
- The worker samples at background CPU priority (nice 10) with ``threads`` torch threads (1): the
  serving thread and the robots come first. Not nice 19: beside two busy processes on 2 cores
  (Linux 6.18) 12 ms of CPU took 3 s at nice 19, and 36-89% of replies carried a doubt; 0.4 s at
  nice 10, and 97%; the chunks' latency was the same within noise.
- It starts up (imports, its own warm-up on the batch it samples) at normal priority while the
  server warms up, when no robot is waiting yet: in the background a torch import alone took
  minutes on a loaded 2-core machine. The server waits for it 15 s at most
  (ServerConfig.doubt_start_timeout_s; on an idle machine it is ready with the server), then puts
  the worker, every thread of it and every process it started (torch.compile's compiler), at
  nice 10, and listens.
- Its rate adapts to what it can do: at most one observation is with the worker at a time, and of
  those waiting only each robot's newest is kept (robots take turns), so a slow or starved worker
  shows doubt less often and never makes a chunk later. ``every`` lowers the rate further (every Nth request
  of a robot), e.g. for a GPU the chunks share.

The cost is a second copy of the policy in memory (and a second CUDA context on a GPU), and doubt
for the previous observation, not the one a chunk answers (one chunk period, ~0.4 s, behind).
Measured (hgd-bench-policy --serve-calls, 2 cores, the default MLP policy): with 8 samples the
median reply went from 2x the doubt-off one (3x beside two busy processes) to the same.
"""

from __future__ import annotations

import functools
import logging
import os
import pickle
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, ClassVar

import numpy as np
import zmq

from hgdagger.common import wire
from hgdagger.common.threads import child_env
from hgdagger.common.types import ChunkPolicy

log = logging.getLogger("hgd.doubt")

WORKER_NICE = 10  # background: it yields to the serving thread and the robots (see the module docstring)
# Between the server and its own child, of observations the server has already checked: no limits.
_OWN_CHILD = wire.Limits(max_header_bytes=1 << 30, max_frame_bytes=1 << 40, max_frames=1 << 20, max_total_bytes=1 << 50)


def chunk_spread(samples: np.ndarray, horizon: int | None = None) -> float:
    """Mean over time and action dimensions of the std-dev across samples; samples are (n, H, A).

    ``horizon`` limits it to the first steps, the ones about to run.
    """
    samples = np.asarray(samples, dtype=float)
    if samples.ndim != 3 or samples.shape[0] < 2:
        raise ValueError(f"need (n >= 2, H, A) samples, got shape {samples.shape}")
    if horizon is not None:
        samples = samples[:, :horizon]
    return float(samples.std(axis=0).mean())


def sample_doubt(policy: ChunkPolicy, observation: dict[str, np.ndarray], samples: int) -> float:
    """The spread of ``samples`` chunks for one observation (no batch axis), in one batched pass."""
    tiled = {k: np.repeat(np.asarray(v)[None], samples, axis=0) for k, v in observation.items()}
    return chunk_spread(np.asarray(policy.predict_chunks(tiled)))


def policy_tag(policy: ChunkPolicy) -> str:
    """Which policy a doubt was sampled with: a doubt from before a reload is never shown after it."""
    return f"{policy.info.checkpoint_id}#{policy.info.checkpoint_hash}"


@dataclass(kw_only=True)
class DoubtSample(wire.Message):
    """Doubt worker -> server: the spread of sampled chunks for one robot's observation."""

    TYPE: ClassVar[str] = "doubt_sample"
    request_id: int
    doubt: float  # -1: sampling failed
    policy: str  # policy_tag of the policy that sampled it
    sample_ms: float = 0.0


def served_copy(policy: ChunkPolicy) -> ChunkPolicy:
    """The default worker factory: the served policy itself, pickled into the worker (so a copy)."""
    return policy


@dataclass
class _RobotDoubt:
    requests: int = 0
    doubt: float = -1.0
    episode_id: str = ""
    policy: str = ""
    observed_at: float = 0.0  # when the server received the observation it was sampled for


class DoubtSampler:
    """The server's side of the doubt worker: offers observations without ever waiting and keeps
    each robot's (ROUTER peer's) newest doubt. One thread (the server's) owns it."""

    def __init__(self, factory: Callable[[], ChunkPolicy], loader: Callable[[str], ChunkPolicy] | None,
                 samples: int, every: int = 1, threads: int = 1, max_age_s: float = 5.0,
                 ctx: zmq.Context | None = None, max_robots: int = 1024) -> None:
        """``factory`` and ``loader`` must pickle (module-level functions, partials of them): the
        worker builds its own policy with them. Raises if ``factory`` does not pickle."""
        if samples < 2:
            raise ValueError(f"doubt needs at least 2 samples, got {samples}")
        self.samples, self.every, self.max_age_s, self.max_robots = samples, max(1, every), max_age_s, max_robots
        loader = _picklable_or_none(loader)
        self.can_reload = loader is not None
        blob = pickle.dumps((factory, loader))  # (to our own child, never on a network)
        self._dir = tempfile.mkdtemp(prefix="hgd-doubt-")  # 0700: no other local user reaches the socket
        self.sock = (ctx or zmq.Context.instance()).socket(zmq.PAIR)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.bind(f"ipc://{self._dir}/worker")
        self._proc = _spawn_worker(blob, f"ipc://{self._dir}/worker", samples, threads)
        self.started_at = time.monotonic()
        self.ready = self.dead = False
        self.policy = ""  # the worker's policy_tag
        self._outstanding = 1  # its start-up: answered by the first ReloadReply
        self._job: tuple[bytes, float] | None = None  # (peer, observed at) of the observation with the worker
        self._waiting: OrderedDict[bytes, tuple[wire.ObsRequest, float]] = OrderedDict()
        self._robots: OrderedDict[bytes, _RobotDoubt] = OrderedDict()
        self.stats = {"offered": 0, "sampled": 0, "replaced": 0, "failed": 0}

    # ------------------------------------------------------------------ server thread
    def wait_ready(self, within_s: float) -> bool:
        """Block until the worker has built and warmed up its policy, or ``within_s`` after it was
        started (start-up only: the server warms up meanwhile)."""
        deadline = self.started_at + within_s
        while not self.ready and not self.dead and time.monotonic() < deadline:
            if self.sock.poll(100):
                self.pump()
            elif self._proc.poll() is not None:
                self._died("exited while starting")
        return self.ready

    def offer(self, peer: bytes, request: wire.ObsRequest, observed_at: float) -> None:
        """Queue a robot's observation for sampling (replacing its older one that is still waiting)."""
        if self.dead:
            return
        robot = self._robot(peer)
        robot.requests += 1
        if (robot.requests - 1) % self.every:
            return
        self.stats["offered"] += 1
        self.stats["replaced"] += peer in self._waiting
        self._waiting[peer] = (request, observed_at)  # an existing key keeps its turn
        self._dispatch()

    def pump(self) -> None:
        """Read what the worker sent, then hand it the next observation if it is free."""
        while self.sock.poll(0):
            try:
                msg = wire.decode(self.sock.recv_multipart(copy=False)[1:], _OWN_CHILD)
            except wire.WireError as e:
                log.warning("dropped a bad message from the doubt worker: %s", e)
                continue
            self._outstanding = max(0, self._outstanding - 1)
            if isinstance(msg, DoubtSample):
                self._store(msg)
            elif isinstance(msg, wire.ReloadReply):
                self._loaded(msg)
        self._dispatch()

    def latest(self, peer: bytes, episode_id: str, policy: str) -> float:
        """The robot's newest doubt, if it is for this episode and policy and recent; else -1."""
        robot = self._robots.get(peer)
        if robot is None or robot.doubt < 0 or (robot.episode_id, robot.policy) != (episode_id, policy):
            return -1.0
        return robot.doubt if time.monotonic() - robot.observed_at <= self.max_age_s else -1.0

    def load(self, path: str) -> None:
        """Have the worker load the checkpoint the server now serves (after a reload)."""
        if self.dead:
            return
        if not self.can_reload:
            log.warning("the doubt worker cannot load %s (its loader does not pickle): no doubt until a restart", path)
            return
        self._send([b""], wire.ReloadRequest(path=path))

    def lower_priority(self) -> None:
        """Put the worker and all it started at background priority: chunks are served from now on."""
        for pid in _family(self._proc.pid):
            for tid in _threads(pid):  # (on Linux a nice value is per thread)
                try:
                    os.setpriority(os.PRIO_PROCESS, tid, WORKER_NICE)
                except (AttributeError, OSError):  # gone, or not on this platform: it competes as an equal
                    pass

    def close(self) -> None:
        self.sock.close(0)
        self._proc.kill()  # it holds nothing that needs a clean exit
        try:
            self._proc.wait(5)
        except subprocess.TimeoutExpired:  # starved of CPU, it dies a little later: never fail the server's exit
            log.warning("the doubt worker (pid %d) is still exiting", self._proc.pid)
        shutil.rmtree(self._dir, ignore_errors=True)

    # ------------------------------------------------------------------ internals
    def _robot(self, peer: bytes) -> _RobotDoubt:
        """This peer's record, most recently used last; the least recent goes beyond max_robots."""
        robot = self._robots.pop(peer, None) or _RobotDoubt()
        self._robots[peer] = robot
        while len(self._robots) > self.max_robots:
            self._robots.popitem(last=False)
        return robot

    def _dispatch(self) -> None:
        if self.dead or not self._waiting:
            return
        if self._proc.poll() is not None:
            self._died(f"exited (status {self._proc.returncode})")
            return
        if not self.ready or self._outstanding:
            return
        peer, (request, observed_at) = self._waiting.popitem(last=False)
        job = wire.ObsRequest(request_id=request.request_id, observation=request.observation)
        if self._send([peer], job, episode_id=request.header.episode_id):
            self._job = (peer, observed_at)

    def _send(self, envelope: list[bytes], msg: wire.Message, **header: Any) -> bool:
        try:
            wire.send(self.sock, msg, envelope=envelope, flags=zmq.NOBLOCK, **header)
        except zmq.Again:  # the worker's queue is full: it is stuck; drop rather than wait
            return False
        self._outstanding += 1
        return True

    def _store(self, msg: DoubtSample) -> None:
        peer, observed_at = self._job or (b"", 0.0)
        self._job = None
        if msg.doubt < 0:
            self.stats["failed"] += 1
            return
        self.stats["sampled"] += 1
        if peer in self._robots:
            robot = self._robots[peer]
            robot.doubt, robot.episode_id, robot.policy, robot.observed_at = (
                msg.doubt, msg.header.episode_id, msg.policy, observed_at)

    def _loaded(self, msg: wire.ReloadReply) -> None:
        if msg.ok:
            self.ready, self.policy = True, msg.checkpoint_id
            log.info("doubt worker %s: %s", msg.message, msg.checkpoint_id)
        elif not self.ready:
            self._died(f"could not build its policy: {msg.message}")
        else:
            log.error("doubt worker could not load the new checkpoint (%s): no doubt for it", msg.message)

    def _died(self, why: str) -> None:
        self.dead, self.ready = True, False
        log.error("doubt worker %s; serving on without doubt", why)


def _family(pid: int) -> list[int]:
    """``pid`` and its descendants (from /proc on Linux; elsewhere ``pid`` alone)."""
    parents = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parents[int(stat.parent.name)] = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):  # gone meanwhile
            continue
    family, newest = [pid], {pid}
    while newest:
        newest = {child for child, parent in parents.items() if parent in newest}
        family += sorted(newest)
    return family


def _threads(pid: int) -> list[int]:
    tasks = Path(f"/proc/{pid}/task")
    try:
        return [int(t.name) for t in tasks.iterdir()]
    except OSError:
        return [pid]


def _picklable_or_none(fn: Callable | None) -> Callable | None:
    try:
        pickle.dumps(fn)
    except Exception:  # a lambda, a closure: the worker then cannot follow reloads
        return None
    return fn


def _spawn_worker(blob: bytes, endpoint: str, samples: int, threads: int) -> subprocess.Popen:
    """A fresh interpreter (not multiprocessing: it would re-run an unguarded main script) that
    reads what it needs from stdin. Its log goes to the server's stderr; stdout stays the server's."""
    main = getattr(sys.modules.get("__main__"), "__spec__", None)
    setup = {"path": sys.path, "main": main.name if main else "", "endpoint": endpoint, "samples": samples,
             "threads": threads, "parent": os.getpid(), "log_level": log.getEffectiveLevel()}
    # (TORCHINDUCTOR_COMPILE_THREADS: compiling in its own threads, no helper processes at nice 0)
    env = {**child_env(threads), "TORCHINDUCTOR_COMPILE_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-c", "from policy_server.doubt import worker_main; worker_main()"],
                            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, env=env)
    proc.stdin.write(pickle.dumps(setup) + blob)
    proc.stdin.close()
    return proc


# ---------------------------------------------------------------------- the worker process
def worker_main() -> None:
    """The doubt worker: build the policy, warm it up, then answer observations with their doubt."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the server's: it stops us
    stream = sys.stdin.buffer
    setup = pickle.load(stream)
    _exit_with(setup["parent"])
    logging.basicConfig(level=setup["log_level"], format="%(asctime)s %(name)s %(levelname)s %(message)s")
    sys.path[:] = setup["path"]
    sock = zmq.Context.instance().socket(zmq.PAIR)
    sock.setsockopt(zmq.LINGER, 1000)
    sock.connect(setup["endpoint"])
    samples, threads = setup["samples"], setup["threads"]
    try:
        factory, loader = _unpickle(stream.read(), setup["main"])
    except Exception as e:  # e.g. a policy class defined in a script run as a file
        wire.send(sock, wire.ReloadReply(ok=False, checkpoint_id="", message=f"cannot unpickle its factory: {e!r}"),
                  envelope=[b""])
        return
    policy = _build(sock, factory, threads, samples, "ready")
    while policy is not None:
        frames = sock.recv_multipart(copy=False)
        try:
            msg = wire.decode(frames[1:], _OWN_CHILD)
        except wire.WireError:  # (cannot happen between us; answered anyway, so the server never waits on it)
            log.exception("doubt worker: dropped a bad message")
            wire.send(sock, DoubtSample(request_id=-1, doubt=-1.0, policy=""), envelope=[frames[0].bytes])
            continue
        if isinstance(msg, wire.ObsRequest):
            _answer(sock, policy, frames[0].bytes, msg, samples)
        elif isinstance(msg, wire.ReloadRequest):
            policy = _build(sock, functools.partial(loader, msg.path), threads, samples, f"loaded {msg.path}") or policy


def _exit_with(parent: int) -> None:
    """Do not outlive a server that was killed, even while still starting up (a thread: imports
    and building the policy can take a while)."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(0)

    threading.Thread(target=watch, name="hgd-doubt-parent", daemon=True).start()


def _unpickle(blob: bytes, main: str) -> Any:
    """The factory and loader; if they name the server's ``__main__`` and it ran as ``python -m
    NAME``, import NAME as ours (only then: importing a module runs its top level)."""
    try:
        return pickle.loads(blob)
    except (AttributeError, ImportError):
        if not main:
            raise
        import importlib

        sys.modules["__main__"] = importlib.import_module(main)
        return pickle.loads(blob)


def _build(sock: zmq.Socket, make: Callable[[], ChunkPolicy], threads: int, samples: int,
           what: str) -> ChunkPolicy | None:
    """Make a policy and warm it up on the batch it will serve; say how it went."""
    try:
        policy = make()
        _limit_threads(threads)
        sample_doubt(policy, _example_observation(policy), samples)
    except Exception as e:
        log.exception("doubt worker: %s failed", what)
        wire.send(sock, wire.ReloadReply(ok=False, checkpoint_id="", message=f"{type(e).__name__}: {e}"), envelope=[b""])
        return None
    wire.send(sock, wire.ReloadReply(ok=True, checkpoint_id=policy_tag(policy), message=what), envelope=[b""])
    return policy


def _answer(sock: zmq.Socket, policy: ChunkPolicy, peer: bytes, job: wire.ObsRequest, samples: int) -> None:
    t0 = time.monotonic()
    try:
        doubt = sample_doubt(policy, job.observation, samples)
    except Exception:
        log.exception("doubt sampling failed")
        doubt = -1.0
    reply = DoubtSample(request_id=job.request_id, doubt=doubt, policy=policy_tag(policy),
                        sample_ms=(time.monotonic() - t0) * 1e3)
    wire.send(sock, reply, envelope=[peer], episode_id=job.header.episode_id)


def _example_observation(policy: ChunkPolicy) -> dict[str, np.ndarray]:
    from policy_server.server import dummy_observations, observation_dtypes

    return {k: v[0] for k, v in dummy_observations(policy.info.observation_shapes, observation_dtypes(policy), 1).items()}


def _limit_threads(threads: int) -> None:
    """Deliberately few torch threads (when the policy uses torch): doubt must not crowd the cores."""
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(max(1, threads))
