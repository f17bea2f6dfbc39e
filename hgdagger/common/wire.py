"""Every message that crosses a process boundary: the one module every process imports.

Messages are dataclasses: fields annotated ``np.ndarray`` travel as raw-buffer frames (images
zero-copy), ``dict[str, np.ndarray]`` as one frame per key, everything else in a small msgpack
header with the type, schema version, sequence number, send time, robot id and episode id. The
framing and validation live in :mod:`hgdagger.common.wire_codec` and are re-exported here: ``encode``,
``decode``, ``send``, the :class:`WireError` family, :class:`Limits`. Never pickle on the wire.

Another package may define its own message by subclassing :class:`Message` with a unique ``TYPE``
(e.g. ``teleop.intent.TeleopIntent``); importing that module registers it for ``decode``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Mapping

import numpy as np

from hgdagger.common.wire_codec import (  # noqa: F401  (re-exported: import hgdagger.common.wire, not the codec)
    ALLOWED_DTYPES, DEFAULT_LIMITS, SCHEMA_VERSION, ErrorCode, Header, Limits, MalformedMessage, Message,
    MissingField, OversizedMessage, SchemaVersionMismatch, Sequencer, SpecMismatch, UnknownMessageType,
    WireError, decode, encode, message_types, send,
)

__all__ = [
    "ALLOWED_DTYPES", "DEFAULT_LIMITS", "SCHEMA_VERSION", "ErrorCode", "Header", "Limits", "MalformedMessage",
    "Message", "MissingField", "OversizedMessage", "SchemaVersionMismatch", "Sequencer", "SpecMismatch",
    "UnknownMessageType", "WireError", "decode", "encode", "message_types", "send",
    "Hello", "Handshake", "ObsRequest", "ChunkReply", "ErrorReply", "ReloadRequest", "ReloadReply",
    "StepRecord", "EpisodeStart", "EpisodeEnd", "RecorderHello", "RecorderAck", "handshake_from_info", "check_observation", "check_prefix",
]


@dataclass(kw_only=True)
class Hello(Message):
    """Client -> server, first message: who is asking. Answered with a :class:`Handshake`."""

    TYPE: ClassVar[str] = "hello"
    client: str = ""


@dataclass(kw_only=True)
class Handshake(Message):
    """Server -> client: what the served policy promises (PolicyInfo plus dtypes and options)."""

    TYPE: ClassVar[str] = "handshake"
    RANGES: ClassVar[dict[str, tuple[int, int]]] = {"chunk_length": (1, 2**16), "action_dim": (1, 2**16)}
    chunk_length: int
    action_dim: int
    control_period: float
    observation_shapes: dict[str, list[int]]
    observation_dtypes: dict[str, str]
    checkpoint_id: str
    checkpoint_hash: str = ""
    normalization_hash: str = ""
    action_dtype: str = "<f4"
    supports_prefix: bool = False
    server: str = ""


@dataclass(kw_only=True)
class ObsRequest(Message):
    """Robot -> server: one observation (no batch dim), optionally the committed prefix (H, A) with
    NaN rows where nothing is committed, and how many of its steps will surely execute (RTC)."""

    TYPE: ClassVar[str] = "obs"
    RANGES: ClassVar[dict[str, tuple[int, int]]] = {"frozen_steps": (0, 2**16)}
    request_id: int
    observation: dict[str, np.ndarray]
    prefix: np.ndarray | None = None
    frozen_steps: int = 0
    obs_time: float = 0.0


@dataclass(kw_only=True)
class ChunkReply(Message):
    """Server -> robot: the chunk (H, A) in physical units, with the server's timing."""

    TYPE: ClassVar[str] = "chunk"
    request_id: int
    actions: np.ndarray
    checkpoint_id: str
    chunk_id: int = 0
    queue_ms: float = 0.0
    inference_ms: float = 0.0
    total_ms: float = 0.0
    batch_size: int = 1
    doubt: float = -1.0  # spread of several sampled chunks for this observation (rad); -1: not measured


@dataclass(kw_only=True)
class ErrorReply(Message):
    """Any receiver -> sender: the request was refused; ``code`` is an :class:`ErrorCode` value."""

    TYPE: ClassVar[str] = "error"
    code: str
    message: str
    request_id: int = -1


@dataclass(kw_only=True)
class ReloadRequest(Message):
    """Operator -> server: load this checkpoint (empty path: reload the current file)."""

    TYPE: ClassVar[str] = "reload"
    path: str = ""


@dataclass(kw_only=True)
class ReloadReply(Message):
    TYPE: ClassVar[str] = "reload_reply"
    ok: bool
    checkpoint_id: str
    message: str = ""


@dataclass(kw_only=True)
class StepRecord(Message):
    """Runtime -> recorder: one control step. Missing actions are NaN-filled (A,) arrays."""

    TYPE: ClassVar[str] = "step"
    RANGES: ClassVar[dict[str, tuple[int, int]]] = {"step": (0, 2**31 - 1), "source": (0, 2), "chunk_id": (-1, 2**62),
                                                    "chunk_index": (-1, 2**31 - 1)}
    step: int
    observation: dict[str, np.ndarray]
    action: np.ndarray
    policy_action: np.ndarray
    human_action: np.ndarray
    source: int
    intervention: bool
    timestamp: float
    chunk_id: int = -1
    chunk_index: int = -1
    checkpoint_id: str = ""
    reward: float = 0.0
    done: bool = False


@dataclass(kw_only=True)
class EpisodeStart(Message):
    """Runtime -> recorder: an episode begins (its id is ``header.episode_id``)."""

    TYPE: ClassVar[str] = "episode_start"
    task: str
    kind: str = "rollout"  # demo | rollout
    operator: str = ""
    checkpoint_id: str = ""
    env_args: str = "{}"  # JSON, robomimic's env_args
    started_at: float = 0.0


@dataclass(kw_only=True)
class EpisodeEnd(Message):
    """Runtime -> recorder: the episode ended; ``outcome`` is success | failure | discard | abort."""

    TYPE: ClassVar[str] = "episode_end"
    RANGES: ClassVar[dict[str, tuple[int, int]]] = {"num_steps": (0, 2**31 - 1)}
    outcome: str
    success: bool
    num_steps: int
    ended_at: float = 0.0
    verdict: str = ""  # the task's own check (success | failure), beside the operator's label; "" when none


@dataclass(kw_only=True)
class RecorderHello(Message):
    """Runtime -> recorder: is anyone writing? Answered with a :class:`RecorderAck` of kind "hello",
    so a session refuses to start rather than report episodes no recorder is there to save."""

    TYPE: ClassVar[str] = "recorder_hello"


@dataclass(kw_only=True)
class RecorderAck(Message):
    """Recorder -> runtime: "hello" (alive, writing into ``folder``) or "episode" (the episode named by
    ``header.episode_id`` is on disk as ``file``, or is not, and ``error`` says why)."""

    TYPE: ClassVar[str] = "recorder_ack"
    RANGES: ClassVar[dict[str, tuple[int, int]]] = {"steps": (0, 2**31 - 1)}
    kind: str  # hello | episode
    folder: str = ""
    file: str = ""
    steps: int = 0
    label: str = ""
    error: str = ""



# --------------------------------------------------------------------------- handshake helpers
def handshake_from_info(info: Any, observation_dtypes: Mapping[str, str], *, supports_prefix: bool = False,
                        server: str = "", action_dtype: str = "<f4") -> Handshake:
    """Build the handshake from a :class:`hgdagger.common.types.PolicyInfo`."""
    return Handshake(
        chunk_length=int(info.chunk_length), action_dim=int(info.action_dim),
        control_period=float(info.control_period),
        observation_shapes={k: [int(n) for n in s] for k, s in info.observation_shapes.items()},
        observation_dtypes={k: np.dtype(d).str for k, d in observation_dtypes.items()},
        checkpoint_id=info.checkpoint_id, checkpoint_hash=info.checkpoint_hash,
        normalization_hash=info.normalization_hash, action_dtype=np.dtype(action_dtype).str,
        supports_prefix=supports_prefix, server=server)


def check_observation(obs: Mapping[str, np.ndarray], hs: Handshake) -> None:
    """Raise :class:`SpecMismatch` unless ``obs`` has every key the handshake promised, with its
    dtype and shape (extra keys are allowed and ignored by the server)."""
    for key, shape in hs.observation_shapes.items():
        if key not in obs:
            raise SpecMismatch(f"observation lacks {key!r} (the server expects {sorted(hs.observation_shapes)})")
        a = obs[key]
        want_dt = hs.observation_dtypes.get(key)
        if tuple(a.shape) != tuple(shape):
            raise SpecMismatch(f"observation {key!r}: shape {tuple(a.shape)}, handshake says {tuple(shape)}")
        if want_dt is not None and a.dtype.str != want_dt:
            raise SpecMismatch(f"observation {key!r}: dtype {a.dtype.str}, handshake says {want_dt}")


def check_prefix(prefix: np.ndarray | None, hs: Handshake) -> None:
    """Raise :class:`SpecMismatch` unless the RTC prefix is (H, A) floats."""
    if prefix is None:
        return
    if prefix.shape != (hs.chunk_length, hs.action_dim) or prefix.dtype.kind != "f":
        raise SpecMismatch(f"prefix {prefix.dtype}{prefix.shape}, expected float ({hs.chunk_length}, {hs.action_dim})")


