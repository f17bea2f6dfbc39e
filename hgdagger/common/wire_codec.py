"""The framing and validation behind :mod:`hgdagger.common.wire` (import that module, not this one).

A message is one multipart ZeroMQ message::

    [header (msgpack map), array_0 bytes, array_1 bytes, ...]

The header carries the type, the schema version, a sequence number, the send time (wall clock,
seconds), the robot and episode ids, the scalar fields, and for every array its field path, dtype
and shape. Arrays travel as their raw bytes in their own frames: large ones (camera images) are
sent without a copy and decoded with ``np.frombuffer`` over the received frame (no copy either).
Nothing is ever pickled: a pickle endpoint runs code for anyone who can reach the port.

``decode`` validates everything it is given and raises a :class:`WireError` subclass whose
``code`` can go back to the sender in an ``ErrorReply``; the receiver keeps running.
"""

from __future__ import annotations

import dataclasses
import enum
import math
import time
from dataclasses import dataclass, field
from typing import Any, ClassVar, Mapping, Sequence

import msgpack
import numpy as np


SCHEMA_VERSION = 1
"""Bump when a message changes incompatibly; receivers refuse any other version."""

# Fixed-size, little-endian, plain numeric dtypes only: no object arrays, no structured dtypes.
ALLOWED_DTYPES = frozenset(
    np.dtype(d).str for d in ("?", "u1", "i1", "<u2", "<i2", "<u4", "<i4", "<u8", "<i8", "<f2", "<f4", "<f8")
)
# The same, looked up rather than recomputed per array (a dtype's .str and np.dtype(str) cost
# microseconds, and every message pays them once per array).
_DTYPE_OF = {name: np.dtype(name) for name in ALLOWED_DTYPES}
_NAME_OF = {dt: name for name, dt in _DTYPE_OF.items()}


# --------------------------------------------------------------------------- errors
class ErrorCode(str, enum.Enum):
    MALFORMED = "malformed"
    SCHEMA_VERSION = "schema_version"
    UNKNOWN_TYPE = "unknown_type"
    MISSING_FIELD = "missing_field"
    SPEC_MISMATCH = "spec_mismatch"
    OVERSIZED = "oversized"
    NOT_READY = "not_ready"
    INTERNAL = "internal"


class WireError(ValueError):
    """A message that cannot be accepted; ``code`` says which rule it broke."""

    code: ErrorCode = ErrorCode.MALFORMED


class MalformedMessage(WireError):
    code = ErrorCode.MALFORMED


class SchemaVersionMismatch(WireError):
    code = ErrorCode.SCHEMA_VERSION


class UnknownMessageType(WireError):
    code = ErrorCode.UNKNOWN_TYPE


class MissingField(WireError):
    code = ErrorCode.MISSING_FIELD


class SpecMismatch(WireError):
    code = ErrorCode.SPEC_MISMATCH


class OversizedMessage(WireError):
    code = ErrorCode.OVERSIZED


@dataclass(frozen=True)
class Limits:
    """What a receiver accepts. ZeroMQ's own MAXMSGSIZE (see ``hard_frame_limit``) is set higher,
    so that an oversized frame still arrives and can be refused with an error reply."""

    max_header_bytes: int = 64 * 1024
    max_frame_bytes: int = 32 * 1024 * 1024
    max_frames: int = 64
    max_total_bytes: int = 128 * 1024 * 1024

    @property
    def hard_frame_limit(self) -> int:
        """Value for zmq.MAXMSGSIZE: beyond this the transport drops the peer without a reply."""
        return 4 * self.max_frame_bytes


DEFAULT_LIMITS = Limits()
MAX_ARRAY_DIMS = 8  # an observation is at most an image stack; numpy itself refuses beyond 64
MAX_ARRAY_DIM = 2**31 - 1
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1  # what every integer field is stored as (HDF5, numpy)


# --------------------------------------------------------------------------- messages
@dataclass
class Header:
    """The envelope every message carries."""

    type: str = ""
    version: int = SCHEMA_VERSION
    seq: int = 0
    send_time: float = 0.0
    robot_id: str = ""
    episode_id: str = ""


_REGISTRY: dict[str, type["Message"]] = {}


@dataclass(kw_only=True)
class Message:
    """Base of all messages. Fields annotated ``np.ndarray`` travel as frames, ``dict[str,
    np.ndarray]`` as one frame per key, everything else in the msgpack header."""

    TYPE: ClassVar[str] = ""
    # Inclusive bounds of integer fields where int64 is too wide (a step's source is 0, 1 or 2);
    # every other integer field must fit in int64, which is how it is stored.
    RANGES: ClassVar[dict[str, tuple[int, int]]] = {}
    header: Header = field(default_factory=Header)

    def __init_subclass__(cls, **kw: Any) -> None:
        super().__init_subclass__(**kw)
        if cls.TYPE:
            if cls.TYPE in _REGISTRY:
                raise TypeError(f"message type {cls.TYPE!r} registered twice")
            _REGISTRY[cls.TYPE] = cls



def message_types() -> dict[str, type[Message]]:
    """The registry of known message types, by wire name."""
    return dict(_REGISTRY)


# --------------------------------------------------------------------------- field kinds
_META, _ARRAY, _ARRAY_MAP = "meta", "array", "array_map"
_PY_TYPES: dict[str, tuple[type, ...]] = {
    "int": (int,), "float": (int, float), "str": (str,), "bool": (bool,),
    "dict": (dict,), "list": (list,),
}


def _kinds(cls: type[Message]) -> dict[str, tuple[str, bool, tuple[type, ...] | None]]:
    """field name -> (kind, optional, python types for meta fields)."""
    cached = cls.__dict__.get("_kinds_cache")
    if cached is not None:
        return cached
    out = {}
    for f in dataclasses.fields(cls):
        if f.name == "header":
            continue
        ann = str(f.type).replace(" ", "")
        optional = ann.endswith("|None")
        base = ann.removesuffix("|None")
        if "ndarray" in base:
            out[f.name] = (_ARRAY_MAP if base.startswith("dict") else _ARRAY, optional, None)
        else:
            out[f.name] = (_META, optional, _PY_TYPES[base.split("[")[0]])
    setattr(cls, "_kinds_cache", out)
    return out


# --------------------------------------------------------------------------- encode / decode
def encode(msg: Message, *, seq: int | None = None, robot_id: str | None = None,
           episode_id: str | None = None, send_time: float | None = None) -> list[Any]:
    """Frames for ``msg``; keyword arguments overwrite the header (send_time defaults to now).

    Array frames are the arrays' own buffers (C-contiguous views, no copy); do not modify an
    array after sending it with ``copy=False``.
    """
    h = msg.header
    h.type = msg.TYPE
    h.version = SCHEMA_VERSION
    if seq is not None:
        h.seq = seq
    if robot_id is not None:
        h.robot_id = robot_id
    if episode_id is not None:
        h.episode_id = episode_id
    h.send_time = time.time() if send_time is None else send_time
    meta: dict[str, Any] = {}
    descs: list[list[Any]] = []
    bufs: list[Any] = []

    def add(path: str, arr: Any) -> None:
        a = np.asarray(arr)
        if not a.flags.c_contiguous:  # (np.ascontiguousarray would turn 0-d into 1-d)
            a = a.copy(order="C")
        name = _NAME_OF.get(a.dtype)
        if name is None:
            a = a.astype(a.dtype.newbyteorder("<")) if a.dtype.kind in "biuf" else a
            name = _NAME_OF.get(a.dtype)
            if name is None:
                raise MalformedMessage(f"{msg.TYPE}.{path}: dtype {arr.dtype} cannot go on the wire")
        descs.append([path, name, list(a.shape)])
        bufs.append(a.data if a.nbytes else b"")

    for name, (kind, optional, _) in _kinds(type(msg)).items():
        value = getattr(msg, name)
        if value is None:
            if not optional:
                raise MissingField(f"{msg.TYPE}.{name} is None")
            continue
        if kind == _ARRAY:
            add(name, value)
        elif kind == _ARRAY_MAP:
            for key, arr in value.items():
                if "/" in key:
                    raise MalformedMessage(f"{msg.TYPE}.{name}: key {key!r} contains '/'")
                add(f"{name}/{key}", arr)
            meta[name] = list(value.keys())  # so an empty dict survives the trip
        else:
            meta[name] = value
    head = {"h": {"type": h.type, "version": h.version, "seq": h.seq, "send_time": h.send_time,
                  "robot_id": h.robot_id, "episode_id": h.episode_id}, "m": meta, "a": descs}
    return [msgpack.packb(head, use_bin_type=True), *bufs]


def _buffer(frame: Any) -> memoryview:
    if isinstance(frame, memoryview):
        return frame
    if isinstance(frame, bytes):
        return memoryview(frame)
    return frame.buffer  # zmq.Frame -> memoryview without copying


def decode(frames: Sequence[Any], limits: Limits = DEFAULT_LIMITS) -> Message:
    """Validate and decode frames (bytes, memoryviews or zmq.Frame) into a message.

    Nothing but a :class:`WireError` ever leaves it: a check this module forgot is still reported
    as a malformed message, never as an exception that ends the receiver's loop.
    """
    try:
        return _decode(frames, limits)
    except WireError:
        raise
    except Exception as e:  # noqa: BLE001 - the boundary: whatever a hostile peer provokes is its mistake
        raise MalformedMessage(f"undecodable message ({type(e).__name__}: {e})") from None


def _decode(frames: Sequence[Any], limits: Limits) -> Message:
    """The checks of `decode`, in order.

    Raises a :class:`WireError` subclass for anything it cannot accept.
    """
    if not frames:
        raise MalformedMessage("empty message")
    if len(frames) > limits.max_frames:
        raise OversizedMessage(f"{len(frames)} frames > limit {limits.max_frames}")
    views = [_buffer(f) for f in frames]
    sizes = [v.nbytes for v in views]
    total = sum(sizes)
    if total > limits.max_total_bytes:
        raise OversizedMessage(f"message of {total} bytes > limit {limits.max_total_bytes}")
    if sizes[0] > limits.max_header_bytes:
        raise OversizedMessage(f"header of {sizes[0]} bytes > limit {limits.max_header_bytes}")
    if len(sizes) > 1 and max(sizes[1:]) > limits.max_frame_bytes:
        i = next(i for i, n in enumerate(sizes) if i and n > limits.max_frame_bytes)
        raise OversizedMessage(f"frame {i} of {sizes[i]} bytes > limit {limits.max_frame_bytes}")
    try:
        head = msgpack.unpackb(views[0], raw=False, strict_map_key=True)
    except Exception as e:  # msgpack raises several unrelated types for bad input
        raise MalformedMessage(f"header is not msgpack: {type(e).__name__}: {e}") from None
    if not isinstance(head, dict) or not isinstance(head.get("h"), dict):
        raise MalformedMessage("header is not a map with an 'h' entry")
    h = head["h"]
    if h.get("version") != SCHEMA_VERSION:  # checked before anything else is trusted
        raise SchemaVersionMismatch(
            f"schema version {h.get('version')!r}, this process speaks {SCHEMA_VERSION} "
            "(update both ends to the same release)")
    if not isinstance(h.get("type"), str):
        raise MalformedMessage(f"message type {h.get('type')!r} is not a string")
    cls = _REGISTRY.get(h["type"])
    if cls is None:
        raise UnknownMessageType(f"unknown message type {h.get('type')!r}; known: {sorted(_REGISTRY)}")
    try:
        header = Header(h["type"], h["version"], h["seq"], h["send_time"], h["robot_id"], h["episode_id"])
    except KeyError as e:
        raise MissingField(f"{cls.TYPE}: header lacks {e}") from None
    # (msgpack gives exact built-in types: when these hold, so do _check_types', which says what is wrong)
    if not (type(header.seq) is int and type(header.send_time) in (float, int) and type(header.robot_id) is str
            and type(header.episode_id) is str):
        _check_types(cls.TYPE, "header", header, {"seq": (int,), "send_time": (int, float),
                                                   "robot_id": (str,), "episode_id": (str,)})
    if not INT64_MIN <= header.seq <= INT64_MAX:
        raise MalformedMessage(f"{cls.TYPE}.header.seq: {header.seq} does not fit in int64")
    meta, descs = head.get("m"), head.get("a")
    if not isinstance(meta, dict) or not isinstance(descs, list):
        raise MalformedMessage(f"{cls.TYPE}: header lacks the 'm' map or the 'a' list")
    if len(descs) != len(views) - 1:
        raise MalformedMessage(f"{cls.TYPE}: header declares {len(descs)} arrays, got {len(views) - 1} frames")
    arrays = {}
    for (desc, view) in zip(descs, views[1:]):
        path, arr = _decode_array(cls.TYPE, desc, view)
        if path in arrays:
            raise MalformedMessage(f"{cls.TYPE}: array {path!r} sent twice")
        arrays[path] = arr
    return _build(cls, header, meta, arrays)


def _decode_array(mtype: str, desc: Any, view: memoryview) -> tuple[str, np.ndarray]:
    # (type(x) is int: msgpack's integers are exact ints, and a bool is not a dimension)
    if not (type(desc) is list and len(desc) == 3 and type(desc[0]) is str and type(desc[1]) is str
            and type(desc[2]) is list and len(desc[2]) <= MAX_ARRAY_DIMS):
        raise MalformedMessage(f"{mtype}: bad array descriptor {str(desc)[:200]}")
    path, dtype, shape = desc
    for n in shape:  # (a loop, not all(...): a generator costs more than the few dimensions it checks)
        if type(n) is not int or not 0 <= n <= MAX_ARRAY_DIM:
            raise MalformedMessage(f"{mtype}: bad array descriptor {str(desc)[:200]}")
    dt = _DTYPE_OF.get(dtype)
    if dt is None:
        raise MalformedMessage(f"{mtype}.{path}: dtype {dtype!r} not allowed")
    expected = dt.itemsize * math.prod(shape)
    if expected != view.nbytes:
        raise SpecMismatch(f"{mtype}.{path}: {dtype}{tuple(shape)} needs {expected} bytes, frame has {view.nbytes}")
    return path, np.ndarray(shape, dt, view)  # a view of the frame, as np.frombuffer(...).reshape, in one call


def _check_types(mtype: str, where: str, obj: Any, types: Mapping[str, tuple[type, ...]]) -> None:
    for name, ok in types.items():
        v = getattr(obj, name)
        if not isinstance(v, ok) or (isinstance(v, bool) and bool not in ok):
            raise MalformedMessage(f"{mtype}.{where}.{name}: expected {ok[0].__name__}, got {type(v).__name__}")


def _plan(cls: type[Message]) -> tuple[tuple[tuple, ...], frozenset[str], frozenset[str]]:
    """What `_build` checks, worked out once per class: per field, in declaration order, (name, kind,
    optional, python types, whether a bool is one of them, lowest and highest integer); the names the
    header's 'm' map may hold; the field names an array's path may start with."""
    cached = cls.__dict__.get("_plan_cache")
    if cached is None:
        kinds = _kinds(cls)
        fields = tuple((name, kind, optional, types, types is not None and bool in types,
                        *cls.RANGES.get(name, (INT64_MIN, INT64_MAX)))
                       for name, (kind, optional, types) in kinds.items())
        cached = (fields, frozenset(n for n, (k, _, _) in kinds.items() if k != _ARRAY),
                  frozenset(n for n, (k, _, _) in kinds.items() if k != _META))
        setattr(cls, "_plan_cache", cached)
    return cached


def _build(cls: type[Message], header: Header, meta: dict, arrays: dict[str, np.ndarray]) -> Message:
    fields, meta_names, array_roots = _plan(cls)
    if not meta_names.issuperset(meta):
        raise MalformedMessage(f"{cls.TYPE}: unknown field {next(n for n in meta if n not in meta_names)!r}")
    for path in arrays:
        if path.partition("/")[0] not in array_roots:
            raise MalformedMessage(f"{cls.TYPE}: unexpected array {path!r}")
    kwargs: dict[str, Any] = {}
    for name, kind, optional, types, bool_ok, lo, hi in fields:
        if kind is _META:
            if name not in meta:
                continue
            v = meta[name]
            if v is None and optional:
                kwargs[name] = v
                continue
            if not isinstance(v, types) or (v.__class__ is bool and not bool_ok):
                raise MalformedMessage(f"{cls.TYPE}.{name}: expected {types[0].__name__}, got {type(v).__name__}")
            if isinstance(v, int) and v.__class__ is not bool and not lo <= v <= hi:
                raise MalformedMessage(f"{cls.TYPE}.{name}: {v} is outside [{lo}, {hi}]")
            kwargs[name] = v
        elif kind is _ARRAY:
            if name in arrays:
                kwargs[name] = arrays[name]
            elif optional:
                kwargs[name] = None
        else:  # _ARRAY_MAP: the header lists the keys (so an empty map survives), one frame per key
            keys = meta.get(name)
            if keys is None:
                continue
            kwargs[name] = _array_map(cls.TYPE, name, keys, arrays)
    try:
        return cls(header=header, **kwargs)
    except TypeError as e:
        raise MissingField(f"{cls.TYPE}: {e}") from None


def _array_map(mtype: str, name: str, keys: Any, arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The map field ``name`` from its key list and the arrays sent as ``name/key``: exactly those."""
    if type(keys) is not list:
        raise MalformedMessage(f"{mtype}.{name}: key list is not a list of strings")
    prefix = name + "/"
    out = {}
    for k in keys:
        if type(k) is not str:
            raise MalformedMessage(f"{mtype}.{name}: key list is not a list of strings")
        a = arrays.get(prefix + k)
        if a is None or k in out:
            break
        out[k] = a
    sent = sum(1 for p in arrays if p.startswith(prefix)) if len(out) == len(keys) else -1
    if sent != len(keys):
        got = {p[len(prefix):] for p in arrays if p.startswith(prefix)}
        missing = [k for k in keys if k not in got]
        extra = [prefix + k for k in got if k not in set(keys)]
        raise MalformedMessage(f"{mtype}.{name}: keys {keys} vs arrays sent (missing {missing}, extra {extra}"
                               f"{', a key listed twice' if not missing and not extra else ''})")
    return out



class Sequencer:
    """Per-sender monotonically increasing sequence numbers."""

    def __init__(self) -> None:
        self._n = 0

    def next(self) -> int:
        self._n += 1
        return self._n


def send(sock: Any, msg: Message, *, envelope: Sequence[bytes] = (), flags: int = 0, **header: Any) -> None:
    """Encode ``msg`` and send it on a ZeroMQ socket (large arrays without a copy)."""
    sock.send_multipart([*envelope, *encode(msg, **header)], flags=flags, copy=False)

