"""Run-level reading: indexing across rounds, selection and masks, hgd-inspect, hgd-export."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

from policy_server.data import episodes_to_dataset
from recorder.aggregation import round_training_set
from recorder.run import NotARun, count_runs, open_run
from recorder.recording_session import RecordingSession
from recorder.synthetic_episodes import episode_messages
from hgdagger.cli import export as export_cli
from hgdagger.cli import inspect_run

REPO = Path(__file__).resolve().parents[1]


def make_run(root: Path) -> Path:
    """round 0: 2 demos; round 1: rollouts (2 with a takeover, 1 without, 1 failure); round 2: 1 rollout."""
    plan = {0: [dict(kind="demo", takeover=None)] * 2,
            1: [dict(takeover=(3, 6)), dict(takeover=None), dict(takeover=(2, 4), outcome="failure"),
                dict(takeover=(8, 12))],
            2: [dict(takeover=None, checkpoint="ckpt-r2")]}
    for r, eps in plan.items():
        s = RecordingSession(root / f"round_{r}" / "data")
        for i, kw in enumerate(eps):
            for m in episode_messages(15 + i, episode_id=f"{r}-{i}", seed=10 * r + i, **kw):
                s.handle(m)
        s.close()
    return root


def test_count_runs_counts_maximal_runs_of_true():
    assert count_runs([0, 1, 1, 0, 1, 0, 0, 1]) == 3 and count_runs([]) == 0 and count_runs([1, 1]) == 1


def test_run_index_selects_by_round_kind_label_and_interventions(tmp_path):
    run = open_run(make_run(tmp_path / "run"))
    assert run.rounds == [0, 1, 2] and len(run.episodes) == 7 and not run.problems
    assert [e.kind for e in run.select(rounds=[0])] == ["demo", "demo"]
    assert len(run.select(up_to=1)) == 6  # round 1 trains on rounds 0..1
    assert [e.key for e in run.select(interventions_only=True)] == ["r1_ep0000", "r1_ep0002", "r1_ep0003"]
    assert [e.label for e in run.select(label="failure")] == ["failure"]
    e = run.select(rounds=[1])[0]
    assert e.interventions == 1 and e.human_steps == 3 and e.num_samples == 15
    assert e.duration_s == pytest.approx(14 * 0.02)
    assert run.select(rounds=[0])[0].human_share == 1.0
    masks = run.masks()
    assert masks["round_1"] == ["r1_ep0000", "r1_ep0001", "r1_ep0002", "r1_ep0003"]
    assert masks["interventions"] == ["r1_ep0000", "r1_ep0002", "r1_ep0003"] and len(masks["kind_demo"]) == 2
    t = run.totals()
    assert t[1]["episodes"] == 4 and t[1]["interventions"] == 3 and t[2]["steps"] == 15
    eps = run.load(run.select(up_to=0))  # full episodes for training, through the project's reader
    assert len(eps) == 2 and eps[0].obs["joint_pos"].shape == (15, 7)


def test_training_set_of_a_round_aggregates_earlier_rounds_with_preset_weights(tmp_path):
    run = open_run(make_run(tmp_path / "run"))
    agg = round_training_set(run.root, 1, weighting="hg-dagger", obs_keys=["joint_pos"])
    ds = episodes_to_dataset(agg.episodes, 4, lambda _: agg.weights)
    n_steps = sum(e.num_samples for e in run.select(up_to=1))
    assert ds.actions.shape == (n_steps, 4, 8) and ds.pad_mask[:, -1].sum() == 6 * 3  # last 3 steps of 6 episodes
    human = sum(e.human_steps for e in run.select(up_to=1))
    assert ds.weights.sum() == human  # hg-dagger: demos and human-controlled rollout steps only
    assert sorted(agg.files) == sorted(str(e.path) for e in run.select(up_to=1))


def test_unreadable_files_are_named_and_skipped_and_partials_listed(tmp_path):
    root = make_run(tmp_path / "run")
    d = root / "round_2" / "data"
    (d / "ep_0007.hdf5").write_bytes(b"this is not HDF5")
    (d / "ep_0008.hdf5.partial").write_bytes(b"")
    run = open_run(root)
    assert len(run.episodes) == 7
    assert [p.name for p, _ in run.problems] == ["ep_0007.hdf5"]
    assert [p.name for p in run.partials] == ["ep_0008.hdf5.partial"]


def test_hgd_inspect_prints_episodes_and_round_totals(tmp_path, capsys):
    root = make_run(tmp_path / "run")
    assert inspect_run.main([str(root)]) == 0
    out = capsys.readouterr().out
    assert "ep_0003.hdf5" in out and "ckpt-r2" in out and "failure" in out
    lines = out.strip().splitlines()
    r1 = next(line for line in lines[-3:] if line.split()[0] == "1")
    assert r1.split()[1:3] == ["4", "66"]  # 4 episodes, 15+16+17+18 steps
    assert inspect_run.main([str(root), "--json", "--interventions"]) == 0
    j = json.loads(capsys.readouterr().out)
    assert len(j["episodes"]) == 3 and all(e["interventions"] == 1 for e in j["episodes"])


def test_hgd_inspect_on_a_folder_that_is_not_a_run_fails_without_a_traceback(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    r = subprocess.run([sys.executable, "-m", "hgdagger.cli.inspect_run", str(tmp_path)], cwd=REPO, capture_output=True,
                       text=True, env=os.environ | {"PYTHONPATH": str(REPO)}, timeout=60)
    assert r.returncode == 2 and "is not a run folder" in r.stderr and "Traceback" not in r.stderr
    with pytest.raises(NotARun):
        open_run(tmp_path / "missing")


def test_hgd_export_writes_one_robomimic_file_with_masks(tmp_path, capsys):
    root = make_run(tmp_path / "run")
    out = tmp_path / "all.hdf5"
    assert export_cli.main([str(root), "--out", str(out)]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["demos"] == 7
    with h5py.File(out) as f:
        assert sorted(f["data"].keys(), key=lambda k: int(k.split("_")[1])) == [f"demo_{i}" for i in range(7)]
        assert f["data"].attrs["total"] == sum(f[f"data/demo_{i}"].attrs["num_samples"] for i in range(7))
        assert json.loads(f["data"].attrs["env_args"])["type"] == 2
        assert [k.decode() for k in f["mask/round_0"][()]] == ["demo_0", "demo_1"]
        assert [k.decode() for k in f["mask/interventions"][()]] == ["demo_2", "demo_4", "demo_5"]
        assert f["mask/round_1"].dtype.kind == "S"
        g = f["data/demo_6"]
        assert g.attrs["round"] == 2 and g.attrs["checkpoint"] == "ckpt-r2" and g["source"].dtype == np.uint8
    from recorder.dataset import read_file
    assert len(read_file(out)) == 7  # the training reader takes the aggregated file too
    out2 = tmp_path / "r1.hdf5"
    assert export_cli.main([str(root), "--round", "1", "--interventions", "--out", str(out2)]) == 0
    with h5py.File(out2) as f:
        assert len(f["data"]) == 3 and len(f["mask/interventions"]) == 3
    assert export_cli.main([str(root), "--out", str(out2)]) == 2  # refuses to overwrite
