"""hgd-train on real HDF5 files: rounds, weighting presets, and bad input named in the message."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from policy_server.data import episodes_to_dataset
from recorder.dataset import DatasetError, load_episodes
from policy_server.checkpoint import load_checkpoint
from policy_server.policy import FlowPolicy
from recorder.weighting import make_weighting
from policy_hdf5 import bimodal_episode, write_episode_file
from hgdagger.cli import train as cli

torch.set_num_threads(1)
TINY = ["model.net.hidden=32", "model.net.depth=1", "model.net.cond_dim=16", "model.net.obs_hidden=32",
        "model.net.time_dim=16", "batch_size=32", "val_every=10", "ckpt_every=10", "warmup_steps=2"]


def make_run(root, rounds=2, episodes=3, seed=0):
    rng = np.random.default_rng(seed)
    for r in range(rounds):
        for i in range(episodes):
            ep = bimodal_episode(rng)
            if r > 0:  # rollouts: the human took over for the middle third
                t = len(ep["actions"])
                inter = np.zeros(t, bool)
                inter[t // 3: 2 * t // 3] = True
                ep.update(kind="rollout", intervention=inter, source=inter.astype(np.int8))
            write_episode_file(root / f"round_{r}" / "data" / f"ep_{i:04d}.hdf5", [ep])
    return root


def test_training_a_round_aggregates_all_rounds_and_fine_tunes_from_the_previous(tmp_path):
    run = make_run(tmp_path / "run")
    assert cli.main(["--run", str(run), "--round", "0", "--steps", "20", "--horizon", "4", "--no-progress", "--set", *TINY]) == 0
    assert cli.main(["--run", str(run), "--round", "1", "--steps", "20", "--horizon", "4", "--weighting", "hg-dagger",
                     "--no-progress", "--set", *TINY]) == 0
    cfg = json.loads((run / "round_1" / "train_config.json").read_text())
    assert len(cfg["files"]) == 6 and cfg["weighting"] == "hg-dagger"
    assert cfg["init_from"].endswith("round_0/checkpoints/last.pt")
    ck = load_checkpoint(run / "round_1" / "checkpoints" / "last.pt")
    assert ck["round"] == 1 and len(ck["data_files"]) == 6 and ck["weighting"] == "hg-dagger"
    p = FlowPolicy.load(run / "round_1" / "checkpoints" / "last.pt", device="cpu")
    assert p.info.chunk_length == 4 and p.info.action_dim == 2


def test_weighting_presets_select_and_balance_steps(tmp_path):
    run = make_run(tmp_path / "run", rounds=2, episodes=2)
    eps = load_episodes([run])
    demo_steps = sum(len(e.actions) for e in eps if e.attrs["kind"] == "demo")
    hg = make_weighting("hg-dagger")(eps)
    inter = sum(int(e.intervention.sum()) for e in eps if e.attrs["kind"] == "rollout")
    assert sum(float(w.sum()) for w in hg) == demo_steps + inter  # demos + human steps only
    iwr = make_weighting("iwr")(eps)
    total = sum(float(w.sum()) for w in iwr)
    w_inter = sum(float(w[e.intervention].sum()) for w, e in zip(iwr, eps) if e.attrs["kind"] == "rollout")
    assert total == pytest.approx(sum(len(e.actions) for e in eps)) and w_inter / total == pytest.approx(0.5)
    sirius = make_weighting("sirius", pre_intervention_s=0.2)(eps)
    ro = next(i for i, e in enumerate(eps) if e.attrs["kind"] == "rollout")
    start = int(np.flatnonzero(eps[ro].intervention)[0])
    assert np.all(sirius[ro][start - 4: start] == 0) and sirius[ro][start - 6] == 1  # 0.2 s = 4 steps before
    ds = episodes_to_dataset(eps, 4, make_weighting("hg-dagger"))
    assert ds.weights.sum() == demo_steps + inter


def test_bad_input_is_named(tmp_path, capsys):
    good = write_episode_file(tmp_path / "d" / "ep_0000.hdf5", [bimodal_episode(np.random.default_rng(0))])
    # A truncated file is skipped with a warning naming it; training goes on with the rest.
    trunc = tmp_path / "d" / "ep_0001.hdf5"
    trunc.write_bytes(good.read_bytes()[:300])
    with pytest.warns(UserWarning, match="skipping dataset file .*ep_0001.hdf5"):
        eps = load_episodes([tmp_path / "d"])
    assert len(eps) == 1
    # An episode whose arrays disagree in length is skipped with a warning naming it.
    e = bimodal_episode(np.random.default_rng(1))
    e["obs"]["x"] = e["obs"]["x"][:-3]
    write_episode_file(tmp_path / "d2" / "ep_0000.hdf5", [bimodal_episode(np.random.default_rng(2)), e])
    with pytest.warns(UserWarning, match=r"ep_0000.hdf5:demo_1': obs/x has 27 steps"):
        assert len(load_episodes([tmp_path / "d2"])) == 1
    # A missing observation key is an error naming the file and the key.
    e = bimodal_episode(np.random.default_rng(3))
    del e["obs"]["x"]
    bad = write_episode_file(tmp_path / "d3" / "ep_0000.hdf5", [e])
    with pytest.raises(DatasetError, match=r"ep_0000.hdf5.*missing \['obs/x'\]"):
        load_episodes([bad], obs_keys=["x"])
    # A wrong action dimension is an error naming the file.
    e = bimodal_episode(np.random.default_rng(4))
    e["actions"] = np.zeros((30, 5), np.float32)
    write_episode_file(tmp_path / "d4" / "ep_0001.hdf5", [e])
    write_episode_file(tmp_path / "d4" / "ep_0000.hdf5", [bimodal_episode(np.random.default_rng(5))])
    with pytest.raises(DatasetError, match=r"ep_0001.hdf5.*action dimension 5, expected 2"):
        load_episodes([tmp_path / "d4"])
    # An empty round: the CLI prints the folder and exits 2 without a traceback.
    (tmp_path / "run" / "round_0" / "data").mkdir(parents=True)
    assert cli.main(["--run", str(tmp_path / "run"), "--round", "0", "--no-progress"]) == 2
    assert "round_0' has no episode files" in capsys.readouterr().err


def test_help_teaches_and_overrides_are_checked():
    with pytest.raises(SystemExit):
        cli.parse_args(["--help"])
    d = cli.apply_overrides({"steps": 1, "model": {"head": "flow"}}, ["steps=5", "model.head=l2"])
    assert d == {"steps": 5, "model": {"head": "l2"}}
    with pytest.raises(SystemExit, match="unknown setting"):
        cli.apply_overrides({"steps": 1}, ["stpes=5"])
