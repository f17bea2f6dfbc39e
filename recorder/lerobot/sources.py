"""LeRobot dataset folders among the paths given to training (``hgd-train --data``), beside HDF5 files.

``recorder.dataset`` hands the folders that hold meta/info.json here. Before any data is read, every
dataset must fit the rest (the same observation keys and shapes, action size, names and rate as the
first LeRobot dataset, or the keys, shapes and action size of the episode files): a dataset from
another robot or of another format version stops training with one line naming what differs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

from recorder.dataset import DatasetError, RecordedEpisode
from recorder.lerobot import layout as L

Admit = Callable[[Path], Callable[[str, Mapping[str, Any]], bool]]


def split(paths: Iterable[str | Path]) -> tuple[list[Path], list[Path]]:
    """(other paths, LeRobot dataset folders), each in the order given."""
    other, datasets = [], []
    for p in map(Path, paths):
        (datasets if p.is_dir() and L.is_dataset(p) else other).append(p)
    return other, datasets


def _hdf5_layout(files: list[Path]) -> tuple[dict[str, tuple[int, ...]], int] | None:
    """Per-step observation shapes and action size of the first readable episode file."""
    import h5py

    from recorder import image_storage

    for path in files:
        try:
            with h5py.File(path, "r") as f:
                g = next(iter(f["data"].values()))
                shapes = {k: (tuple(int(n) for n in ds.attrs[image_storage.SHAPE_ATTR]) if image_storage.is_encoded(ds)
                              else tuple(ds.shape[1:]) or (1,)) for k, ds in g["obs"].items()}
                return shapes, int(g["actions"].shape[1])
        except Exception:  # noqa: BLE001 - an unreadable file is named by the loader itself
            continue
    return None


def check_fit(datasets: list[Path], files: list[Path], obs_keys: Iterable[str] | None = None) -> list[Any]:
    """The datasets' layouts; DatasetError (one line) for a dataset that does not fit the others or the files."""
    from recorder.lerobot.reader import layout_of, mismatch

    layouts = [layout_of(d) for d in datasets]  # LeRobotFormatError (a DatasetError) for another version
    for other in layouts[1:]:
        why = mismatch(layouts[0], other)
        if why:
            raise DatasetError(f"LeRobot dataset '{other.root}' does not fit '{layouts[0].root}': {why}")
    ref = _hdf5_layout(files) if files and layouts else None
    if ref is not None:
        shapes, action_dim = ref
        keys = set(obs_keys) if obs_keys is not None else None
        for lay in layouts:
            why = []
            if lay.action_dim != action_dim:
                why.append(f"action has {lay.action_dim} entries, the episode files {action_dim}")
            want = {k: v for k, v in shapes.items() if keys is None or k in keys}
            lacks = sorted(set(want) - set(lay.obs))
            if lacks:
                why.append(f"it lacks observations {lacks} (has {sorted(lay.obs)})")
            why += [f"{k} is {lay.obs[k]}, in the episode files {v}" for k, v in want.items()
                    if k in lay.obs and lay.obs[k] != v]
            if why:
                raise DatasetError(f"LeRobot dataset '{lay.root}' does not fit the episode files "
                                   f"(another robot?): {'; '.join(why)}")
    return layouts


def load(datasets: list[Path], obs_keys: Iterable[str] | None, admit: Admit | None) -> list[RecordedEpisode]:
    """Every episode of the datasets that `admit(folder)` takes, with `obs_keys` (None: all)."""
    from recorder.lerobot.reader import read_dataset

    out: list[RecordedEpisode] = []
    for d in datasets:
        out += read_dataset(d, obs_keys, admit(d) if admit is not None else None)
    return out
