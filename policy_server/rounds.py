"""Retraining rounds as folders, so anyone can see what a checkpoint was trained on.

    <run>/round_<r>/data/ep_<nnnn>.hdf5     episodes recorded with round r's policy (round 0: demos)
    <run>/round_<r>/checkpoints/last.pt     the policy trained at round r (on rounds 0..r)
    <run>/round_<r>/train_config.json       settings + the exact list of files (and their sizes)
    <run>/round_<r>/eval.json               evaluation of that checkpoint

Round r's checkpoint is trained on all data of rounds 0..r (aggregation, as DAgger and HG-DAgger
prescribe: Ross et al., AISTATS 2011; Kelly et al., ICRA 2019), and the sessions of round r+1 run it.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

ROUND_RE = re.compile(r"^round_(\d+)$")


class RoundError(ValueError):
    """A run or round folder that cannot be trained on, with a message naming the folder."""


def round_dir(run: str | Path, r: int) -> Path:
    return Path(run) / f"round_{r}"


def list_rounds(run: str | Path) -> list[int]:
    """Round numbers present under `run`, ascending."""
    run = Path(run)
    if not run.is_dir():
        return []
    return sorted(int(m.group(1)) for p in run.iterdir() if p.is_dir() and (m := ROUND_RE.match(p.name)))


def episode_files(run: str | Path, r: int) -> list[Path]:
    """Episode files of round `r` (sorted); RoundError if the round has none."""
    d = round_dir(run, r) / "data"
    files = sorted(d.glob("*.hdf5")) if d.is_dir() else []
    if not files:
        raise RoundError(f"round folder '{round_dir(run, r)}' has no episode files (expected data/ep_<nnnn>.hdf5)")
    return files


def training_files(run: str | Path, upto: int) -> list[Path]:
    """All episode files of rounds 0..upto (aggregation); empty rounds are an error, named."""
    rounds = [r for r in list_rounds(run) if r <= upto]
    if upto not in rounds:
        raise RoundError(f"run '{run}' has no folder round_{upto} (rounds present: {list_rounds(run)})")
    files: list[Path] = []
    for r in rounds:
        files += episode_files(run, r)
    return files


def checkpoint_path(run: str | Path, r: int, name: str = "last.pt") -> Path:
    return round_dir(run, r) / "checkpoints" / name


def latest_checkpoint(run: str | Path) -> Path | None:
    """The newest round's last.pt that exists, or None."""
    for r in reversed(list_rounds(run)):
        p = checkpoint_path(run, r)
        if p.exists():
            return p
    return None


def write_json(path: Path, payload: dict[str, Any]) -> Path:
    """Write JSON atomically (temp + rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(payload, indent=2, default=str))
    tmp.replace(path)
    return path


def write_round_config(run: str | Path, r: int, config: dict[str, Any], files: list[Path], **extra: Any) -> Path:
    """round_<r>/train_config.json: the settings and the exact files (with sizes) trained on."""
    listing = [{"path": str(f), "bytes": f.stat().st_size} for f in files]
    return write_json(round_dir(run, r) / "train_config.json", {"round": r, "config": config, "files": listing, **extra})


def write_eval(run: str | Path, r: int, results: dict[str, Any]) -> Path:
    """round_<r>/eval.json: how round r's checkpoint did."""
    return write_json(round_dir(run, r) / "eval.json", {"round": r, **results})
