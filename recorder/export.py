"""Export a run (or some of its rounds) to one robomimic-style HDF5 file with ``mask/`` filter keys.

robomimic's own tools read it (``data/demo_<i>``, ``data`` attrs ``total`` and ``env_args``,
``mask/<name>`` as byte-string demo keys). Datasets are copied with HDF5's object copy, so raw or
filtered images keep their per-frame chunks and compression; JPEG columns (``recorder.image_storage``)
are decoded into plain ``(T, H, W, C)`` uint8 datasets, since robomimic reads arrays only. Each demo keeps its attributes and
gains ``source_file`` and ``round``. The file is written to ``<out>.partial`` and renamed at the end.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import h5py
import numpy as np

from recorder import image_storage, layout
from recorder.run import EpisodeInfo, RunIndex


def _decode_frames(demo: h5py.Group) -> None:
    """Replace every encoded frame column of ``demo`` by its decoded frames, one chunk per frame."""
    obs = demo.get("obs")
    for key in list(obs.keys()) if obs is not None else []:
        ds = obs[key]
        if not image_storage.is_encoded(ds):
            continue
        frames = image_storage.read_frames(ds)
        del obs[key]
        obs.create_dataset(key, data=frames, chunks=(1, *frames.shape[1:]) if len(frames) else None)


def export(run: RunIndex, episodes: list[EpisodeInfo], out: Path, progress: bool = True) -> dict:
    """Write ``episodes`` into ``out``; returns a summary (demos, total steps, masks)."""
    out = Path(out)
    if not episodes:
        raise ValueError("nothing to export: no episode matches")
    tmp = out.with_name(out.name + layout.PARTIAL_SUFFIX)
    masks = run.masks(episodes)
    key_of = {e.key: f"demo_{i}" for i, e in enumerate(episodes)}
    it = episodes
    if progress and len(episodes) > 10:
        from tqdm import tqdm
        it = tqdm(episodes, desc="exporting", unit="ep")
    env_args, tasks, total = None, set(), 0
    with h5py.File(tmp, "w", libver="latest") as dst:
        data = dst.create_group("data")
        for e in it:
            with h5py.File(e.path, "r") as src:
                if env_args is None:
                    env_args = src["data"].attrs["env_args"]
                name = key_of[e.key]
                src.copy(src[f"data/{layout.DEMO}"], data, name=name)
                _decode_frames(data[name])
                data[name].attrs["source_file"] = str(e.path)
                data[name].attrs["round"] = e.round
                tasks.add(e.task)
                total += e.num_samples
        data.attrs["total"] = total
        env = json.loads(env_args)
        if len(tasks) > 1:
            env["tasks"] = sorted(tasks)
        data.attrs["env_args"] = json.dumps(env)
        data.attrs["round"] = max(e.round for e in episodes)
        data.attrs["schema_version"] = layout.SCHEMA_VERSION
        m = dst.create_group("mask")
        for mname, keys in sorted(masks.items()):
            m.create_dataset(mname, data=np.array([key_of[k].encode() for k in keys], dtype="S"))
    os.replace(tmp, out)
    return {"file": str(out), "demos": len(episodes), "total": total,
            "masks": {k: len(v) for k, v in sorted(masks.items())}}
