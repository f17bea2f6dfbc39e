"""The loss curve of a training run, as the usual tools read it: ``loss.csv`` (a spreadsheet, pandas)
and TensorBoard event files (``tensorboard --logdir <checkpoints>``), both in the checkpoint folder.

A resumed run continues the same curve: rows past the step it resumes from (written after the
checkpoint it resumes, then lost with the process) are dropped. A fresh run replaces the curve of
whatever trained into the folder before, as it replaces that run's checkpoints.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

from policy_server.event_file import PREFIX, EventFileWriter

CSV_NAME = "loss.csv"
COLUMNS = ("step", "train_loss", "val_loss", "lr", "samples_per_s", "elapsed_s")
TAGS = {"train_loss": "loss/train", "val_loss": "loss/val", "lr": "lr", "samples_per_s": "samples_per_s"}


class LossLog:
    """One row per logged step into loss.csv and the event file (flushed as written)."""

    def __init__(self, folder: str | Path, resume_from: int | None = None):
        self.folder = Path(folder)
        self.csv_path = self.folder / CSV_NAME
        self.folder.mkdir(parents=True, exist_ok=True)
        if resume_from is None:
            for old in self.folder.glob(PREFIX + "*"):
                old.unlink()
            rows: list[dict[str, str]] = []
        else:
            rows = [r for r in _rows(self.csv_path) if int(r["step"]) <= resume_from]
        with open(self.csv_path, "w", newline="") as f:
            writer = csv.DictWriter(f, COLUMNS)
            writer.writeheader()
            writer.writerows(rows)
        self._csv = open(self.csv_path, "a", newline="")
        self._rows = csv.DictWriter(self._csv, COLUMNS)
        self._events = EventFileWriter(self.folder)

    def write(self, step: int, train_loss: float, val_loss: float | None, lr: float, samples_per_s: float,
              elapsed_s: float) -> None:
        values = {"train_loss": train_loss, "val_loss": val_loss, "lr": lr, "samples_per_s": samples_per_s}
        self._rows.writerow({"step": step, "elapsed_s": f"{elapsed_s:.3f}",
                             **{k: "" if v is None else f"{v:.6g}" for k, v in values.items()}})
        self._csv.flush()
        self._events.scalars(step, {TAGS[k]: v for k, v in values.items() if v is not None and math.isfinite(v)})

    def close(self) -> None:
        self._csv.close()
        self._events.close()


def _rows(path: Path) -> list[dict[str, str]]:
    if not path.exists():
        return []
    with open(path, newline="") as f:
        return [r for r in csv.DictReader(f) if r.get("step", "").isdigit()]


def read_csv(path: str | Path) -> list[dict[str, float | None]]:
    """loss.csv's rows as numbers (None where a column is empty)."""
    return [{k: (float(v) if v not in ("", None) else None) for k, v in r.items()} for r in _rows(Path(path))]
