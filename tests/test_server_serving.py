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


def test_doubt_is_the_spread_of_sampled_chunks_small_for_a_sure_policy_large_for_an_unsure_one():
    with serving(ToyPolicy(ToyConfig(noise=0.0)), doubt_samples=4) as s:  # the toy drifts ~1 mrad per call
        c = _client(s)
        assert 0.0 <= c.predict(OBS).doubt < 0.005
        c.close()
    with serving(ToyPolicy(ToyConfig(noise=0.2)), doubt_samples=4) as s:
        c = _client(s)
        assert c.predict(OBS).doubt > 0.05
        c.close()
    with serving(ToyPolicy(ToyConfig(noise=0.2))) as s:  # off by default: no extra inference
        c = _client(s)
        assert c.predict(OBS).doubt == -1.0
        c.close()
