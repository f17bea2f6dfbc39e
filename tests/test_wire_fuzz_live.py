"""Hostile messages against a live policy server and a live recorder process, over real sockets:
hypothesis builds valid messages of every type and breaks them (fields of the wrong type or out of
range, array descriptors with absurd shapes, frames dropped, added or cut, random bytes). Nothing
may take either process down, and afterwards a well-formed client still gets correct chunks and a
well-formed episode is recorded intact."""

from __future__ import annotations

import subprocess
import sys
import threading
import time

import h5py
import msgpack
import numpy as np
import pytest
import zmq
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hgdagger.common import wire
from policy_server.client import ClientConfig, PolicyClient
from policy_server.server import PolicyServer, ServerConfig
from hgdagger.benchmarks.bench_fuzz import valid_messages  # the campaign's messages: one list of every kind
from policy_server.toy_policy import ToyPolicy

A = 8
OBS = {"joint_pos": np.zeros(7)}


odd = st.one_of(st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(allow_nan=True),
                st.text(max_size=6), st.binary(max_size=6), st.lists(st.integers(-3, 3), max_size=3),
                st.dictionaries(st.text(max_size=3), st.integers(), max_size=2))
absurd_shape = st.lists(st.one_of(st.integers(-3, 3), st.integers(2**31, 2**64), st.just(0)), min_size=0, max_size=70)


@st.composite
def hostile(draw) -> list[bytes]:
    """One message's frames, broken in one of several ways."""
    msg = draw(st.sampled_from(valid_messages()))
    frames = [bytes(memoryview(f)) for f in wire.encode(msg, robot_id="fuzz", episode_id="ep")]
    head = msgpack.unpackb(frames[0], raw=False)
    how = draw(st.sampled_from(["header_field", "meta_field", "descriptor", "frames", "bytes", "type"]))
    if how == "header_field":
        head["h"][draw(st.sampled_from(["seq", "send_time", "robot_id", "episode_id", "version"]))] = draw(odd)
    elif how == "type":
        head["h"]["type"] = draw(odd)
    elif how == "meta_field" and head["m"]:
        head["m"][draw(st.sampled_from(sorted(head["m"])))] = draw(odd)
    elif how == "descriptor" and head["a"]:
        i = draw(st.integers(0, len(head["a"]) - 1))
        part = draw(st.integers(0, 2))
        head["a"][i][part] = draw(absurd_shape) if part == 2 else draw(odd)
    elif how == "frames":
        cut = draw(st.integers(0, len(frames)))
        frames = frames[:cut] + draw(st.lists(st.binary(max_size=64), max_size=3))
        return [msgpack.packb(head, use_bin_type=True), *frames[1:]] if frames else [b""]
    elif how == "bytes":
        return draw(st.lists(st.binary(max_size=200), min_size=1, max_size=4))
    return [msgpack.packb(head, use_bin_type=True, default=str), *frames[1:]]


@pytest.fixture(scope="module")
def server():
    s = PolicyServer(ToyPolicy(), ServerConfig(endpoint="tcp://127.0.0.1:*"))
    t = threading.Thread(target=s.serve_forever, daemon=True)
    t.start()
    s.thread = t
    yield s
    s.stop()
    t.join(5)


@pytest.fixture(scope="module")
def recorder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("rec")
    endpoint = f"ipc://{folder}/rec.sock"
    proc = subprocess.Popen([sys.executable, "-m", "hgdagger.cli.record", "--endpoint", endpoint, "--out",
                             str(folder / "data")], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 60
    while not (folder / "data").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    push = zmq.Context.instance().socket(zmq.DEALER)  # the recorder is a ROUTER
    push.setsockopt(zmq.LINGER, 2000)
    push.connect(endpoint)
    yield proc, push, folder / "data"
    push.close()
    proc.terminate()
    proc.wait(20)


@pytest.mark.slow
@settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck))
@given(frames=hostile())
def test_hostile_messages_never_take_the_server_down(server, frames):
    sock = zmq.Context.instance().socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.connect(server.bound_endpoint)
    try:
        sock.send_multipart(frames)
        if sock.poll(500):  # a reply, if any, is a typed message (an error for broken input)
            reply = wire.decode(sock.recv_multipart(copy=False))
            assert isinstance(reply, (wire.ErrorReply, wire.Handshake, wire.ChunkReply, wire.ReloadReply))
    finally:
        sock.close()
    assert server.thread.is_alive(), "a message ended the server's loop"


@pytest.mark.slow
def test_after_the_fuzz_a_well_formed_client_gets_correct_chunks(server):
    c = PolicyClient(ClientConfig(endpoint=server.bound_endpoint, request_timeout_s=5))
    c.connect(5)
    r = c.predict(OBS)
    assert r.actions.shape == (16, A) and np.isfinite(r.actions).all()
    c.close()


@pytest.mark.slow
@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(frames=hostile())
def test_hostile_messages_never_take_the_recorder_down(recorder, frames):
    proc, push, _ = recorder
    push.send_multipart(frames)
    assert proc.poll() is None


@pytest.mark.slow
def test_after_the_fuzz_an_episode_with_hostile_steps_inside_is_recorded_intact(recorder):
    proc, push, folder = recorder
    nan = np.full(A, np.nan)

    def step(i, **over):
        fields = dict(step=i, observation={"joint_pos": np.full(7, float(i))}, action=np.full(A, i / 10),
                      policy_action=nan, human_action=nan, source=0, intervention=False, timestamp=float(i)) | over
        return wire.StepRecord(**fields)

    wire.send(push, wire.EpisodeStart(task="after_fuzz", kind="demo"), robot_id="r", episode_id="good")
    for i in range(5):
        wire.send(push, step(i), robot_id="r", episode_id="good")
        wire.send(push, step(1000 + i, source=300), robot_id="r", episode_id="good")  # out of range: refused
        wire.send(push, step(2**40), robot_id="r", episode_id="good")  # a step number no file holds: refused
    wire.send(push, wire.EpisodeEnd(outcome="success", success=True, num_steps=5), robot_id="r", episode_id="good")
    deadline = time.monotonic() + 30
    found = None
    while time.monotonic() < deadline and found is None:
        for path in sorted(folder.glob("ep_*.hdf5")):
            with h5py.File(path, "r") as f:
                if f["data/demo_0"].attrs.get("task") in ("after_fuzz", b"after_fuzz"):
                    found = path
        time.sleep(0.1)
    assert proc.poll() is None and found is not None
    with h5py.File(found, "r") as f:
        demo = f["data/demo_0"]
        np.testing.assert_array_equal(demo["obs/joint_pos"][:, 0], np.arange(5))
        np.testing.assert_allclose(demo["actions"][:, 0], np.arange(5) / 10)


@pytest.fixture(scope="module")
def merger():
    from teleop.intent import IntentMerger

    m = IntentMerger("tcp://127.0.0.1:*", stale_after_s=60.0)
    push = zmq.Context.instance().socket(zmq.PUSH)
    push.setsockopt(zmq.LINGER, 0)
    push.connect(m.endpoint)
    yield m, push
    push.close()
    m.close()


def _intent_frames():
    from teleop.intent import TeleopIntent

    return [TeleopIntent(device="pad", events=["takeover"], twist=np.zeros(5)),
            TeleopIntent(device="leader", command=np.zeros(A), misaligned=[2])]


@st.composite
def hostile_intent(draw) -> list[bytes]:
    msg = draw(st.sampled_from(_intent_frames()))
    frames = [bytes(memoryview(f)) for f in wire.encode(msg, robot_id="fuzz")]
    head = msgpack.unpackb(frames[0], raw=False)
    how = draw(st.sampled_from(["meta", "descriptor", "array"]))
    if how == "meta":
        head["m"][draw(st.sampled_from(sorted(head["m"])))] = draw(odd)
    elif how == "descriptor" and head["a"]:
        head["a"][0][2] = draw(st.lists(st.integers(0, 9), min_size=0, max_size=3))
        return [msgpack.packb(head, use_bin_type=True), bytes(8 * int(np.prod(head["a"][0][2]) or 0))]
    elif how == "array" and head["a"]:
        values = draw(st.lists(st.floats(allow_nan=True, allow_infinity=True), min_size=1, max_size=9))
        head["a"][0][1], head["a"][0][2] = "<f8", [len(values)]
        return [msgpack.packb(head, use_bin_type=True), np.array(values, "<f8").tobytes()]
    return [msgpack.packb(head, use_bin_type=True, default=str), *frames[1:]]


@settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
@given(frames=hostile_intent())
def test_hostile_intents_never_reach_the_runtime_as_unusable_commands(merger, frames):
    m, push = merger
    push.send_multipart(frames)
    time.sleep(0.002)
    merged = m.poll()  # never raises
    if merged.twist is not None:
        assert merged.twist.shape == (5,) and np.isfinite(merged.twist[:4]).all()
    if merged.command is not None:
        assert merged.command.ndim == 1 and np.isfinite(merged.command).all()


def _peak_rss_mb(pid: int) -> float:
    """The process's high-water mark (VmHWM): a buffer allocated and freed between reads still shows."""
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM")


@pytest.mark.slow
def test_a_frame_over_the_transport_cap_never_reaches_the_servers_memory(tmp_path):
    """ZeroMQ's MAXMSGSIZE is checked against a frame's declared size before anything is allocated:
    a 400 MB frame disconnects its sender and the server's peak memory does not move."""
    from hgdagger.benchmarks.bench_fuzz import start

    endpoint, log = f"ipc://{tmp_path}/srv", tmp_path / "server.log"
    proc = start(["hgdagger.cli.serve", "--policy", "toy", "--endpoint", endpoint], log,
                 lambda: "serving" in log.read_text())
    try:
        before = _peak_rss_mb(proc.pid)
        assert 400 * 2**20 > wire.DEFAULT_LIMITS.hard_frame_limit
        sock = zmq.Context.instance().socket(zmq.DEALER)
        sock.setsockopt(zmq.LINGER, 0)
        sock.connect(endpoint)
        sock.send_multipart([wire.encode(wire.Hello())[0], bytes(400 * 2**20)])
        time.sleep(2.0)
        sock.close()
        assert proc.poll() is None
        assert _peak_rss_mb(proc.pid) - before < 32, "the oversized frame was buffered"
        c = PolicyClient(ClientConfig(endpoint=endpoint, request_timeout_s=10))
        c.connect(10)
        assert c.predict(OBS).actions.shape[0] == 16
        c.close()
    finally:
        proc.terminate()
        proc.wait(20)
