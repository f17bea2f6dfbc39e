"""The wire: every message round-trips, and everything malformed is refused with a typed error."""

from __future__ import annotations

import re

import msgpack
import numpy as np
import pytest
import zmq
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from hgdagger.common import wire
from hgdagger.common.types import PolicyInfo


def _obs(image: bool = False) -> dict[str, np.ndarray]:
    obs = {"joint_pos": np.linspace(-1, 1, 7), "gripper_pos": np.array([0.25])}
    if image:
        obs["front_rgb"] = np.random.default_rng(0).integers(0, 255, (48, 64, 3), dtype=np.uint8)
    return obs


def _roundtrip(msg: wire.Message, **kw) -> wire.Message:
    frames = [bytes(memoryview(f)) for f in wire.encode(msg, **kw)]
    return wire.decode(frames)


def _step(**over) -> wire.StepRecord:
    nan = np.full(8, np.nan)
    kw = dict(step=3, observation=_obs(True), action=np.arange(8.0), policy_action=np.arange(8.0),
              human_action=nan, source=0, intervention=False, timestamp=12.5, chunk_id=4,
              chunk_index=2, checkpoint_id="ck", reward=0.0, done=False)
    kw.update(over)
    return wire.StepRecord(**kw)


def test_step_record_roundtrips_with_header_and_nan():
    got = _roundtrip(_step(), seq=7, robot_id="arm0", episode_id="ep3", send_time=100.0)
    assert isinstance(got, wire.StepRecord)
    assert (got.header.seq, got.header.robot_id, got.header.episode_id, got.header.send_time) == (7, "arm0", "ep3", 100.0)
    assert got.header.type == "step" and got.header.version == wire.SCHEMA_VERSION
    np.testing.assert_array_equal(got.observation["front_rgb"], _obs(True)["front_rgb"])
    assert got.observation["front_rgb"].dtype == np.uint8
    assert np.isnan(got.human_action).all() and got.chunk_index == 2 and got.intervention is False


def test_every_registered_type_has_a_unique_name():
    types = wire.message_types()
    assert {"hello", "handshake", "obs", "chunk", "error", "reload", "reload_reply", "step",
            "episode_start", "episode_end"} <= set(types)


def test_episode_events_and_handshake_roundtrip():
    info = PolicyInfo(chunk_length=16, action_dim=8, control_period=0.05,
                      observation_shapes={"joint_pos": (7,)}, checkpoint_id="c1", checkpoint_hash="h")
    hs = wire.handshake_from_info(info, {"joint_pos": np.float64}, supports_prefix=True)
    got = _roundtrip(hs)
    assert got.observation_shapes == {"joint_pos": [7]} and got.observation_dtypes == {"joint_pos": "<f8"}
    assert got.supports_prefix is True
    start = _roundtrip(wire.EpisodeStart(task="pick_place", kind="demo", env_args='{"type": 1}'), episode_id="e")
    assert start.task == "pick_place" and start.header.episode_id == "e"
    end = _roundtrip(wire.EpisodeEnd(outcome="success", success=True, num_steps=10))
    assert end.success and end.num_steps == 10


def test_optional_prefix_absent_and_present():
    req = _roundtrip(wire.ObsRequest(request_id=1, observation=_obs()))
    assert req.prefix is None
    pre = np.full((16, 8), np.nan, np.float32)
    pre[:3] = 1.0
    req = _roundtrip(wire.ObsRequest(request_id=1, observation=_obs(), prefix=pre, frozen_steps=3))
    assert req.frozen_steps == 3 and np.isnan(req.prefix[3:]).all() and (req.prefix[:3] == 1).all()


def test_empty_observation_dict_survives():
    assert _roundtrip(wire.ObsRequest(request_id=1, observation={})).observation == {}


@settings(max_examples=60, deadline=None)
@given(arr=hnp.arrays(dtype=st.sampled_from([np.uint8, np.int32, np.float32, np.float64, np.bool_]),
                      shape=hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=5)))
def test_any_numeric_array_roundtrips_bit_exact(arr):
    got = _roundtrip(wire.ChunkReply(request_id=0, actions=arr, checkpoint_id=""))
    assert got.actions.dtype == arr.dtype and got.actions.shape == arr.shape
    assert got.actions.tobytes() == np.ascontiguousarray(arr).tobytes()


def test_non_contiguous_and_big_endian_arrays_are_normalised():
    a = np.arange(20.0).reshape(4, 5)[:, ::2]
    got = _roundtrip(wire.ChunkReply(request_id=0, actions=a, checkpoint_id=""))
    np.testing.assert_array_equal(got.actions, a)
    b = np.arange(4, dtype=">f4")
    got = _roundtrip(wire.ChunkReply(request_id=0, actions=b, checkpoint_id=""))
    assert got.actions.dtype.str == "<f4" and (got.actions == b).all()


def test_object_arrays_are_refused_on_send():
    with pytest.raises(wire.MalformedMessage):
        wire.encode(wire.ChunkReply(request_id=0, actions=np.array([object()]), checkpoint_id=""))


# ----------------------------------------------------------------------------- refusals
def _frames(msg=None):
    return [bytes(memoryview(f)) for f in wire.encode(msg or _step())]


def _edit_header(frames, fn):
    head = msgpack.unpackb(frames[0])
    fn(head)
    return [msgpack.packb(head), *frames[1:]]


@pytest.mark.parametrize("frames,err", [
    ([], wire.MalformedMessage),
    ([b"\xc1garbage"], wire.MalformedMessage),
    ([msgpack.packb([1, 2])], wire.MalformedMessage),
    ([b"\x00" * 10], wire.MalformedMessage),
])
def test_garbage_is_malformed(frames, err):
    with pytest.raises(err):
        wire.decode(frames)


def test_wrong_schema_version_is_refused():
    with pytest.raises(wire.SchemaVersionMismatch, match="schema version 99"):
        wire.decode(_edit_header(_frames(), lambda h: h["h"].update(version=99)))


def test_unknown_type_is_refused():
    with pytest.raises(wire.UnknownMessageType):
        wire.decode(_edit_header(_frames(), lambda h: h["h"].update(type="launch_missiles")))


def test_missing_field_is_refused():
    with pytest.raises(wire.MissingField, match="timestamp"):
        wire.decode(_edit_header(_frames(), lambda h: h["m"].pop("timestamp")))
    with pytest.raises(wire.MissingField):
        wire.decode(_edit_header(_frames(), lambda h: h["h"].pop("seq")))


def test_missing_array_is_refused():
    def drop_action(h):
        i = [d[0] for d in h["a"]].index("action")
        h["a"].pop(i)
        return i
    frames = _frames()
    head = msgpack.unpackb(frames[0])
    i = drop_action(head)
    frames = [msgpack.packb(head), *[f for j, f in enumerate(frames[1:]) if j != i]]
    with pytest.raises(wire.MissingField, match="action"):
        wire.decode(frames)


@pytest.mark.parametrize("edit, says", [
    (lambda h: h["m"].update(observation=["joint_pos", "joint_pos"]), "listed twice"),
    (lambda h: h["m"].update(observation=["joint_pos", "wrist"]), "missing ['wrist']"),
    (lambda h: h["m"].update(observation=[]), "extra ['observation/joint_pos']"),
    (lambda h: h["m"].update(observation="joint_pos"), "not a list of strings"),
    (lambda h: h["m"].update(observation=[7]), "not a list of strings"),
    (lambda h: h["m"].update(launch=1), "unknown field 'launch'"),
    (lambda h: h["a"][0].__setitem__(0, "launch/x"), "unexpected array 'launch/x'"),
    (lambda h: h["a"][0].__setitem__(2, [7, -1]), "bad array descriptor"),
])
def test_a_map_of_arrays_must_match_its_key_list_exactly(edit, says):
    request = wire.ObsRequest(request_id=1, observation={"joint_pos": np.zeros(7, np.float32)})
    with pytest.raises(wire.MalformedMessage, match=re.escape(says)):
        wire.decode(_edit_header(_frames(request), edit))


def test_truncated_message_is_refused():
    with pytest.raises(wire.MalformedMessage, match="frames"):
        wire.decode(_frames()[:-1])


def test_frame_size_not_matching_shape_is_refused():
    frames = _frames()
    frames[1] = frames[1][:-1]
    with pytest.raises(wire.SpecMismatch, match="needs"):
        wire.decode(frames)


def test_wrong_field_types_are_refused():
    with pytest.raises(wire.MalformedMessage, match="step"):
        wire.decode(_edit_header(_frames(), lambda h: h["m"].update(step="three")))
    with pytest.raises(wire.MalformedMessage, match="intervention"):
        wire.decode(_edit_header(_frames(), lambda h: h["m"].update(intervention=1)))
    with pytest.raises(wire.MalformedMessage, match="unknown field"):
        wire.decode(_edit_header(_frames(), lambda h: h["m"].update(evil=1)))


def test_disallowed_dtype_is_refused():
    with pytest.raises(wire.MalformedMessage, match="not allowed"):
        wire.decode(_edit_header(_frames(), lambda h: h["a"][0].__setitem__(1, "|O")))


def test_oversized_frames_are_refused():
    limits = wire.Limits(max_frame_bytes=1000)
    big = wire.ObsRequest(request_id=1, observation={"img": np.zeros((100, 100), np.uint8)})
    with pytest.raises(wire.OversizedMessage):
        wire.decode([bytes(memoryview(f)) for f in wire.encode(big)], limits)
    with pytest.raises(wire.OversizedMessage):
        wire.decode([b"x"] * 100)


def test_observation_checked_against_handshake():
    info = PolicyInfo(chunk_length=4, action_dim=8, control_period=0.05,
                      observation_shapes={"joint_pos": (7,), "front_rgb": (48, 64, 3)}, checkpoint_id="c")
    hs = wire.handshake_from_info(info, {"joint_pos": "<f8", "front_rgb": "|u1"})
    wire.check_observation(_obs(True), hs)
    with pytest.raises(wire.SpecMismatch, match="lacks"):
        wire.check_observation(_obs(False), hs)
    bad = _obs(True) | {"joint_pos": np.zeros(6)}
    with pytest.raises(wire.SpecMismatch, match="shape"):
        wire.check_observation(bad, hs)
    bad = _obs(True) | {"joint_pos": np.zeros(7, np.float32)}
    with pytest.raises(wire.SpecMismatch, match="dtype"):
        wire.check_observation(bad, hs)
    with pytest.raises(wire.SpecMismatch):
        wire.check_prefix(np.zeros((3, 8)), hs)


def test_zero_copy_over_real_zmq_sockets():
    ctx = zmq.Context.instance()
    a, b = ctx.socket(zmq.PAIR), ctx.socket(zmq.PAIR)
    try:
        port = a.bind_to_random_port("tcp://127.0.0.1")
        b.connect(f"tcp://127.0.0.1:{port}")
        img = np.random.default_rng(1).integers(0, 255, (480, 640, 3), dtype=np.uint8)
        wire.send(a, wire.ObsRequest(request_id=5, observation={"front_rgb": img}), seq=1)
        assert b.poll(2000)
        got = wire.decode(b.recv_multipart(copy=False))
        arr = got.observation["front_rgb"]
        assert not arr.flags.owndata  # a view over the received frame, not a copy
        np.testing.assert_array_equal(arr, img)
    finally:
        a.close(0)
        b.close(0)
