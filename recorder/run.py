"""A run folder as a whole: every episode file across rounds, indexed and selectable.

``open_run`` walks ``<run>/round_<r>/data/ep_<n>.hdf5``, reads each file through the project's one
episode reader (``recorder.dataset.read_file``) without observations, so indexing 200 episodes with
camera frames stays fast. Files that cannot be read are listed in ``problems`` by name and never
used; partial files (a crash, or a recorder still running) are listed apart.

``select(up_to=r, include=())`` lists what round r trains on (``recorder.aggregation`` reads and
weighs it; ``recorder.selection``'s label rule leaves out discarded attempts and failed or aborted
demonstrations unless included), narrowed by kind, label, or to episodes with interventions (for
exports and inspection). Discarded attempts are listed but never counted in ``totals``.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

import numpy as np

from recorder.dataset import RecordedEpisode, load_episodes, read_file
from hgdagger.common.types import Source
from recorder import layout, run_folder, selection


class NotARun(ValueError):
    """The folder does not look like a run (no round_<r>/data/ep_<n>.hdf5 inside)."""


@dataclass
class EpisodeInfo:
    """What a person or a selection needs to know about one episode, without its observations."""

    path: Path
    round: int
    index: int
    num_samples: int
    kind: str
    label: str
    success: bool
    operator: str
    checkpoint: str
    task: str
    started_at: float
    duration_s: float
    interventions: int  # maximal runs of intervention steps
    human_steps: int
    recovered: bool = False
    labelled: bool = True  # False: written before labels existed (then `label` is guessed from `success`)

    @property
    def key(self) -> str:
        """A demo key unique across the run (used in exports and masks)."""
        return f"r{self.round}_ep{self.index:04d}"

    @property
    def human_share(self) -> float:
        return self.human_steps / self.num_samples if self.num_samples else 0.0

    def left_out_because(self, include: Iterable[str] = ()) -> str | None:
        """Why the label rule (recorder.selection) does not take this episode, or None."""
        return selection.left_out_because(self.kind, self.label if self.labelled else None, include)

    @property
    def discarded(self) -> bool:
        """Thrown away by the operator: kept on disk for review, never data (with everything else
        included, the label rule still leaves it out)."""
        return self.left_out_because(selection.DATA) is not None


def _s(v) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)


def count_runs(mask: np.ndarray) -> int:
    """Number of maximal runs of True (one intervention = one run of human-controlled steps)."""
    m = np.asarray(mask, bool).astype(np.int8)
    return int(np.count_nonzero(np.diff(np.concatenate([[0], m])) == 1))


def info_from_episode(ep: RecordedEpisode, round_index: int, index: int) -> EpisodeInfo:
    a = ep.attrs
    t = len(ep.actions)
    ts = ep.timestamps if ep.timestamps is not None and len(ep.timestamps) else None
    inter = ep.intervention if ep.intervention is not None else np.zeros(t, bool)
    human = (np.asarray(ep.source) == int(Source.HUMAN)) if ep.source is not None else np.ones(t, bool)
    return EpisodeInfo(
        path=Path(ep.file), round=int(a.get("round", round_index)), index=index, num_samples=t,
        kind=_s(a.get("kind", "demo")), label=_s(a.get("label", "success" if a.get("success", True) else "failure")),
        success=bool(a.get("success", False)), operator=_s(a.get("operator", "")),
        checkpoint=_s(a.get("checkpoint", "")), task=_s(a.get("task", "")),
        started_at=float(a.get("started_at", 0.0)),
        duration_s=float(ts[-1] - ts[0]) if ts is not None and t > 1 else 0.0,
        interventions=count_runs(inter), human_steps=int(human.sum()), recovered=bool(a.get("recovered", False)),
        labelled="label" in a)


@dataclass
class RunIndex:
    root: Path
    episodes: list[EpisodeInfo] = field(default_factory=list)
    problems: list[tuple[Path, str]] = field(default_factory=list)
    partials: list[Path] = field(default_factory=list)

    @property
    def rounds(self) -> list[int]:
        return sorted({e.round for e in self.episodes})

    def select(self, rounds: Iterable[int] | None = None, up_to: int | None = None, kind: str | None = None,
               label: str | None = None, interventions_only: bool = False,
               include: Iterable[str] | None = None) -> list[EpisodeInfo]:
        """Episodes matching every filter given (rounds: exactly these; up_to: rounds 0..up_to);
        include: apply the label rule too (what training takes; None: every episode, for listing)."""
        rs = set(rounds) if rounds is not None else None
        return [e for e in self.episodes
                if (rs is None or e.round in rs) and (up_to is None or e.round <= up_to)
                and (kind is None or e.kind == kind) and (label is None or e.label == label)
                and (not interventions_only or e.interventions > 0)
                and (include is None or e.left_out_because(include) is None)]

    def left_out(self, episodes: list[EpisodeInfo], include: Iterable[str] = ()) -> list[tuple[EpisodeInfo, str]]:
        """Of `episodes`, those the label rule does not take with `include`, and why."""
        return [(e, why) for e in episodes if (why := e.left_out_because(include)) is not None]

    def masks(self, episodes: list[EpisodeInfo] | None = None) -> dict[str, list[str]]:
        """robomimic filter keys: one per round, kind and label, and ``interventions``."""
        out: dict[str, list[str]] = {}
        for e in self.episodes if episodes is None else episodes:
            for name in (f"round_{e.round}", f"kind_{e.kind}", f"label_{e.label}"):
                out.setdefault(name, []).append(e.key)
            if e.interventions:
                out.setdefault("interventions", []).append(e.key)
        out.setdefault("interventions", [])
        return out

    def totals(self, episodes: list[EpisodeInfo] | None = None, include: Iterable[str] = ()) -> dict[int, dict]:
        """Per round: episodes, steps, seconds, successes, interventions, human steps of what was
        recorded, discarded attempts apart (counted in ``discarded`` only: they are not data); and
        under ``training``, what the label rule with `include` takes (episodes, steps, human steps)
        and leaves out (``left_out``: {reason: episodes})."""
        out: dict[int, dict] = {}
        for e in self.episodes if episodes is None else episodes:
            t = out.setdefault(e.round, {"episodes": 0, "steps": 0, "seconds": 0.0, "successes": 0,
                                         "interventions": 0, "human_steps": 0, "discarded": 0,
                                         "training": {"episodes": 0, "steps": 0, "human_steps": 0, "left_out": {}}})
            why = e.left_out_because(include)
            if why is None:
                t["training"]["episodes"] += 1
                t["training"]["steps"] += e.num_samples
                t["training"]["human_steps"] += e.human_steps
            else:
                t["training"]["left_out"][why] = t["training"]["left_out"].get(why, 0) + 1
            if e.discarded:
                t["discarded"] += 1
                continue
            t["episodes"] += 1
            t["steps"] += e.num_samples
            t["seconds"] += e.duration_s
            t["successes"] += e.success
            t["interventions"] += e.interventions
            t["human_steps"] += e.human_steps
        return out

    def load(self, episodes: list[EpisodeInfo], obs_keys: Iterable[str] | None = None) -> list[RecordedEpisode]:
        """Full episodes (observations included) for training, via the project's reader."""
        return load_episodes([e.path for e in episodes], obs_keys)


def episode_files(root: Path) -> list[tuple[int, Path]]:
    """(round, file) for every finished episode file, in round then episode order."""
    root = Path(root)
    if not root.is_dir():
        raise NotARun(f"'{root}' is not a folder")
    found: list[tuple[int, Path]] = []
    rounds = [d for d in root.iterdir() if d.is_dir() and run_folder.ROUND_RE.match(d.name)]
    for d in rounds:
        r = int(run_folder.ROUND_RE.match(d.name).group(1))
        found += [(r, p) for p in (d / "data").glob("ep_*.hdf5") if layout.EPISODE_RE.match(p.name)]
    if not rounds:  # a single round's data folder given directly
        direct = [p for p in root.glob("ep_*.hdf5") if layout.EPISODE_RE.match(p.name)]
        if not direct and not list(root.glob("ep_*.partial")):
            raise NotARun(f"'{root}' is not a run folder: expected round_<r>/data/ep_<nnnn>.hdf5 inside "
                          f"(or ep_<nnnn>.hdf5 files directly); found {sorted(p.name for p in root.iterdir())[:6]}")
        r = run_folder.round_of(root / "x")
        found = [(r if r is not None else 0, p) for p in direct]
    return sorted(found, key=lambda rp: (rp[0], rp[1].name))


def open_run(root: Path, progress: bool = False) -> RunIndex:
    """Index every episode of a run (attributes, lengths, interventions; no observations)."""
    root = Path(root)
    files = episode_files(root)
    index = RunIndex(root, partials=sorted(root.rglob("ep_*" + layout.PARTIAL_SUFFIX)))
    it = files
    if progress and len(files) > 20:
        from tqdm import tqdm
        it = tqdm(files, desc="indexing", unit="ep", leave=False)
    for r, path in it:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                eps = read_file(path, obs_keys=[])
        except Exception as e:  # not HDF5, truncated, missing groups: report by name, never use
            index.problems.append((path, f"{type(e).__name__}: {e}"))
            continue
        if len(eps) != 1:
            index.problems.append((path, f"{len(eps)} episodes in one file (expected 1)"))
            continue
        n = int(layout.EPISODE_RE.match(path.name).group(1))
        info = info_from_episode(eps[0], r, n)
        info.round = r  # the folder decides: a file copied into another round counts there
        if info.num_samples == 0:
            index.problems.append((path, "no steps"))
            continue
        index.episodes.append(info)
    return index
