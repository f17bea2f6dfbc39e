"""How camera frames are stored in an episode file: chosen by name, one entry per way.

Frames from a real camera carry sensor noise, which no lossless coder removes: on two 480x640
cameras with noise of sigma 4, lzf saved nothing for 6 ms of CPU a frame, Blosc/zstd with bit
shuffle 21 % for 2.4 ms, while JPEG at quality 90 cut a frame from 922 KB to ~48 KB (19x) for
~1.1 ms (``hgd-bench-recorder`` has the table). So frames are JPEG by default, as ALOHA's and
LeRobot's recorders also store lossy frames; ``raw`` and the lossless filters stay for labs that
want bit-exact pixels.

A JPEG column is ``obs/<camera>``: one variable-length uint8 row (the encoded frame) per step, so
it has as many rows as every other column and is appended under SWMR like them; its attributes
``image_codec`` and ``image_shape`` say how to turn it back into ``(T, H, W, C)`` uint8, which
:func:`read_frames` does for every reader of this project. robomimic's loader reads arrays only:
``hgd-export`` decodes JPEG columns into plain uint8 datasets, and files written with ``blosc``
need ``import hdf5plugin`` before h5py opens them (in robomimic as here).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

CODEC_ATTR = "image_codec"
SHAPE_ATTR = "image_shape"
JPEG_ROWS_PER_CHUNK = 64  # rows of a variable-length column share a chunk; the bytes live on the heap


@dataclass(frozen=True)
class ImageStorage:
    """One way of storing frames: the dataset it creates and how a frame becomes a row."""

    name: str
    help: str
    lossless: bool
    dataset_kwargs: Callable[[tuple[int, ...]], dict[str, Any]]
    encode: Callable[[np.ndarray], Any] | None = None  # None: the frame is its own row

    def column_attrs(self, shape: tuple[int, ...]) -> dict[str, Any]:
        return {CODEC_ATTR: self.name, SHAPE_ATTR: list(shape)} if self.encode else {}


def _frame_chunks(shape: tuple[int, ...], **filters: Any) -> dict[str, Any]:
    """One chunk per frame, so reading frame t touches only frame t."""
    return {"shape": (0, *shape), "maxshape": (None, *shape), "dtype": np.uint8, "chunks": (1, *shape), **filters}


def ensure_filters() -> None:
    """Make hdf5plugin's filters (Blosc) known to HDF5 before a frame column is read."""
    import hdf5plugin  # noqa: F401 - importing registers the filters


def _blosc(shape: tuple[int, ...]) -> dict[str, Any]:
    import hdf5plugin

    return _frame_chunks(shape, **hdf5plugin.Blosc(cname="zstd", clevel=1, shuffle=hdf5plugin.Blosc.BITSHUFFLE))


def _jpeg_column(shape: tuple[int, ...]) -> dict[str, Any]:
    import h5py

    return {"shape": (0,), "maxshape": (None,), "dtype": h5py.vlen_dtype(np.uint8), "chunks": (JPEG_ROWS_PER_CHUNK,)}


JPEG_QUALITY = 90


def encode_jpeg(frame: np.ndarray, quality: int = JPEG_QUALITY) -> np.ndarray:
    """RGB (or grey) uint8 -> the bytes of a JPEG file (colours stored as any viewer expects)."""
    import cv2

    img = frame[..., 0] if frame.shape[-1] == 1 else cv2.cvtColor(frame, cv2.COLOR_RGB2BGR)
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError(f"JPEG encoding failed for a frame of shape {frame.shape}")
    return buf.ravel()


def decode_jpeg(row: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    import cv2

    flags = cv2.IMREAD_GRAYSCALE if shape[-1] == 1 else cv2.IMREAD_COLOR
    img = cv2.imdecode(np.asarray(row, np.uint8), flags)
    if img is None:
        raise ValueError("a stored JPEG frame does not decode (damaged bytes)")
    img = img[..., None] if shape[-1] == 1 else cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
    if img.shape != tuple(shape):
        raise ValueError(f"a stored JPEG frame decodes to {img.shape}, the column says {tuple(shape)}")
    return img


STORAGES: dict[str, ImageStorage] = {s.name: s for s in (
    ImageStorage("jpeg", f"JPEG per frame, quality {JPEG_QUALITY} (about 19x smaller than raw for noisy "
                 "camera frames, ~1 ms a 480x640 frame)", False, _jpeg_column, encode_jpeg),
    ImageStorage("raw", "uncompressed uint8 (bit-exact, ~0.9 MB a 480x640 frame)", True, _frame_chunks),
    ImageStorage("blosc", "lossless Blosc/zstd with bit shuffle (hdf5plugin; ~20% smaller on noisy frames, "
                 "readers need `import hdf5plugin`)", True, _blosc),
    ImageStorage("lzf", "lossless lzf (shrinks clean rendered frames, not noisy camera ones)", True,
                 lambda shape: _frame_chunks(shape, compression="lzf")),
    ImageStorage("gzip", "lossless gzip (slow: about twice lzf's CPU)", True,
                 lambda shape: _frame_chunks(shape, compression="gzip")),
)}
DEFAULT = "jpeg"
ALIASES = {"none": "raw"}  # the name this option had before JPEG existed


def storage(name: str | None) -> ImageStorage:
    """The storage called ``name`` (None: raw)."""
    key = ALIASES.get(name or "raw", name or "raw")
    try:
        return STORAGES[key]
    except KeyError:
        raise ValueError(f"unknown image storage {name!r}; choose from {', '.join(STORAGES)}") from None


def can_encode(storage_: ImageStorage, shape: tuple[int, ...]) -> bool:
    """JPEG holds grey and RGB; an RGBA frame is stored raw whatever was asked."""
    return storage_.encode is None or shape[-1] in (1, 3)


def is_encoded(ds: Any) -> bool:
    return ds.attrs.get(CODEC_ATTR, "") not in ("", b"")


def read_frames(ds: Any, rows: slice = slice(None)) -> np.ndarray:
    """``ds[rows]`` as plain arrays whatever the column's storage: (T, H, W, C) uint8 for frames."""
    if not is_encoded(ds):
        if ds.ndim == 4:
            ensure_filters()
        return ds[rows]
    codec = ds.attrs[CODEC_ATTR]
    codec = codec.decode() if isinstance(codec, bytes) else str(codec)
    if codec != "jpeg":
        raise ValueError(f"{ds.name}: frames stored as {codec!r}, which this version cannot read")
    shape = tuple(int(n) for n in ds.attrs[SHAPE_ATTR])
    stored = ds[rows]
    out = np.empty((len(stored), *shape), np.uint8)
    for i, row in enumerate(stored):
        out[i] = decode_jpeg(row, shape)
    return out
