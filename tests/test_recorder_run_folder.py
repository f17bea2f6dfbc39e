"""Round folders: aggregation of all earlier rounds, named errors for empty or missing rounds."""

from __future__ import annotations

import json

import pytest

from recorder import run_folder as rounds


def _touch(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x" * 10)
    return path


def test_round_r_trains_on_rounds_0_to_r_and_records_the_files(tmp_path):
    a = _touch(tmp_path / "round_0" / "data" / "ep_0000.hdf5")
    b = _touch(tmp_path / "round_1" / "data" / "ep_0000.hdf5")
    c = _touch(tmp_path / "round_2" / "data" / "ep_0000.hdf5")
    (tmp_path / "notes").mkdir()
    assert rounds.list_rounds(tmp_path) == [0, 1, 2]
    assert rounds.training_files(tmp_path, 1) == [a, b]
    assert rounds.training_files(tmp_path, 2) == [a, b, c]
    p = rounds.write_round_config(tmp_path, 1, {"steps": 5}, [a, b], weighting="hg-dagger")
    cfg = json.loads(p.read_text())
    assert cfg["round"] == 1 and cfg["weighting"] == "hg-dagger" and [f["path"] for f in cfg["files"]] == [str(a), str(b)]
    rounds.sessions_path(tmp_path, 0).write_text(json.dumps({"human_steps": 40}))
    rounds.sessions_path(tmp_path, 2).write_text(json.dumps({"human_steps": 7}))
    assert rounds.labels_so_far(tmp_path, 1) == 40 and rounds.labels_so_far(tmp_path, 2) == 47
    assert rounds.round_of(c) == 2 and rounds.round_of(tmp_path / "notes") is None


def test_empty_or_missing_rounds_are_errors_naming_the_folder(tmp_path):
    _touch(tmp_path / "round_0" / "data" / "ep_0000.hdf5")
    (tmp_path / "round_1" / "data").mkdir(parents=True)
    with pytest.raises(rounds.RoundError, match="round_1.*no episode files"):
        rounds.training_files(tmp_path, 1)
    with pytest.raises(rounds.RoundError, match="no folder round_4"):
        rounds.training_files(tmp_path, 4)


def test_latest_checkpoint_is_the_newest_round_with_one(tmp_path):
    assert rounds.latest_checkpoint(tmp_path) is None
    _touch(rounds.checkpoint_path(tmp_path, 0))
    (tmp_path / "round_1").mkdir()
    assert rounds.latest_checkpoint(tmp_path) == rounds.checkpoint_path(tmp_path, 0)
