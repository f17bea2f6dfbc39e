"""Nothing polluted: discarded attempts (and, unless asked for, failed or aborted demonstrations) stay
on disk for review but are not trained on, exported or counted. Real episode files, written through
the recorder, read back by hgd-train, hgd-inspect, hgd-export and the loop's own training path."""

from __future__ import annotations

import json
import re

import h5py
import pytest
import torch

from hgdagger.cli import export as export_cli
from hgdagger.cli import inspect_run
from hgdagger.cli import train as train_cli
from recorded_runs import DEMO, KEPT, LEFT_OUT, SESSION, episode_file, record_run, steps, unlabel
from recorder import selection
from recorder.aggregation import round_training_set
from recorder.run import open_run

torch.set_num_threads(1)
TINY = ["--set", "model.net.hidden=32", "model.net.depth=1", "model.net.cond_dim=16", "model.net.obs_hidden=32",
        "model.net.time_dim=16", "batch_size=16", "--steps", "2", "--horizon", "4", "--no-progress"]


def test_the_label_rule_keeps_good_demos_and_every_rollout_and_names_the_rest():
    out = selection.left_out_because
    assert out("demo", "success") is None and out("rollout", "success") is None
    assert out("rollout", "failure") is None and out("rollout", "aborted") is None  # corrections still valid
    assert out("demo", "failure") == "failure" and out("demo", "aborted") == "aborted"
    assert out("demo", "discard") == "discard" and out("rollout", "discard") == "discard"
    assert out("demo", None) is None  # a file written before labels: counts as before
    assert out("demo", "failure", ["failure"]) is None and out("rollout", "discard", ["discard"]) is None
    assert selection.describe(["discard", "discard", "discard", "failure"]) == \
        "left out: 3 discarded, 1 failed demonstration (--include discard failure to use them)"
    with pytest.raises(ValueError, match="choose from failure, aborted, discard"):
        selection.check_include(["failed"])


def _printed_samples(out: str) -> int:
    return int(re.search(r"(\d+) samples", out).group(1))


def test_hgd_train_does_not_train_on_a_discarded_attempt(tmp_path, capsys):
    run = record_run(tmp_path / "run")
    assert train_cli.main(["--run", str(run), "--round", "1", *TINY]) == 0
    out = capsys.readouterr().out
    kept = [episode_file(run, r, i) for r, idx in KEPT.items() for i in idx]
    recorded = json.loads((run / "round_1" / "train_config.json").read_text())
    assert sorted(f["path"] for f in recorded["files"]) == sorted(map(str, kept))
    assert _printed_samples(out) == sum(steps(r, i) for r, idx in KEPT.items() for i in idx)  # one chunk per step
    assert "left out: 2 discarded, 1 failed demonstration, 1 aborted demonstration " \
           "(--include discard failure aborted to use them)" in out
    left = {(e["episode"], e["reason"]) for e in recorded["left_out"]}
    assert left == {(str(episode_file(run, r, i)), why) for r, d in LEFT_OUT.items() for i, why in d.items()}
    ck = torch.load(run / "round_1" / "checkpoints" / "last.pt", weights_only=False)
    assert sorted(ck["data_files"]) == sorted(map(str, kept))


def test_include_takes_them_back_and_plain_files_follow_the_same_rule(tmp_path, capsys):
    run = record_run(tmp_path / "run")
    assert train_cli.main(["--run", str(run), "--round", "1", "--include", "failure", "aborted", "discard", *TINY]) == 0
    out = capsys.readouterr().out
    assert _printed_samples(out) == sum(steps(r, i) for r in SESSION for i in range(len(SESSION[r])))
    assert "left out" not in out
    recorded = json.loads((run / "round_1" / "train_config.json").read_text())
    assert recorded["include"] == ["aborted", "discard", "failure"]
    # --data (plain files, no run folder) leaves out the same attempts.
    assert train_cli.main(["--data", str(run / "round_0" / "data"), "--out", str(tmp_path / "ck"), *TINY]) == 0
    out = capsys.readouterr().out
    assert _printed_samples(out) == sum(steps(0, i) for i in KEPT[0]) and "left out: 1 discarded" in out
    # Nothing left to train on says why, in one line.
    only_bad = record_run(tmp_path / "bad", {0: [dict(kind="demo", takeover=None, steps=12, outcome="discard")]})
    assert train_cli.main(["--run", str(only_bad), *TINY]) == 2
    err = capsys.readouterr().err
    assert "no usable episodes" in err and "left out: 1 discarded (--include discard to use them)" in err


def test_episodes_without_a_label_count_as_before(tmp_path):
    run = record_run(tmp_path / "run")
    unlabel(episode_file(run, 0, 3), success=False)  # an old failed demonstration: no label attribute
    agg = round_training_set(run, 0, "hg-dagger", ["joint_pos"])
    assert str(episode_file(run, 0, 3)) in agg.files and len(agg.episodes) == len(KEPT[0]) + 1
    info = next(e for e in open_run(run).episodes if e.path == episode_file(run, 0, 3))
    assert not info.labelled and info.left_out_because() is None and not info.discarded


def test_hgd_inspect_lists_discards_as_discarded_and_counts_only_data(tmp_path, capsys):
    run = record_run(tmp_path / "run")
    assert inspect_run.main([str(run), "--json"]) == 0
    j = json.loads(capsys.readouterr().out)
    discarded = {e["file"] for e in j["episodes"] if e["discarded"]}
    assert discarded == {str(episode_file(run, 0, 1)), str(episode_file(run, 1, 2))}  # listed, marked
    r0, r1 = j["rounds"]["0"], j["rounds"]["1"]
    assert r0["episodes"] == 5 and r0["steps"] == 15 + 17 + 18 + 19 + 20 and r0["discarded"] == 1
    assert r0["successes"] == 3 and r1["episodes"] == 2 and r1["steps"] == 21 + 22
    assert r0["training"] == {"episodes": 3, "steps": 15 + 17 + 19, "human_steps": 15 + 17 + 19,
                              "left_out": {"discard": 1, "failure": 1, "aborted": 1}}
    assert r1["training"]["episodes"] == 2 and r1["training"]["left_out"] == {"discard": 1}
    assert inspect_run.main([str(run)]) == 0
    text = capsys.readouterr().out
    listing = {tuple(line.split()[:2]): line for line in text.splitlines()
               if line.strip().startswith(("0 ep_", "1 ep_"))}
    assert "[discarded: not data]" in listing["0", "ep_0001.hdf5"] and "[discarded" in listing["1", "ep_0002.hdf5"]
    assert "[left out of training: --include failure]" in listing["0", "ep_0003.hdf5"]
    assert "[" not in listing["1", "ep_0001.hdf5"]  # a failed rollout is trained on
    total0 = next(line for line in text.splitlines() if re.match(r"\s+0\s+5\s", line))
    assert total0.split()[1:3] == ["5", str(15 + 17 + 18 + 19 + 20)]
    assert "3 episodes, 51 steps (51 human); left out: 1 discarded, 1 failed demonstration, 1 aborted" in total0
    assert "2 discarded attempt(s) listed above are kept for review only" in text


def test_hgd_export_holds_what_training_takes(tmp_path, capsys):
    run = record_run(tmp_path / "run")
    out = tmp_path / "all.hdf5"
    assert export_cli.main([str(run), "--out", str(out)]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["demos"] == len(KEPT[0]) + len(KEPT[1])
    assert "left out: 2 discarded, 1 failed demonstration, 1 aborted demonstration" in captured.err
    with h5py.File(out) as f:
        assert sorted(f[f"data/{k}"].attrs["label"] for k in f["data"]) == ["failure", "success", "success", "success",
                                                                           "success"]
    assert export_cli.main([str(run), "--label", "discard", "--out", str(tmp_path / "d.hdf5")]) == 2
    assert "(left out: 2 discarded (--include discard to use them))" in capsys.readouterr().err
    assert export_cli.main([str(run), "--label", "discard", "--include", "discard",
                            "--out", str(tmp_path / "d.hdf5")]) == 0


def test_the_loop_trains_on_the_same_default_selection(tmp_path):
    from hgdagger.loop.config import LoopConfig
    from policy_server import round_training
    from policy_server.round_recipe import plan_round

    run = record_run(tmp_path / "run")
    cfg = LoopConfig(horizon=4)
    plan = plan_round(run, 1, cfg.to_dict())
    assert plan.include == [] and plan.weighting == "hg-dagger"
    prepared = round_training.prepare_round(run, 1, plan)
    assert sorted(prepared.files) == sorted(str(episode_file(run, r, i)) for r, idx in KEPT.items() for i in idx)
    with pytest.raises(ValueError, match="cannot include"):
        LoopConfig.from_dict({"include": ["everything"]})
    with_failures = plan_round(run, 1, cfg.to_dict() | {"include": ["failure"]})
    assert len(round_training.prepare_round(run, 1, with_failures).files) == 6


def test_demonstrations_with_cameras_and_rollouts_without_train_on_what_all_share(tmp_path):
    """A session recorded cameras the next did not (hgd-collect renders them, an hgd-run without a
    console did not): training with no --obs-keys takes the observations every episode has instead
    of refusing the whole round."""
    from recorder.aggregation import round_training_set

    run = record_run(tmp_path / "run", {0: [DEMO | dict(steps=15, cameras=("front",))],
                                         1: [dict(steps=12, takeover=(3, 9))]})
    agg = round_training_set(run, 1, "hg-dagger")
    assert len(agg.episodes) == 2
    assert all("front_rgb" not in ep.obs and "joint_pos" in ep.obs for ep in agg.episodes)
    assert set(agg.episodes[0].obs) == set(agg.episodes[1].obs)
