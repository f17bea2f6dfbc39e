"""The run folder: the one place that knows where a run keeps its rounds, data, checkpoints and
configs, so anyone can see what a checkpoint was trained on.

    <run>/config.json                       the loop's settings (hgd-loop)
    <run>/loop.log, server.log              what the loop and its policy server said
    <run>/report.json, report.png           the loop's table and picture, per round
    <run>/round_<r>/data/ep_<nnnn>.hdf5     episodes recorded with round r's policy (round 0: demos)
    <run>/round_<r>/checkpoints/last.pt     the policy trained at round r (on rounds 0..r)
    <run>/round_<r>/checkpoints/loss.csv    its loss curve (also as TensorBoard events.out.tfevents.* there)
    <run>/round_<r>/train_config.json       settings (and where they came from), the exact files trained on
                                            (with sizes) and the episodes left out (recorder.selection)
    <run>/round_<r>/sessions.json           what round r's sessions recorded (episodes, human steps)
    <run>/round_<r>/eval.json               evaluation of that checkpoint (a round with one is finished)
    <run>/round_0/seed_data.json            datasets from elsewhere (a lab's LeRobot v3 folders, other runs'
                                            episode folders) that round 0 and every later round train on

Round r's checkpoint is trained on all data of rounds 0..r (aggregation, as DAgger and HG-DAgger
prescribe: Ross et al., AISTATS 2011; Kelly et al., ICRA 2019), and the sessions of round r+1 run it.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

ROUND_RE = re.compile(r"^round_(\d+)$")
LAST_CHECKPOINT = "last.pt"


class RoundError(ValueError):
    """A run or round folder that cannot be trained on, with a message naming the folder."""


def config_path(run: str | Path) -> Path:
    return Path(run) / "config.json"


def log_path(run: str | Path, who: str) -> Path:
    """`<run>/<who>.log` (who: loop, server)."""
    return Path(run) / f"{who}.log"


def report_path(run: str | Path, suffix: str) -> Path:
    """`<run>/report.json` or `<run>/report.png`."""
    return Path(run) / f"report{suffix}"


def server_socket(run: str | Path) -> str:
    """The ipc endpoint the loop's policy server listens on, inside the run folder."""
    return f"ipc://{Path(run).resolve()}/policy.sock"


def round_dir(run: str | Path, r: int) -> Path:
    return Path(run) / f"round_{r}"


def data_dir(run: str | Path, r: int) -> Path:
    return round_dir(run, r) / "data"


def checkpoints_dir(run: str | Path, r: int) -> Path:
    return round_dir(run, r) / "checkpoints"


def checkpoint_path(run: str | Path, r: int, name: str = LAST_CHECKPOINT) -> Path:
    return checkpoints_dir(run, r) / name


def sessions_path(run: str | Path, r: int) -> Path:
    return round_dir(run, r) / "sessions.json"


def eval_path(run: str | Path, r: int) -> Path:
    return round_dir(run, r) / "eval.json"


def train_config_path(run: str | Path, r: int) -> Path:
    return round_dir(run, r) / "train_config.json"


def round_of(path: Path) -> int | None:
    """The round a file in ``round_<r>/data/`` belongs to (None when the path has no such parts)."""
    parts = Path(path).parts
    if len(parts) >= 3 and parts[-2] == "data":
        m = ROUND_RE.match(parts[-3])
        if m:
            return int(m.group(1))
    return None


def list_rounds(run: str | Path) -> list[int]:
    """Round numbers present under `run`, ascending."""
    run = Path(run)
    if not run.is_dir():
        return []
    return sorted(int(m.group(1)) for p in run.iterdir() if p.is_dir() and (m := ROUND_RE.match(p.name)))


def episode_files(run: str | Path, r: int) -> list[Path]:
    """Episode files of round `r` (sorted); RoundError if the round has none."""
    d = data_dir(run, r)
    files = sorted(d.glob("*.hdf5")) if d.is_dir() else []
    if not files:
        raise RoundError(f"round folder '{round_dir(run, r)}' has no episode files (expected data/ep_<nnnn>.hdf5)")
    return files


def seed_data_path(run: str | Path) -> Path:
    return round_dir(run, 0) / "seed_data.json"


def seed_datasets(run: str | Path) -> list[Path]:
    """The datasets from elsewhere this run's round 0 was seeded with (``add_seed_dataset``)."""
    path = seed_data_path(run)
    if not path.exists():
        return []
    try:
        return [Path(p) for p in json.loads(path.read_text())["datasets"]]
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise RoundError(f"cannot read '{path}': {e}") from None


def add_seed_dataset(run: str | Path, folder: str | Path) -> list[Path]:
    """Seed round 0 with ``folder`` (a LeRobotDataset v3.0 folder or a folder of episode files), kept
    by absolute path so every later round aggregates it too; returns every seed dataset. The folder
    is not copied: a lab's dataset stays where its other tools expect it."""
    folder = Path(folder).resolve()
    datasets = seed_datasets(run)
    if folder not in datasets:
        datasets.append(folder)
        round_dir(run, 0).mkdir(parents=True, exist_ok=True)
        seed_data_path(run).write_text(json.dumps({"datasets": [str(d) for d in datasets]}, indent=2))
    return datasets


def training_files(run: str | Path, upto: int) -> list[Path]:
    """All episode files of rounds 0..upto (aggregation), and round 0's seed datasets (folders); empty
    rounds are an error, named (round 0 may hold seed datasets alone)."""
    rounds = [r for r in list_rounds(run) if r <= upto]
    if upto not in rounds:
        raise RoundError(f"run '{run}' has no folder round_{upto} (rounds present: {list_rounds(run)})")
    seeds = seed_datasets(run)
    for d in seeds:
        if not d.is_dir():
            raise RoundError(f"run '{run}' is seeded with '{d}' ({seed_data_path(run)}), which is no longer there")
    files: list[Path] = list(seeds)
    for r in rounds:
        if r == 0 and seeds and not episode_files_or_none(run, 0):
            continue
        files += episode_files(run, r)
    return files


def episode_files_or_none(run: str | Path, r: int) -> list[Path]:
    d = data_dir(run, r)
    return sorted(d.glob("*.hdf5")) if d.is_dir() else []


def latest_checkpoint(run: str | Path) -> Path | None:
    """The newest round's last.pt that exists, or None."""
    for r in reversed(list_rounds(run)):
        p = checkpoint_path(run, r)
        if p.exists():
            return p
    return None


def labels_so_far(run: str | Path, upto: int) -> int:
    """Expert-labelled (human-sourced) steps of the training data of rounds 0..upto, from each round's
    sessions.json (``labels``: failed demonstrations left out; a run from before it: ``human_steps``)."""
    total = 0
    for r in range(upto + 1):
        path = sessions_path(run, r)
        if path.exists():
            raw = json.loads(path.read_text())
            total += raw.get("labels", raw["human_steps"])
    return total


def write_json(path: Path, payload: dict[str, Any]) -> Path:
    """Write JSON atomically (temp + rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(payload, indent=2, default=str))
    tmp.replace(path)
    return path


def round_config(r: int, config: dict[str, Any], files: list[Path], **extra: Any) -> dict[str, Any]:
    """What round_<r>/train_config.json holds: the settings and the exact files (with sizes) trained on,
    as read back from the file (JSON types)."""
    listing = [{"path": str(f), "bytes": f.stat().st_size} for f in files]
    return json.loads(json.dumps({"round": r, "config": config, "files": listing, **extra}, default=str))


def write_round_config(run: str | Path, r: int, config: dict[str, Any], files: list[Path], **extra: Any) -> Path:
    """Write `round_config` to round_<r>/train_config.json."""
    return write_json(train_config_path(run, r), round_config(r, config, files, **extra))
