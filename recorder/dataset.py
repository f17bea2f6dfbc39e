"""The episode reader: recorded episodes (the HDF5 layout of ARCHITECTURE.md, robomimic-compatible)
into `RecordedEpisode`s, validating at the boundary. Training cuts them into chunks
(`policy_server.data.episodes_to_dataset`); inspection and export index them (`recorder.run`).

Problems a person must fix (a missing observation key, a wrong action dimension, no episodes at
all) stop with a message naming the file; damaged files or episodes (truncated, unreadable,
inconsistent lengths, non-finite actions) are skipped with a warning naming them, so one bad file
does not end a long training run.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

import numpy as np

from recorder.image_storage import read_frames
from recorder.selection import LeftOut, describe, left_out_because_attrs

log = logging.getLogger("hgd.dataset")


class DatasetError(ValueError):
    """Data that cannot be trained on, with a message naming the file and what is wrong."""


@dataclass
class RecordedEpisode:
    """One episode as recorded: per-step arrays (T, ...)."""

    file: str
    name: str
    obs: dict[str, np.ndarray]
    actions: np.ndarray
    source: np.ndarray | None = None  # 0 policy, 1 human, 2 hold
    intervention: np.ndarray | None = None
    timestamps: np.ndarray | None = None
    attrs: dict = field(default_factory=dict)
    # Per-step chunk labels (T, H, A) when the chunk at t is not simply actions t..t+H-1: the
    # scripted expert's clean plan under injected noise (`sim.demos.collect_demos`). Not recorded.
    planned: np.ndarray | None = None


def expand_paths(paths: Iterable[str | Path]) -> list[Path]:
    """Files as given, folders searched recursively for *.hdf5 (sorted)."""
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            out += sorted(p.rglob("*.hdf5"))
        elif p.exists():
            out.append(p)
        else:
            raise DatasetError(f"dataset '{p}': no such file or folder")
    if not out:
        raise DatasetError(f"no episode files (*.hdf5) in {[str(p) for p in paths]}")
    return out


def read_file(path: Path, obs_keys: Iterable[str] | None = None,
              keep: Callable[[str, Mapping[str, Any]], bool] | None = None) -> list[RecordedEpisode]:
    """All episodes of one file (those `keep(group name, attrs)` accepts, judged before any array is
    read). Raises OSError/KeyError-like errors for damaged files (caller skips)."""
    import h5py

    eps = []
    with h5py.File(path, "r") as f:
        if "data" not in f:
            raise KeyError("no /data group (is this an episode file of this project?)")
        for name in sorted(f["data"].keys(), key=lambda s: (len(s), s)):
            g = f["data"][name]
            if keep is not None and not keep(name, g.attrs):
                continue
            if "actions" not in g or "obs" not in g:
                raise KeyError(f"{name} has no 'actions' or 'obs'")
            keys = list(obs_keys) if obs_keys is not None else list(g["obs"].keys())
            missing = [k for k in keys if k not in g["obs"]]
            if missing:
                raise DatasetError(
                    f"dataset '{path}': {name} is missing {['obs/' + k for k in missing]} "
                    f"(has {sorted(g['obs'].keys())}; is this a file from another robot or task?)"
                )
            opt = {k: g[k][()] for k in ("source", "intervention", "timestamps") if k in g}
            eps.append(RecordedEpisode(str(path), name, {k: read_frames(g["obs"][k]) for k in keys}, g["actions"][()],
                                       attrs=dict(g.attrs), **opt))
    return eps


def _check_episode(ep: RecordedEpisode, action_dim: int | None) -> str | None:
    """Why an episode is damaged (skip it), or None."""
    t = len(ep.actions)
    if t == 0:
        return "no steps"
    if ep.actions.ndim != 2:
        return f"actions have shape {ep.actions.shape}, expected (T, A)"
    for k, v in ep.obs.items():
        if len(v) != t:
            return f"obs/{k} has {len(v)} steps but actions have {t}"
    if not np.all(np.isfinite(ep.actions)):
        return "non-finite values in actions"
    return None


@dataclass
class Selected:
    """The episodes a selection took, and the ones it left out (named, never read)."""

    episodes: list[RecordedEpisode]
    left_out: list[LeftOut]


def load_selected(paths: Iterable[str | Path], obs_keys: Iterable[str] | None = None, include: Iterable[str] = (),
                  action_dim: int | None = None) -> Selected:
    """The data under `paths` by the label rule of `recorder.selection` (`include`: what else to take):
    what every reader that trains or exports uses. DatasetError, saying what was left out, when nothing is left."""
    include = tuple(include)
    left_out: list[LeftOut] = []

    def admit(path: Path):
        def keep(name: str, attrs: Mapping[str, Any]) -> bool:
            why = left_out_because_attrs(attrs, include)
            if why is not None:
                left_out.append(LeftOut(str(path) if name == "demo_0" else f"{path}:{name}", why))
            return why is None
        return keep

    files, lerobot = _expand(paths)
    if obs_keys is None:
        obs_keys = _common_obs_keys(files, lambda path: lambda name, attrs: left_out_because_attrs(attrs, include) is None)
    episodes = _load(files, obs_keys, action_dim, admit) + _load_lerobot(lerobot, files, obs_keys, admit)
    if not episodes:
        raise DatasetError(_nothing_usable(files + lerobot) + (f"; {describe(w.reason for w in left_out)}" if left_out else ""))
    return Selected(episodes, left_out)


def load_episodes(
    paths: Iterable[str | Path], obs_keys: Iterable[str] | None = None, action_dim: int | None = None
) -> list[RecordedEpisode]:
    """Read every episode under `paths`, whatever its label (training reads through `load_selected`);
    skip damaged ones with a warning, stop on real mismatches."""
    files, lerobot = _expand(paths)
    keys = obs_keys if obs_keys is not None else _common_obs_keys(files, None)
    episodes = _load(files, keys, action_dim, None) + _load_lerobot(lerobot, files, keys, None)
    if not episodes:
        raise DatasetError(_nothing_usable(files + lerobot))
    return episodes


def _expand(paths: Iterable[str | Path]) -> tuple[list[Path], list[Path]]:
    """(episode files, LeRobot dataset folders): a folder holding meta/info.json is a LeRobotDataset
    (`recorder.lerobot`), anything else is searched for *.hdf5 as before."""
    from recorder.lerobot.sources import split

    other, lerobot = split(paths)
    return (expand_paths(other) if other or not lerobot else []), lerobot


def _load_lerobot(datasets: list[Path], files: list[Path], obs_keys: Iterable[str] | None,
                  admit: Callable[[Path], Callable[[str, Mapping[str, Any]], bool]] | None) -> list[RecordedEpisode]:
    """The episodes of LeRobot datasets, once each fits the others and the episode files (else DatasetError)."""
    if not datasets:
        return []
    from recorder.lerobot import sources

    sources.check_fit(datasets, files, obs_keys)
    return sources.load(datasets, obs_keys, admit)


def _nothing_usable(files: list[Path]) -> str:
    return f"no usable episodes in {len(files)} file(s): {[str(f) for f in files[:5]]}"


def _common_obs_keys(files: list[Path], admit) -> list[str] | None:
    """The observations every episode of ``files`` has (None when none is readable). Sessions differ
    in what they record (a rollout without the cameras the demonstrations had): with no keys asked
    for, training takes what all of them share, and says what it left out."""
    import h5py

    common: set[str] | None = None
    union: set[str] = set()
    for path in files:
        try:
            with h5py.File(path, "r") as f:
                keep = admit(path) if admit is not None else None
                for name, g in f["data"].items():
                    if not isinstance(g, h5py.Group) or "obs" not in g or (keep is not None and not keep(name, g.attrs)):
                        continue
                    have = set(g["obs"].keys())
                    union |= have
                    common = have if common is None else common & have
        except Exception:  # noqa: BLE001 - an unreadable file is skipped (and named) by the loader itself
            continue
    if common is None:
        return None
    if union - common:
        log.warning("observations not in every episode are left out: %s (choose with --obs-keys)", sorted(union - common))
    return sorted(common)


def _load(files: list[Path], obs_keys: Iterable[str] | None, action_dim: int | None,
          admit: Callable[[Path], Callable[[str, Mapping[str, Any]], bool]] | None) -> list[RecordedEpisode]:
    """Every usable episode of `files` (`admit(path)`: which groups of that file to read)."""
    keys = list(obs_keys) if obs_keys is not None else None
    out: list[RecordedEpisode] = []
    for path in files:
        try:
            eps = read_file(path, keys, admit(path) if admit is not None else None)
        except DatasetError:
            raise
        except Exception as e:  # truncated, not HDF5, missing groups: skip the file
            warnings.warn(f"skipping dataset file '{path}': unreadable ({type(e).__name__}: {e})", stacklevel=3)
            continue
        for ep in eps:
            if keys is None:
                keys = list(ep.obs)  # the first good episode fixes the layout
            why = _check_episode(ep, action_dim)
            if why is not None:
                warnings.warn(f"skipping episode '{path}:{ep.name}': {why}", stacklevel=3)
                continue
            a = ep.actions.shape[1]
            if action_dim is None:
                action_dim = a
            elif a != action_dim:
                raise DatasetError(f"dataset '{path}': {ep.name} has action dimension {a}, expected {action_dim}")
            out.append(ep)
    return out
