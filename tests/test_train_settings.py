"""hgd-train --run trains the next round exactly as the loop would: the same settings, decided by the
same function (policy_server.round_recipe.plan_round), the same checkpoint weight for weight."""

from __future__ import annotations

import dataclasses
import json
import shutil

import torch

from hgdagger.cli import train as train_cli
from hgdagger.loop.config import LoopConfig
from hgdagger.loop.round_loop import train_round as loop_train_round
from recorded_runs import record_run
from recorder import run_folder

torch.set_num_threads(1)
# The loop's default model; few, small steps so the test takes seconds.
LOOP = LoopConfig(horizon=4, train_steps=4, finetune_steps=3, batch_size=16, seed=3)


def _recorded(run, r):
    return json.loads(run_folder.train_config_path(run, r).read_text())


def test_hgd_train_run_takes_the_loops_settings_and_makes_the_loops_checkpoint(tmp_path, capsys):
    run = record_run(tmp_path / "run")
    LOOP.save(run_folder.config_path(run))
    assert train_cli.main(["--run", str(run), "--round", "0", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert f"round 0 from the loop's settings in {run_folder.config_path(run)}: weighting hg-dagger" in out
    r0 = _recorded(run, 0)
    assert r0["weighting"] == "hg-dagger" and r0["config"]["steps"] == 4 and r0["config"]["model"]["horizon"] == 4
    assert r0["config"]["model"]["relative_to"] == "joint_pos" and r0["config"]["batch_size"] == 16
    assert r0["init_from"] is None and "config.json" in r0["settings_from"]

    by_loop = tmp_path / "by_loop"
    shutil.copytree(run, by_loop)
    loop_train_round(LOOP, by_loop, 1, progress=False)
    assert train_cli.main(["--run", str(run), "--no-progress"]) == 0  # the newest round: 1
    hand, loop = _recorded(run, 1), _recorded(by_loop, 1)
    assert hand["config"] == loop["config"] and hand["config"]["steps"] == 3 and hand["config"]["warmup_steps"] == 0
    assert hand["weighting"] == loop["weighting"] == "hg-dagger" and hand["include"] == loop["include"] == []
    assert hand["init_from"] == str(run_folder.checkpoint_path(run, 0))  # fine-tunes round 0, as the loop
    assert [f["path"].replace(str(run), "") for f in hand["files"]] == \
        [f["path"].replace(str(by_loop), "") for f in loop["files"]]
    a = torch.load(run_folder.checkpoint_path(run, 1), weights_only=False)
    b = torch.load(run_folder.checkpoint_path(by_loop, 1), weights_only=False)
    for key in ("state_dict", "ema_state_dict"):
        for name, tensor in a[key].items():
            assert torch.equal(tensor, b[key][name]), (key, name)


def test_flags_override_and_the_line_says_which(tmp_path, capsys):
    run = record_run(tmp_path / "run")
    LOOP.save(run_folder.config_path(run))
    assert train_cli.main(["--run", str(run), "--round", "0", "--steps", "2", "--weighting", "uniform",
                           "--include", "failure", "--no-progress"]) == 0
    line = next(s for s in capsys.readouterr().out.splitlines() if s.startswith("hgd-train: round 0 from"))
    assert "--steps, --weighting, --include from the command line" in line
    assert "weighting uniform, include failure, 2 steps, H=4, batch 16, width 256 x2, 5 Euler steps, actions relative to joint_pos" in line
    r0 = _recorded(run, 0)
    assert r0["config"]["steps"] == 2 and r0["weighting"] == "uniform" and r0["include"] == ["failure"]


def test_the_loops_euler_steps_reach_the_checkpoint_and_default_to_the_models(tmp_path):
    from policy_server.model import ModelConfig
    from policy_server.policy import FlowPolicy

    assert LoopConfig().flow_steps == ModelConfig().flow_steps  # (the recipe cannot import torch to ask)
    run = record_run(tmp_path / "run")
    dataclasses.replace(LOOP, flow_steps=10).save(run_folder.config_path(run))
    assert train_cli.main(["--run", str(run), "--round", "0", "--no-progress"]) == 0
    assert FlowPolicy.load(run_folder.checkpoint_path(run, 0), device="cpu").cfg.flow_steps == 10


def test_a_run_made_by_hand_gets_the_loops_defaults_then_its_own_earlier_settings(tmp_path, capsys):
    run = record_run(tmp_path / "run")  # demonstrations from hgd-collect: no config.json
    assert train_cli.main(["--run", str(run), "--round", "0", "--steps", "3", "--obs-keys", "joint_pos", "gripper_pos",
                           "--no-progress"]) == 0
    assert "round 0 from the loop's defaults" in capsys.readouterr().out
    r0 = _recorded(run, 0)
    assert r0["weighting"] == "hg-dagger" and r0["config"]["model"]["relative_to"] == "joint_pos"
    assert r0["config"]["lowdim_keys"] == ["joint_pos", "gripper_pos"]
    assert train_cli.main(["--run", str(run), "--round", "1", "--no-progress"]) == 0
    assert f"round 1 from round 0's settings in {run_folder.train_config_path(run, 0)}" in capsys.readouterr().out
    r1 = _recorded(run, 1)
    assert r1["weighting"] == "hg-dagger" and r1["config"]["steps"] == 3
    assert r1["config"]["lowdim_keys"] == ["joint_pos", "gripper_pos"]
    assert r1["init_from"] == str(run_folder.checkpoint_path(run, 0))


def test_a_config_json_that_cannot_be_read_is_one_line(tmp_path, capsys):
    run = record_run(tmp_path / "run")
    run_folder.config_path(run).write_text("{not json")
    assert train_cli.main(["--run", str(run), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "cannot read" in err and "config.json" in err and len(err.strip().splitlines()) == 1
