"""Names, paths and the key mapping of a LeRobotDataset v3.0 folder, in one place.

Our episodes hold several low-dimensional observations (``joint_pos``, ``gripper_pos``, ...) and
cameras as ``<name>_rgb``; LeRobot's convention is one ``observation.state`` vector and cameras as
``observation.images.<name>``. Export concatenates the low-dimensional keys (sorted) into
``observation.state`` and names its entries ``<key>.<i>``; the reader splits a state whose names all
follow that pattern back into the same keys, and keeps any other state (a lab's ``shoulder_pan.pos``
...) whole as ``state``. Cameras map ``<name>_rgb`` <-> ``observation.images.<name>`` both ways, so a
lab's ``observation.images.front`` arrives as ``front_rgb``, what our camera ``front`` records.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from recorder.dataset import DatasetError

CODEBASE_VERSION = "v3.0"
INFO = "meta/info.json"
STATS = "meta/stats.json"
TASKS = "meta/tasks.parquet"
EPISODES_DIR = "meta/episodes"
DATA_PATH = "data/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet"
VIDEO_PATH = "videos/{video_key}/chunk-{chunk_index:03d}/file-{file_index:03d}.mp4"
EPISODES_PATH = EPISODES_DIR + "/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet"
CHUNKS_SIZE = 1000  # files per chunk folder, as LeRobot
DATA_FILE_MB = 100  # a new parquet file once one reaches this
VIDEO_FILE_MB = 200  # a new MP4 once one reaches this

STATE = "observation.state"
ACTION = "action"
IMAGES = "observation.images."
CAMERA_SUFFIX = "_rgb"
# Per-frame columns LeRobot itself fills in.
DEFAULT_FEATURES: dict[str, dict[str, Any]] = {
    "timestamp": {"dtype": "float32", "shape": [1], "names": None},
    "frame_index": {"dtype": "int64", "shape": [1], "names": None},
    "episode_index": {"dtype": "int64", "shape": [1], "names": None},
    "index": {"dtype": "int64", "shape": [1], "names": None},
    "task_index": {"dtype": "int64", "shape": [1], "names": None},
}
# Ours, kept as extra per-frame features: who commanded each step (0 policy, 1 human, 2 hold),
# whether it was a takeover, and the operator's label of the episode.
EXTRA_FEATURES: dict[str, dict[str, Any]] = {
    "source": {"dtype": "int64", "shape": [1], "names": None},
    "intervention": {"dtype": "bool", "shape": [1], "names": None},
    "label": {"dtype": "string", "shape": [1], "names": None},
}
# Per-episode columns we add to meta/episodes (LeRobot keeps columns it does not know).
EPISODE_EXTRAS = ("label", "kind", "round", "episode_id")

_OUR_NAME = re.compile(r"^(.+)\.(\d+)$")


class LeRobotFormatError(DatasetError):
    """A folder that is not a LeRobotDataset this version reads, with a one-line reason."""


def camera_feature(obs_key: str) -> str:
    """``front_rgb`` -> ``observation.images.front``."""
    name = obs_key[: -len(CAMERA_SUFFIX)] if obs_key.endswith(CAMERA_SUFFIX) else obs_key
    return IMAGES + name


def camera_obs_key(feature: str) -> str:
    """``observation.images.front`` -> ``front_rgb``."""
    return feature[len(IMAGES):] + CAMERA_SUFFIX


def state_names(widths: dict[str, int]) -> list[str]:
    """Names of the concatenated state, keys in the given order: ``joint_pos.0`` ..."""
    return [f"{k}.{i}" for k, n in widths.items() for i in range(n)]


def split_state(names: list[str] | None, width: int) -> dict[str, slice]:
    """Our keys and their slices of the state when every name is ``<key>.<i>`` counting from 0 per
    key (our export's), else the whole vector as ``state``."""
    whole = {"state": slice(0, width)}
    if not names or len(names) != width:
        return whole
    out: dict[str, slice] = {}
    for pos, name in enumerate(names):
        m = _OUR_NAME.match(str(name))
        if m is None:
            return whole
        key, i = m.group(1), int(m.group(2))
        start = out[key].start if key in out else pos
        if i != pos - start or (key in out and out[key].stop != pos):
            return whole  # not contiguous from 0: someone else's naming
        out[key] = slice(start, pos + 1)
    return out


def flat_names(names: Any) -> list[str] | None:
    """A feature's ``names`` as a flat list (older datasets nest them: ``{"motors": [...]}``)."""
    if names is None:
        return None
    if isinstance(names, dict):
        names = [n for v in names.values() for n in (v if isinstance(v, list) else [v])]
    return [str(n) for n in names]


@dataclass
class Info:
    """What ``meta/info.json`` says, checked: version, rate, features, counts, path templates."""

    root: Path
    fps: int
    features: dict[str, dict[str, Any]]
    total_episodes: int
    total_frames: int
    data_path: str = DATA_PATH
    video_path: str | None = VIDEO_PATH
    robot_type: str | None = None
    raw: dict[str, Any] = field(default_factory=dict)

    @property
    def video_keys(self) -> list[str]:
        return [k for k, f in self.features.items() if f.get("dtype") == "video"]

    def width(self, key: str) -> int:
        shape = self.features[key].get("shape") or [1]
        n = 1
        for d in shape:
            n *= int(d)
        return n

    def names(self, key: str) -> list[str] | None:
        return flat_names(self.features[key].get("names"))


def is_dataset(path: Path) -> bool:
    """Whether ``path`` is the root of a LeRobot dataset (any version): it has meta/info.json."""
    return (Path(path) / INFO).is_file()


def load_info(root: Path) -> Info:
    """``root``'s info.json, or LeRobotFormatError naming what is wrong (version first)."""
    root = Path(root)
    where = f"LeRobot dataset '{root}'"
    try:
        raw = json.loads((root / INFO).read_text())
    except FileNotFoundError:
        raise LeRobotFormatError(f"{where}: no {INFO} (is this a LeRobot dataset folder?)") from None
    except (OSError, json.JSONDecodeError) as e:
        raise LeRobotFormatError(f"{where}: {INFO} is unreadable ({e})") from None
    version = str(raw.get("codebase_version", "?"))
    if version != CODEBASE_VERSION:
        hint = (" (convert it with LeRobot's convert_dataset_v21_to_v30 first)" if version.startswith("v2") else "")
        raise LeRobotFormatError(f"{where} is format {version}; this reads {CODEBASE_VERSION} only{hint}")
    features = raw.get("features")
    if not isinstance(features, dict) or ACTION not in features:
        raise LeRobotFormatError(f"{where}: {INFO} has no '{ACTION}' feature (has {sorted(features or {})})")
    try:
        fps = int(raw["fps"])
        info = Info(root, fps, features, int(raw.get("total_episodes", 0)), int(raw.get("total_frames", 0)),
                    raw.get("data_path", DATA_PATH), raw.get("video_path", VIDEO_PATH), raw.get("robot_type"), raw)
    except (KeyError, TypeError, ValueError) as e:
        raise LeRobotFormatError(f"{where}: {INFO} lacks a usable {e} entry") from None
    if fps <= 0:
        raise LeRobotFormatError(f"{where}: fps is {fps}")
    return info
