"""A LeRobotDataset v3.0 folder -> `RecordedEpisode`s, the same episodes training reads from HDF5.

So ``hgd-train --data lab_dataset/`` seeds a first policy from a lab's existing demonstrations. Keys
map back as ``recorder.lerobot.layout`` says (our exports come back exactly as they went out; a
lab's ``observation.state`` arrives whole as ``state``, its cameras as ``<name>_rgb``). Our extra
features (source, intervention, label, and kind from meta/episodes) come back too, so the label rule
and the HG-DAgger weighting treat a round-tripped rollout as the original; a dataset without them is
all demonstrations. Videos are decoded once per file, only for the cameras asked for.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

import numpy as np

from recorder.dataset import RecordedEpisode
from recorder.lerobot import layout as L
from recorder.lerobot.tables import read_episodes, read_tasks
from recorder.lerobot.video import read_spans


@dataclass
class Layout:
    """What a dataset's episodes look like to training: observation keys and shapes, the action."""

    root: Path
    obs: dict[str, tuple[int, ...]]  # obs key -> per-step shape
    action_dim: int
    action_names: list[str] | None
    state_names: list[str] | None
    fps: int

    def describe(self) -> str:
        return f"action {self.action_dim}, observations {{{', '.join(f'{k}: {s}' for k, s in self.obs.items())}}}"


def _sources(info: L.Info) -> dict[str, tuple[str, Any]]:
    """obs key -> (feature, how to cut it: a slice of the state, 'frames', or None for the whole column)."""
    out: dict[str, tuple[str, Any]] = {}
    for name, ft in info.features.items():
        if name == L.STATE:
            for key, sl in L.split_state(info.names(name), info.width(name)).items():
                out[key] = (name, sl)
        elif name.startswith(L.IMAGES) and ft.get("dtype") in ("video", "image"):
            out[L.camera_obs_key(name)] = (name, "frames")
        elif name.startswith("observation.") and ft.get("dtype") not in ("string", "video", "image"):
            out[name[len("observation."):]] = (name, None)
    return out


def _frame_shape(ft: Mapping[str, Any]) -> tuple[int, ...]:
    shape = tuple(int(n) for n in ft.get("shape") or ())
    names = L.flat_names(ft.get("names")) or []
    if len(shape) == 3 and names[:1] == ["channels"]:
        return shape[1], shape[2], shape[0]
    return shape


def layout_of(root: Path) -> Layout:
    """The layout a v3.0 dataset has (LeRobotFormatError for another version or a broken info.json)."""
    info = L.load_info(root)
    obs: dict[str, tuple[int, ...]] = {}
    for key, (feat, how) in _sources(info).items():
        if how == "frames":
            obs[key] = _frame_shape(info.features[feat])
        elif isinstance(how, slice):
            obs[key] = (how.stop - how.start,)
        else:
            obs[key] = (info.width(feat),)
    return Layout(Path(root), obs, info.width(L.ACTION), info.names(L.ACTION),
                  info.names(L.STATE) if L.STATE in info.features else None, info.fps)


def mismatch(a: Layout, b: Layout) -> str | None:
    """What differs between two LeRobot datasets' layouts, in words, or None when they fit together."""
    why = []
    if a.action_dim != b.action_dim:
        why.append(f"action has {b.action_dim} entries, not {a.action_dim}")
    elif a.action_names and b.action_names and a.action_names != b.action_names:
        why.append(f"action names {b.action_names} are not {a.action_names}")
    if a.state_names and b.state_names and a.state_names != b.state_names:
        why.append(f"{L.STATE} names {b.state_names} are not {a.state_names}")
    if set(a.obs) != set(b.obs):
        why.append(f"observations {sorted(b.obs)} are not {sorted(a.obs)}")
    else:
        why += [f"{k} is {b.obs[k]}, not {a.obs[k]}" for k in a.obs if a.obs[k] != b.obs[k]]
    if a.fps != b.fps:
        why.append(f"fps {b.fps}, not {a.fps}")
    return "; ".join(why) or None


def _numpy(column: Any) -> np.ndarray:
    """A parquet column as (T,) values or (T, n) vectors."""
    import pyarrow as pa

    col = column.combine_chunks() if hasattr(column, "combine_chunks") else column
    if pa.types.is_fixed_size_list(col.type) or pa.types.is_list(col.type) or pa.types.is_large_list(col.type):
        return col.flatten().to_numpy(zero_copy_only=False).reshape(len(col), -1)
    return col.to_numpy(zero_copy_only=False)


def _decode_images(column: Any) -> np.ndarray:
    """An ``image`` feature stored in parquet (PNG/JPEG bytes per row) as (T, H, W, 3) uint8."""
    import cv2

    rows = column.to_pylist()
    imgs = [cv2.imdecode(np.frombuffer(r["bytes"] if isinstance(r, dict) else r, np.uint8), cv2.IMREAD_COLOR)
            for r in rows]
    return np.stack([cv2.cvtColor(i, cv2.COLOR_BGR2RGB) for i in imgs])


def read_dataset(root: Path, obs_keys: Iterable[str] | None = None,
                 keep: Callable[[str, Mapping[str, Any]], bool] | None = None) -> list[RecordedEpisode]:
    """The episodes of a v3.0 dataset (those `keep(name, attrs)` accepts, judged before reading data),
    with the observations `obs_keys` (None: all). LeRobotFormatError names what does not fit."""
    import pyarrow.parquet as pq

    root = Path(root)
    info = L.load_info(root)
    where = f"LeRobot dataset '{root}'"
    sources = _sources(info)
    keys = list(obs_keys) if obs_keys is not None else sorted(sources)
    missing = [k for k in keys if k not in sources]
    if missing:
        raise L.LeRobotFormatError(f"{where} has no observation {missing} (has {sorted(sources)}; "
                                   "is it from another robot?)")
    rows = read_episodes(root)
    if not rows:
        raise L.LeRobotFormatError(f"{where}: meta/episodes holds no episode")
    tasks = read_tasks(root / L.TASKS) if (root / L.TASKS).exists() else {}
    chosen = []
    for row in rows:
        attrs = {"task": (row.get("tasks") or [""])[0], "kind": row.get("kind") or "demo",
                 "episode_index": int(row["episode_index"]), "lerobot_dataset": str(root)}
        for k in ("label", "round", "episode_id"):
            if row.get(k) is not None:
                attrs[k] = row[k]
        name = f"episode_{int(row['episode_index']):06d}"
        if keep is None or keep(name, attrs):
            chosen.append((name, row, attrs))
    columns = sorted({L.ACTION} | {sources[k][0] for k in keys if sources[k][1] != "frames"}
                     | {sources[k][0] for k in keys if sources[k][1] == "frames" and info.features[sources[k][0]]["dtype"] == "image"})
    by_file: dict[tuple[int, int], list] = {}
    for item in chosen:
        by_file.setdefault((int(item[1]["data/chunk_index"]), int(item[1]["data/file_index"])), []).append(item)
    episodes: dict[str, RecordedEpisode] = {}
    for (chunk, file), items in by_file.items():
        path = root / info.data_path.format(chunk_index=chunk, file_index=file)
        try:
            have = pq.read_schema(path).names
            extras = [c for c in ("timestamp", "frame_index", "source", "intervention", "label", "task_index") if c in have]
            table = pq.read_table(path, columns=[*columns, "episode_index", *[c for c in extras if c not in columns]])
        except (OSError, KeyError) as e:
            raise L.LeRobotFormatError(f"{where}: cannot read '{path}' ({e})") from None
        ep_of_row = _numpy(table.column("episode_index"))
        for name, row, attrs in items:
            idx = np.flatnonzero(ep_of_row == int(row["episode_index"]))
            if "frame_index" in table.column_names:
                idx = idx[np.argsort(_numpy(table.column("frame_index"))[idx], kind="stable")]
            if len(idx) != int(row["length"]):
                raise L.LeRobotFormatError(f"{where}: {name} has {len(idx)} rows in '{path}' but length {row['length']}")
            part = table.take(idx)
            obs = {}
            for k in keys:
                feat, how = sources[k]
                if how == "frames":
                    if info.features[feat]["dtype"] == "image":
                        obs[k] = _decode_images(part.column(feat))
                    continue  # videos below, a file at a time
                v = _numpy(part.column(feat)).reshape(len(idx), -1)
                obs[k] = v[:, how] if isinstance(how, slice) else v
            if "label" in part.column_names and "label" not in attrs and len(idx):
                attrs["label"] = str(part.column("label")[0].as_py())
            if "task_index" in part.column_names and len(idx) and tasks:
                attrs["task"] = tasks.get(int(_numpy(part.column("task_index"))[0]), attrs["task"])
            opt = {}
            if "source" in part.column_names:
                opt["source"] = _numpy(part.column("source")).astype(np.uint8)
            if "intervention" in part.column_names:
                opt["intervention"] = _numpy(part.column("intervention")).astype(bool)
            if "timestamp" in part.column_names:
                opt["timestamps"] = _numpy(part.column("timestamp")).astype(np.float64)
            episodes[name] = RecordedEpisode(str(root), name, obs, _numpy(part.column(L.ACTION)).reshape(len(idx), -1),
                                             attrs=attrs, **opt)
    _read_videos(info, root, [(n, r) for n, r, _ in chosen], [k for k in keys if sources[k][1] == "frames"
                 and info.features[sources[k][0]]["dtype"] == "video"], sources, episodes)
    return [episodes[n] for n, _, _ in chosen]


def _read_videos(info: L.Info, root: Path, chosen: list[tuple[str, dict]], cams: list[str],
                 sources: dict[str, tuple[str, Any]], episodes: dict[str, RecordedEpisode]) -> None:
    """Fill each chosen episode's camera frames, decoding every video file once."""
    from tqdm import tqdm

    jobs: dict[tuple[str, Path], list[tuple[str, float, int]]] = {}
    for cam in cams:
        feat = sources[cam][0]
        for name, row in chosen:
            path = root / info.video_path.format(video_key=feat, chunk_index=int(row[f"videos/{feat}/chunk_index"]),
                                                 file_index=int(row[f"videos/{feat}/file_index"]))
            jobs.setdefault((cam, path), []).append((name, float(row[f"videos/{feat}/from_timestamp"]), int(row["length"])))
    for (cam, path), spans in tqdm(jobs.items(), desc="decoding videos", unit="file", disable=None if len(jobs) > 4 else True):
        if not path.exists():
            raise L.LeRobotFormatError(f"LeRobot dataset '{root}': video '{path}' is missing")
        try:
            frames = read_spans(path, info.fps, [(start, n) for _, start, n in spans])
        except ValueError as e:
            raise L.LeRobotFormatError(f"LeRobot dataset '{root}': {e}") from None
        for (name, _, _), f in zip(spans, frames):
            episodes[name].obs[cam] = f
