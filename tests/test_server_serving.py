"""The policy server over real ZeroMQ sockets: handshake, chunks, batching, bad input, reload, CURVE."""

from __future__ import annotations

import os
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import msgpack
import numpy as np
import pytest
import zmq

from hgdagger.common import wire
from policy_server.client import ClientConfig, PolicyClient, ServerError, ServerUnavailable
from policy_server.server import PolicyServer, ServerConfig
from policy_server.toy_policy import ToyConfig, ToyPolicy


@contextmanager
def serving(policy=None, loader=None, **cfg):
    cfg.setdefault("endpoint", "tcp://127.0.0.1:*")
    server = PolicyServer(policy or ToyPolicy(), ServerConfig(**cfg), loader=loader)
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    try:
        yield server
    finally:
        server.stop()
        t.join(5)


def _client(server, **kw) -> PolicyClient:
    c = PolicyClient(ClientConfig(endpoint=server.bound_endpoint, request_timeout_s=3, **kw))
    c.connect(5)
    return c


OBS = {"joint_pos": np.zeros(7), "ignored_extra": np.ones(3)}


def test_handshake_carries_policy_metadata():
    with serving() as s:
        c = _client(s)
        hs = c.handshake
        assert (hs.chunk_length, hs.action_dim, hs.control_period) == (16, 8, 0.05)
        assert hs.observation_shapes == {"joint_pos": [7]} and hs.observation_dtypes == {"joint_pos": "<f8"}
        assert hs.checkpoint_id == "toy" and hs.checkpoint_hash == "toy" and hs.supports_prefix
        c.close()


def test_chunk_reply_matches_the_policy_and_reports_timing():
    with serving() as s:
        c = _client(s)
        r = c.predict(OBS)
        ref = ToyPolicy()
        ref.calls = 1  # the server's policy has been called once
        np.testing.assert_allclose(r.actions, ref.plan(np.zeros(7)), atol=1e-6)
        assert r.checkpoint_id == "toy" and r.total_ms >= r.inference_ms >= 0 and r.queue_ms >= 0
        c.close()


def test_concurrent_requests_are_batched_into_one_forward_pass():
    with serving(ToyPolicy(ToyConfig(delay_s=0.15)), max_batch=8) as s:
        clients = [_client(s, robot_id=f"r{i}") for i in range(5)]
        clients[0].send_request(OBS)  # keeps the server busy while the others queue up
        time.sleep(0.05)
        for c in clients[1:]:
            c.send_request({"joint_pos": np.full(7, 0.1)})
        sizes = [c.recv(3).batch_size for c in clients]
        assert sizes[0] == 1 and sizes[1:] == [4, 4, 4, 4]
        for c in clients:
            c.close()


def test_observation_not_matching_handshake_gets_an_error_and_server_keeps_serving():
    with serving() as s:
        c = _client(s)
        c.handshake.observation_dtypes["joint_pos"] = "<f4"  # lie about the dtype on our side
        with pytest.raises(ServerError) as e:
            c.predict(OBS)
        assert e.value.code == "spec_mismatch"
        c2 = _client(s)
        assert c2.predict(OBS).actions.shape == (16, 8)
        c.close(), c2.close()


def _raw_exchange(endpoint: str, frames: list[bytes]) -> wire.ErrorReply:
    sock = zmq.Context.instance().socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.connect(endpoint)
    try:
        sock.send_multipart(frames)
        assert sock.poll(3000), "the server did not answer"
        return wire.decode(sock.recv_multipart())
    finally:
        sock.close(0)


def _good_frames() -> list[bytes]:
    return [bytes(memoryview(f)) for f in wire.encode(wire.ObsRequest(request_id=9, observation={"joint_pos": np.zeros(7)}))]


def _bad_version() -> list[bytes]:
    f = _good_frames()
    h = msgpack.unpackb(f[0])
    h["h"]["version"] = 42
    return [msgpack.packb(h), *f[1:]]


@pytest.mark.parametrize("name,frames,code", [
    ("garbage", lambda: [b"\xc1\xc1not msgpack"], "malformed"),
    ("truncated", lambda: _good_frames()[:1], "malformed"),
    ("short frame", lambda: [_good_frames()[0], b"\x00" * 5], "spec_mismatch"),
    ("huge frame", lambda: [_good_frames()[0], b"\x00" * (2 * 1024 * 1024)], "oversized"),
    ("wrong schema", _bad_version, "schema_version"),
])
def test_bad_clients_get_errors_and_good_clients_are_still_served(name, frames, code):
    with serving(limits=wire.Limits(max_frame_bytes=1024 * 1024)) as s:
        good = _client(s)
        reply = _raw_exchange(s.bound_endpoint, frames())
        assert isinstance(reply, wire.ErrorReply) and reply.code == code, name
        assert good.predict(OBS).actions.shape == (16, 8)
        assert s.stats["errors"] == 1
        good.close()


def test_reload_on_command_switches_and_a_failed_reload_keeps_the_old_policy():
    def loader(path: str):
        if "broken" in path:
            raise OSError("truncated checkpoint")
        return ToyPolicy(ToyConfig(checkpoint_id=Path(path).stem))

    with serving(loader=loader) as s:
        c = _client(s)
        r = c.reload("/ckpt/round_1.pt", timeout_s=5)
        assert r.ok and r.checkpoint_id == "round_1"
        assert c.predict(OBS).checkpoint_id == "round_1"
        r = c.reload("/ckpt/broken.pt", timeout_s=5)
        assert not r.ok and "truncated" in r.message and r.checkpoint_id == "round_1"
        assert c.predict(OBS).checkpoint_id == "round_1"
        c.close()


def test_reload_refuses_a_checkpoint_that_breaks_the_handshake():
    with serving(loader=lambda p: ToyPolicy(ToyConfig(chunk_length=8, checkpoint_id="short"))) as s:
        c = _client(s)
        r = c.reload("/x.pt", timeout_s=5)
        assert not r.ok and "restart" in r.message
        assert c.predict(OBS).checkpoint_id == "toy"
        c.close()


def test_watched_checkpoint_file_change_triggers_reload(tmp_path):
    ck = tmp_path / "latest.pt"
    ck.write_text("v1")
    loader = lambda p: ToyPolicy(ToyConfig(checkpoint_id=Path(p).read_text()))  # noqa: E731
    with serving(loader=loader, watch_path=str(ck), watch_interval_s=0.05) as s:
        c = _client(s)
        ck.write_text("v2")
        os.utime(ck, (time.time() + 5, time.time() + 5))
        deadline = time.monotonic() + 5
        while c.predict(OBS).checkpoint_id != "v2":
            assert time.monotonic() < deadline, "the watched file was not reloaded"
            time.sleep(0.05)
        c.close()


def test_curve_refuses_a_client_without_the_right_key(tmp_path):
    import zmq.auth

    for d in ("server", "allowed", "stranger"):
        (tmp_path / d).mkdir()
    srv_pub, srv_sec = zmq.auth.create_certificates(tmp_path / "server", "server")
    ok_pub, ok_sec = zmq.auth.create_certificates(tmp_path / "allowed", "robot")
    _, bad_sec = zmq.auth.create_certificates(tmp_path / "stranger", "robot")
    with serving(curve_secret_file=srv_sec, curve_clients_dir=str(tmp_path / "allowed")) as s:
        good = _client(s, curve_server_public_file=srv_pub, curve_client_secret_file=ok_sec)
        assert good.predict(OBS).actions.shape == (16, 8)
        stranger = PolicyClient(ClientConfig(endpoint=s.bound_endpoint, curve_server_public_file=srv_pub,
                                             curve_client_secret_file=bad_sec))
        with pytest.raises(ServerUnavailable):
            stranger.connect(1.0)
        plain = PolicyClient(ClientConfig(endpoint=s.bound_endpoint))
        with pytest.raises(ServerUnavailable):
            plain.connect(1.0)
        good.close(), stranger.close(), plain.close()


def test_request_timeout_raises_and_resets_instead_of_hanging():
    with serving(ToyPolicy(ToyConfig(delay_s=0.5))) as s:
        c = _client(s)
        with pytest.raises(ServerUnavailable):
            c.predict(OBS, timeout_s=0.1)
        assert c.predict(OBS, timeout_s=3).actions.shape == (16, 8)  # the late reply was dropped
        c.close()


def test_gen_keys_cli_writes_keys_a_curve_server_and_robot_can_use(tmp_path):
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[1]
    out = subprocess.run([sys.executable, "-m", "hgdagger.cli.serve", "--gen-keys", str(tmp_path)], cwd=root,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and "--curve-secret" in out.stdout
    sec, clients = tmp_path / "server.key_secret", tmp_path / "clients"
    for secret in (sec, tmp_path / "robot.key_secret"):
        assert secret.stat().st_mode & 0o777 == 0o600  # no other local user reads a secret key
    before = sec.read_bytes()
    again = subprocess.run([sys.executable, "-m", "hgdagger.cli.serve", "--gen-keys", str(tmp_path)], cwd=root,
                           capture_output=True, text=True, timeout=60)
    assert again.returncode == 2 and "already exist" in again.stderr and "Traceback" not in again.stderr
    assert sec.read_bytes() == before  # never silently replaced
    with serving(curve_secret_file=str(sec), curve_clients_dir=str(clients)) as s:
        c = _client(s, curve_server_public_file=str(tmp_path / "server.key"),
                    curve_client_secret_file=str(tmp_path / "robot.key_secret"))
        assert c.predict(OBS).actions.shape == (16, 8)
        c.close()


class SlowToSample(ToyPolicy):
    """A toy whose passes cost 40 ms per row: a robot's chunk is quick, eight samples of it are not.
    (Module level: the doubt worker gets a pickled copy.)"""

    def predict_chunks(self, observations, prefix=None, frozen_steps=None):
        time.sleep(0.04 * len(observations["joint_pos"]))
        return super().predict_chunks(observations, prefix, frozen_steps)


class ColdStart(ToyPolicy):
    """A toy whose first call at each batch size, with and without a prefix, takes 0.6 s: like
    allocation, CUDA start-up or a torch.compile per shape."""

    def __init__(self, cfg: ToyConfig | None = None) -> None:
        super().__init__(cfg)
        self.seen: set[tuple[int, bool]] = set()

    def predict_chunks(self, observations, prefix=None, frozen_steps=None):
        shape = (len(observations["joint_pos"]), prefix is None)
        if shape not in self.seen:
            self.seen.add(shape)
            time.sleep(0.6)
        return super().predict_chunks(observations, prefix, frozen_steps)


def noisy_toy_loader(path: str) -> ToyPolicy:
    """A reload loader the doubt worker can follow (it pickles)."""
    return ToyPolicy(ToyConfig(noise=0.2, checkpoint_id=Path(path).stem))


def _doubt_once_sampled(client: PolicyClient, episode_id: str = "", timeout_s: float = 10.0) -> float:
    """Ask until a reply carries a doubt (the worker samples after a reply; later ones show it)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        rid = client.send_request(OBS, episode_id=episode_id, send_timeout_s=3)
        reply = client._await(wire.ChunkReply, 3, rid)
        if reply.doubt >= 0:
            return reply.doubt
        time.sleep(0.02)
    return -1.0


def test_doubt_is_the_spread_of_sampled_chunks_small_for_a_sure_policy_large_for_an_unsure_one():
    with serving(ToyPolicy(ToyConfig(noise=0.0)), doubt_samples=4) as s:
        c = _client(s)
        assert 0.0 <= _doubt_once_sampled(c) < 0.005
        c.close()
    with serving(ToyPolicy(ToyConfig(noise=0.2)), doubt_samples=4) as s:
        c = _client(s)
        assert _doubt_once_sampled(c) > 0.05
        c.close()
    with serving(ToyPolicy(ToyConfig(noise=0.2))) as s:  # off by default: no worker, no doubt
        c = _client(s)
        assert s.doubt is None and [c.predict(OBS).doubt for _ in range(3)] == [-1.0] * 3
        c.close()


def _round_trips(server: PolicyServer, n: int, want_doubt: bool, timeout_s: float = 15.0) -> tuple[list[float], list[float]]:
    """A robot that asks again 20 ms after each chunk: the first ``n`` round trips (s), and the
    doubt of every reply (asking on, if ``want_doubt``, until one carries a doubt)."""
    c = _client(server)
    times, doubts = [], []
    deadline = time.monotonic() + timeout_s
    while len(times) < n or (want_doubt and max(doubts) < 0 and time.monotonic() < deadline):
        t0 = time.monotonic()
        doubts.append(c.predict(OBS).doubt)
        times.append(time.monotonic() - t0)
        time.sleep(0.02)
    c.close()
    return times[:n], doubts


def test_doubt_sampling_never_delays_a_chunk_and_arrives_on_later_replies():
    with serving(SlowToSample(ToyConfig(noise=0.2))) as s:
        off, _ = _round_trips(s, 12, want_doubt=False)
    with serving(SlowToSample(ToyConfig(noise=0.2)), doubt_samples=8) as s:  # 8 samples: 320 ms a pass
        on, doubts = _round_trips(s, 12, want_doubt=True)
    # Sampling alongside each chunk made every reply wait for it (40 ms -> 320 ms here).
    assert np.median(on) < 1.5 * np.median(off) + 0.03, (np.median(on), np.median(off))
    assert np.percentile(on, 90) < 2 * np.percentile(off, 90) + 0.05, (on, off)
    assert doubts[0] == -1.0 and max(doubts) > 0.05  # sampled after the first reply, shown on a later one


def test_doubt_is_not_carried_into_a_new_episode_nor_past_a_reload():
    with serving(ToyPolicy(ToyConfig(noise=0.2)), loader=noisy_toy_loader, doubt_samples=4) as s:
        c = _client(s)
        assert _doubt_once_sampled(c, episode_id="A") > 0.05
        rid = c.send_request(OBS, episode_id="B", send_timeout_s=3)
        assert c._await(wire.ChunkReply, 3, rid).doubt == -1.0  # episode A's doubt is not B's
        assert _doubt_once_sampled(c, episode_id="B") > 0.05
        assert c.reload("/ckpt/round_1.pt", timeout_s=5).ok
        rid = c.send_request(OBS, episode_id="B", send_timeout_s=3)
        reply = c._await(wire.ChunkReply, 3, rid)
        assert reply.checkpoint_id == "round_1" and reply.doubt == -1.0  # the old policy's doubt is not shown
        assert _doubt_once_sampled(c, episode_id="B") > 0.05  # the worker follows the reload
        c.close()


def test_the_server_warms_up_before_it_listens_so_the_first_requests_are_quick(tmp_path):
    endpoint = f"ipc://{tmp_path}/srv"
    early: dict = {}

    def robot_started_first() -> None:  # keeps trying to connect until the server listens
        c = PolicyClient(ClientConfig(endpoint=endpoint, request_timeout_s=3))
        c.connect(15)
        early.update(client=c, handshake_at=time.monotonic())

    robot = threading.Thread(target=robot_started_first)
    robot.start()
    server = PolicyServer(ColdStart(), ServerConfig(endpoint=endpoint, max_batch=2, warmup_rounds=1))
    listening = time.monotonic()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        robot.join(15)
        c = early["client"]
        assert early["handshake_at"] > listening and server.warmup_s > 2.0  # sizes 1 and 2, with and without prefix
        prefix = np.full((16, 8), np.nan, np.float32)
        prefix[:4] = 0.0
        for kw in ({}, {"prefix": prefix, "frozen_steps": 2}):
            t0 = time.monotonic()
            c.predict(OBS, **kw)
            assert time.monotonic() - t0 < 0.4, kw  # not the 0.6 s of a first call
        other = _client(server, robot_id="r1")
        t0 = time.monotonic()
        c.send_request(OBS), other.send_request(OBS)
        assert c.recv(3) is not None and other.recv(3) is not None
        assert time.monotonic() - t0 < 0.4  # both batch sizes were warm
        c.close(), other.close()
    finally:
        server.stop()
        thread.join(5)


def _stat(pid: int) -> list[str]:
    """/proc/PID/stat from its third field on (state, parent, ..., nice at [16])."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def _children(pid: int) -> list[int]:
    """The processes whose parent is ``pid`` (Linux /proc)."""
    out = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            if int(_stat(int(proc.name))[1]) == pid:
                out.append(int(proc.name))
        except OSError:
            continue
    return out


def _gone(pid: int, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not Path(f"/proc/{pid}").exists() or " Z " in Path(f"/proc/{pid}/stat").read_text():
            return True
        time.sleep(0.05)
    return False


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc to find the doubt worker")
def test_hgd_serve_expert_warms_up_then_serves_at_once_and_its_doubt_worker_dies_with_it(tmp_path):
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[1]
    endpoint = f"ipc://{tmp_path}/srv"
    with open(tmp_path / "server.log", "w") as log:
        proc = subprocess.Popen([sys.executable, "-m", "hgdagger.cli.serve", "--policy", "expert:pick_place", "--endpoint",
                                 endpoint, "--doubt-samples", "4", "--log-level", "WARNING"], cwd=root,
                                stdout=subprocess.PIPE, stderr=log, text=True)
    try:
        line = proc.stdout.readline()
        assert "serving expert:pick_place" in line and "warmed up in" in line, line
        c = PolicyClient(ClientConfig(endpoint=endpoint, request_timeout_s=5))
        hs = c.connect(5)
        obs = {k: np.zeros(shape, hs.observation_dtypes[k]) for k, shape in hs.observation_shapes.items()}
        t0 = time.monotonic()
        assert c.predict(obs).actions.shape == (16, 8)
        assert time.monotonic() - t0 < 1.0
        deadline = time.monotonic() + 20  # (the worker samples in the background: slow on a busy machine)
        while (doubt := c.predict(obs).doubt) < 0 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert doubt == 0.0  # the scripted expert never hesitates
        c.close()
        from policy_server.doubt import WORKER_NICE

        workers = _children(proc.pid)
        assert len(workers) == 1 and int(_stat(workers[0])[16]) == WORKER_NICE  # sampling in the background
    finally:
        proc.kill()  # no clean shutdown: the worker notices its server is gone
        proc.wait()
    assert _gone(workers[0], 10), (tmp_path / "server.log").read_text()
