"""Episodes of a run -> a LeRobotDataset v3.0 folder (``hgd-export --format lerobot``).

Every episode is read through the project's one episode reader (JPEG frames decoded by
``recorder.image_storage.read_frames``) and appended, in order, to the current parquet file and to
each camera's current MP4; a file is closed and the next begun once it passes its size (LeRobot's
100 MB of data, 200 MB of video), so a file holds whole episodes only. meta/episodes records where
each episode lives (rows, files, video span), then tasks, stats and info.json are written last. The
folder is built as ``<out>.partial`` and renamed at the end, so a folder under the final name is whole.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from recorder import image_storage
from recorder.dataset import read_file
from recorder.lerobot import layout as L
from recorder.lerobot import stats as S
from recorder.lerobot.tables import write_episodes, write_tasks
from recorder.lerobot.video import StreamWriter, VideoSettings, probe


@dataclass
class ExportSettings:
    """How the dataset is written. fps None: from the recorded timestamps."""

    video: VideoSettings = field(default_factory=VideoSettings)
    fps: int | None = None
    robot_type: str | None = None
    data_file_mb: float = L.DATA_FILE_MB
    video_file_mb: float = L.VIDEO_FILE_MB


@dataclass
class Survey:
    """What the episodes share, decided before anything is written."""

    lowdim: dict[str, int]  # key -> width, in state order
    cameras: dict[str, tuple[int, int, int]]  # obs key -> (H, W, 3)
    action_dim: int
    fps: int
    left_out: list[str]  # observations not in every episode, or of a shape this format has no place for


def _rate(timestamps: np.ndarray) -> int | None:
    steps = np.diff(np.asarray(timestamps, np.float64))
    steps = steps[steps > 0]
    return int(round(1.0 / float(np.median(steps)))) if len(steps) else None


def survey(paths: list[Path], fps: int | None = None) -> Survey:
    """Keys, shapes and the frame rate of ``paths`` (one episode file each), from their headers only."""
    import h5py

    shapes: dict[str, tuple[int, ...]] | None = None
    seen: set[str] = set()
    actions, rates = set(), {}
    for p in paths:
        with h5py.File(p, "r") as f:
            g = f["data/demo_0"]
            here = {}
            for k, ds in g["obs"].items():
                here[k] = (tuple(int(n) for n in ds.attrs[image_storage.SHAPE_ATTR]) if image_storage.is_encoded(ds)
                           else tuple(ds.shape[1:]))
            seen |= set(here)
            shapes = here if shapes is None else {k: v for k, v in shapes.items() if here.get(k) == v}
            actions.add(int(g["actions"].shape[1]))
            if fps is None and "timestamps" in g:
                r = _rate(g["timestamps"][()])
                if r:
                    rates.setdefault(r, p)
    if len(actions) > 1:
        raise ValueError(f"the episodes disagree on the action dimension ({sorted(actions)}): export them separately")
    if fps is None:
        if not rates:
            raise ValueError("no episode has timestamps to tell the frame rate from: give --fps")
        if len(rates) > 1:
            named = ", ".join(f"{r} Hz ({p.name})" for r, p in sorted(rates.items()))
            raise ValueError(f"the episodes were recorded at different rates: {named}; export them separately or give --fps")
        fps = next(iter(rates))
    shapes = shapes or {}
    cameras = {k: s for k, s in sorted(shapes.items()) if len(s) == 3 and s[-1] == 3}
    lowdim = {k: (s[0] if s else 1) for k, s in sorted(shapes.items()) if len(s) <= 1}
    left = sorted(seen - set(cameras) - set(lowdim))
    return Survey(lowdim, cameras, actions.pop(), fps, left)


def features(s: Survey) -> dict[str, dict[str, Any]]:
    """info.json's features for this survey (video info is added once the files exist)."""
    feats: dict[str, dict[str, Any]] = {
        L.ACTION: {"dtype": "float32", "shape": [s.action_dim], "names": [f"action.{i}" for i in range(s.action_dim)]}}
    if s.lowdim:
        names = L.state_names(s.lowdim)
        feats[L.STATE] = {"dtype": "float32", "shape": [len(names)], "names": names}
    for key, (h, w, c) in s.cameras.items():
        feats[L.camera_feature(key)] = {"dtype": "video", "shape": [h, w, c], "names": ["height", "width", "channels"]}
    return feats | L.DEFAULT_FEATURES | L.EXTRA_FEATURES


def _column(values: np.ndarray, dtype: Any):
    """A parquet column: a fixed-size list per row for vectors, plain values for (1,) features (as LeRobot)."""
    import pyarrow as pa

    values = np.asarray(values)
    if values.ndim == 1:
        return pa.array(values, type=dtype)
    flat = pa.array(np.ascontiguousarray(values, dtype=dtype.to_pandas_dtype()).ravel(), type=dtype)
    return pa.FixedSizeListArray.from_arrays(flat, values.shape[1])


class _Rolling:
    """The current file of one stream (data or a camera): its chunk/file index, next one past a size."""

    def __init__(self, limit_mb: float, open_file: Callable[[int, int], Any]) -> None:
        self.limit_mb, self.open_file = limit_mb, open_file
        self.chunk = self.file = 0
        self.current: Any = None
        self.opened: list[Any] = []

    def get(self, size_mb: Callable[[Any], float]) -> Any:
        if self.current is not None and size_mb(self.current) >= self.limit_mb:
            self.current.close()
            self.file += 1
            if self.file >= L.CHUNKS_SIZE:
                self.chunk, self.file = self.chunk + 1, 0
            self.current = None
        if self.current is None:
            self.current = self.open_file(self.chunk, self.file)
            self.opened.append(self.current)
        return self.current

    def close(self) -> None:
        if self.current is not None:
            self.current.close()
            self.current = None


class _ParquetFile:
    def __init__(self, path: Path, schema: Any) -> None:
        import pyarrow.parquet as pq

        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.writer = pq.ParquetWriter(path, schema, compression="snappy")

    def close(self) -> None:
        self.writer.close()


def export(episodes: list[Any], out: Path, settings: ExportSettings | None = None, overwrite: bool = False,
           progress: bool = True) -> dict[str, Any]:
    """Write ``episodes`` (``recorder.run.EpisodeInfo``, in order) as a v3.0 dataset at ``out``;
    returns a summary. ValueError for episodes that cannot share one dataset."""
    import pyarrow as pa

    settings = settings or ExportSettings()
    out = Path(out)
    if not episodes:
        raise ValueError("nothing to export: no episode matches")
    if out.exists() and not (overwrite and (L.is_dataset(out) or not any(out.iterdir()))):
        raise ValueError(f"'{out}' exists" + (" and is not a LeRobot dataset: not replacing it" if overwrite
                                               else " (use --overwrite to replace it)"))
    s = survey([e.path for e in episodes], settings.fps)
    feats = features(s)
    tmp = out.with_name(out.name + ".partial")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    schema = pa.schema([(L.ACTION, pa.list_(pa.float32(), s.action_dim))]
                       + ([(L.STATE, pa.list_(pa.float32(), feats[L.STATE]["shape"][0]))] if s.lowdim else [])
                       + [("timestamp", pa.float32())] + [(k, pa.int64()) for k in ("frame_index", "episode_index", "index", "task_index")]
                       + [("source", pa.int64()), ("intervention", pa.bool_()), ("label", pa.string())])
    data = _Rolling(settings.data_file_mb, lambda c, f: _ParquetFile(tmp / L.DATA_PATH.format(chunk_index=c, file_index=f), schema))
    videos = {k: _Rolling(settings.video_file_mb, lambda c, f, k=k: StreamWriter(
        tmp / L.VIDEO_PATH.format(video_key=L.camera_feature(k), chunk_index=c, file_index=f), s.fps, shape,
        settings.video)) for k, shape in s.cameras.items()}
    tasks: dict[str, int] = {}
    rows: list[dict[str, Any]] = []
    parts: dict[str, list[S.Stats]] = {}
    total = 0
    it = episodes
    if progress:
        from tqdm import tqdm
        it = tqdm(episodes, desc="exporting to LeRobot v3", unit="ep")
    try:
        for i, e in enumerate(it):
            ep = read_file(e.path, list(s.lowdim) + list(s.cameras))[0]
            t = len(ep.actions)
            task = tasks.setdefault(e.task or "", len(tasks))
            frame = np.arange(t)
            cols: dict[str, np.ndarray] = {
                L.ACTION: np.asarray(ep.actions, np.float32).reshape(t, -1),
                "timestamp": (frame / s.fps).astype(np.float32), "frame_index": frame,
                "episode_index": np.full(t, i), "index": total + frame, "task_index": np.full(t, task),
                "source": (np.asarray(ep.source, np.int64) if ep.source is not None else np.ones(t, np.int64)),
                "intervention": (np.asarray(ep.intervention, bool) if ep.intervention is not None else np.zeros(t, bool)),
            }
            if s.lowdim:
                cols[L.STATE] = np.concatenate([np.asarray(ep.obs[k], np.float32).reshape(t, -1) for k in s.lowdim], 1)
            table = pa.table({f.name: (pa.array([e.label] * t, pa.string()) if f.name == "label"
                                       else _column(cols[f.name], f.type.value_type if pa.types.is_fixed_size_list(f.type) else f.type))
                              for f in schema}, schema=schema)
            pf = data.get(lambda p: p.path.stat().st_size / 2**20)
            pf.writer.write_table(table)  # one row group per episode
            row: dict[str, Any] = {"episode_index": i, "tasks": [e.task or ""], "length": t,
                                   "data/chunk_index": data.chunk, "data/file_index": data.file,
                                   "dataset_from_index": total, "dataset_to_index": total + t}
            for key, stream in videos.items():
                vw = stream.get(lambda v: v.size_mb())
                start, stop = vw.append(ep.obs[key])
                name = L.camera_feature(key)
                row |= {f"videos/{name}/chunk_index": stream.chunk, f"videos/{name}/file_index": stream.file,
                        f"videos/{name}/from_timestamp": start, f"videos/{name}/to_timestamp": stop}
                parts.setdefault(name, []).append(S.image_stats(ep.obs[key]))
            row |= {"meta/episodes/chunk_index": 0, "meta/episodes/file_index": 0, "label": e.label, "kind": e.kind,
                    "round": e.round, "episode_id": str(ep.attrs.get("episode_id", ""))}
            rows.append(row)
            for name, v in cols.items():
                parts.setdefault(name, []).append(S.vector_stats(v))
            total += t
    finally:
        data.close()
        for stream in videos.values():
            stream.close()
    for key in s.cameras:
        name = L.camera_feature(key)
        first = tmp / L.VIDEO_PATH.format(video_key=name, chunk_index=0, file_index=0)
        feats[name]["info"] = probe(first) | {"video.crf": settings.video.quality, "video.g": settings.video.gop}
    write_episodes(rows, tmp / L.EPISODES_PATH.format(chunk_index=0, file_index=0))
    write_tasks(tasks, tmp / L.TASKS)
    S.write({name: S.combine(p) for name, p in parts.items()}, tmp / L.STATS)
    info = {"codebase_version": L.CODEBASE_VERSION, "robot_type": settings.robot_type, "total_episodes": len(rows),
            "total_frames": total, "total_tasks": len(tasks), "chunks_size": L.CHUNKS_SIZE,
            "data_files_size_in_mb": int(settings.data_file_mb) or 1, "video_files_size_in_mb": int(settings.video_file_mb) or 1,
            "fps": s.fps, "splits": {"train": f"0:{len(rows)}"}, "data_path": L.DATA_PATH,
            "video_path": L.VIDEO_PATH if s.cameras else None, "features": feats}
    (tmp / L.INFO).write_text(json.dumps(info, indent=2))
    if out.exists():
        shutil.rmtree(out)
    os.replace(tmp, out)
    return {"folder": str(out), "format": L.CODEBASE_VERSION, "episodes": len(rows), "frames": total, "fps": s.fps,
            "cameras": [L.camera_feature(k) for k in s.cameras], "state": list(s.lowdim),
            "data_files": len(data.opened), "video_files": {L.camera_feature(k): len(v.opened) for k, v in videos.items()},
            "left_out_observations": s.left_out}
