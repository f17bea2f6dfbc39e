"""The HG-DAgger loop end to end, at a tiny size: mechanics, recording, resume."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
TINY = ["--set", "task=reach", "--set", "demos=3", "--set", "rounds=1", "--set", "rollouts_per_round=2",
        "--set", "eval_episodes=4", "--set", "train_steps=60", "--set", "finetune_steps=30", "--set", "batch_size=64"]


COMPARED = ("--set", "compare_bc=true")  # behavioural cloning at equal labels beside each round (bc_arm)


def loop(out: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "hgdagger.cli.loop", "--out", str(out), "--quiet", *TINY, *extra],
                          cwd=ROOT, capture_output=True, text=True, timeout=900)


@pytest.mark.slow
def test_loop_records_rounds_trains_evaluates_reports_and_resumes(tmp_path):
    run = tmp_path / "run"
    first = loop(run, *COMPARED)
    assert first.returncode == 0, first.stdout + first.stderr
    for r in (0, 1):
        assert (run / f"round_{r}" / "checkpoints" / "last.pt").exists()
        assert (run / f"round_{r}" / "eval.json").exists()
    assert len(list((run / "round_0" / "data").glob("ep_*.hdf5"))) == 3
    rollouts = sorted((run / "round_1" / "data").glob("ep_*.hdf5"))
    assert len(rollouts) == 2
    with h5py.File(rollouts[0]) as f:
        demo = f["data/demo_0"]
        source = demo["source"][()]
        assert demo.attrs["kind"] == "rollout"
        human = source == 1
        assert human.any(), "a barely trained policy must have been taken over"
        # While the supervisor drove, the policy's proposals were recorded beside its commands.
        assert np.isfinite(demo["policy_actions"][()][human]).any()
        assert np.isfinite(demo["human_actions"][()][human]).all()
    report = json.loads((run / "report.json").read_text())
    assert [r["round"] for r in report] == [0, 1]
    assert report[1]["labels_so_far"] > report[0]["labels_so_far"]
    assert (run / "report.png").stat().st_size > 10_000
    assert not (run / "policy.sock").exists()  # the server's socket is cleaned up
    assert "round 1: success" in (run / "loop.log").read_text() and (run / "server.log").exists()
    # its sessions run in lock step as fast as they can: its server must not take a core at real-time priority
    assert "normal scheduler)" in (run / "server.log").read_text()
    assert "round" in first.stdout and "HG-DAgger success" in first.stdout and "BC, equal labels" in first.stdout
    # Behavioural cloning at round 1's labels: a run of its own, on at least as many expert labels as full
    # demonstrations (round 0's and more), trained as long as round 1's policy, on the same evaluation episodes.
    bc = report[1]["bc"]  # (as many labels within one demonstration: a demonstration the expert fails carries none)
    assert bc["labels_so_far"] >= report[1]["labels_so_far"] - 100 and bc["episodes_recorded"] > 3
    bc_run = run / "bc" / "at_round_1"
    assert json.loads((bc_run / "config.json").read_text())["train_steps"] == 60 + 30
    assert len(list((bc_run / "round_0" / "data").glob("ep_*.hdf5"))) == bc["episodes_recorded"]
    with h5py.File(run / "round_0" / "data" / "ep_0000.hdf5") as a, h5py.File(bc_run / "round_0" / "data" / "ep_0000.hdf5") as b:
        np.testing.assert_array_equal(a["data/demo_0/actions"][()], b["data/demo_0/actions"][()])  # the same first demos
    assert "behavioural cloning" in first.stdout and "95% CI" in first.stdout.split("BC, equal labels")[-1]

    again = loop(run, *COMPARED)  # resume: nothing left to do, nothing redone
    assert again.returncode == 0, again.stderr
    assert "finished earlier" in again.stdout
    assert len(list((run / "round_1" / "data").glob("ep_*.hdf5"))) == 2

    def numbers(rows):  # everything but the wall-clock training time
        return [{k: v for k, v in row.items() if k != "train_seconds"} for row in rows]

    # Cut off while recording round 1 (its episodes half written, no summary): the recording starts
    # over instead of numbering new episodes after the old ones (which would train on duplicates).
    (run / "round_1" / "eval.json").unlink()
    (run / "round_1" / "sessions.json").unlink()
    rollouts[1].unlink()
    cut = loop(run, *COMPARED)
    assert cut.returncode == 0, cut.stderr
    assert "discarding 1 episodes of an interrupted recording" in cut.stdout
    assert len(list((run / "round_1" / "data").glob("ep_*.hdf5"))) == 2
    assert numbers(json.loads((run / "report.json").read_text())) == numbers(report)
    # Cut off after recording, while training: the recorded episodes are kept and trained on.
    (run / "round_1" / "eval.json").unlink()
    kept = {p: p.stat().st_mtime_ns for p in (run / "round_1" / "data").glob("ep_*.hdf5")}
    cut = loop(run, *COMPARED)
    assert cut.returncode == 0 and "recorded earlier (resuming at training)" in cut.stdout
    assert {p: p.stat().st_mtime_ns for p in (run / "round_1" / "data").glob("ep_*.hdf5")} == kept
    assert numbers(json.loads((run / "report.json").read_text())) == numbers(report)

    # hgd-train is the loop's own training path: retraining round 1 by hand, with no flags (it reads
    # the loop's settings from the run's config.json), gives the loop's checkpoint, weight for weight.
    import shutil

    import torch

    by_hand = tmp_path / "by_hand"
    shutil.copytree(run, by_hand)
    trained = subprocess.run([sys.executable, "-m", "hgdagger.cli.train", "--run", str(by_hand), "--round", "1",
                              "--no-progress"], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert trained.returncode == 0, trained.stderr[-2000:]
    assert "round 1 from the loop's settings in" in trained.stdout and "weighting hg-dagger" in trained.stdout
    loop_ck, hand_ck = (torch.load(r / "round_1" / "checkpoints" / "last.pt", weights_only=False) for r in (run, by_hand))
    assert hand_ck["init_from"] == str(by_hand / "round_0" / "checkpoints" / "last.pt")  # fine-tuned from round 0, as the loop
    for key in ("state_dict", "ema_state_dict"):
        for name, tensor in loop_ck[key].items():
            assert torch.equal(tensor, hand_ck[key][name]), (key, name)

    rerun = tmp_path / "rerun"  # the same seed from scratch: the same episodes, the same numbers
    assert loop(rerun, *COMPARED).returncode == 0

    assert numbers(json.loads((rerun / "report.json").read_text())) == numbers(report)
    for a, b in zip(rollouts, sorted((rerun / "round_1" / "data").glob("ep_*.hdf5"))):
        with h5py.File(a) as fa, h5py.File(b) as fb:
            for key in ("actions", "source", "policy_actions", "obs/joint_pos"):
                np.testing.assert_array_equal(fa["data/demo_0"][key][()], fb["data/demo_0"][key][()])


def test_loop_refuses_to_mix_settings_into_an_existing_run(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text(json.dumps({"task": "detour"}))
    result = loop(run)
    assert result.returncode == 2
    assert "holds a run with other settings" in result.stderr and "Traceback" not in result.stderr


def test_loop_rejects_unknown_settings_clearly(tmp_path):
    result = subprocess.run([sys.executable, "-m", "hgdagger.cli.loop", "--out", str(tmp_path / "r"), "--set", "epochs=3"],
                            cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and "unknown loop settings ['epochs']" in result.stderr


@pytest.mark.slow
def test_loop_runs_a_plugged_in_gymnasium_environment(tmp_path):
    """Not our arm: a point-reaching gymnasium task with a plain-function expert, through the same
    runtime, gate, supervisor, recorder, server and training."""
    run = tmp_path / "point"
    args = [sys.executable, "-m", "hgdagger.cli.loop", "--out", str(run), "--quiet", "--plugin", "examples.point_reach",
            "--set", "task=point_reach", "--set", 'relative_to=""', "--set", "demos=4", "--set", "rounds=1",
            "--set", "rollouts_per_round=2", "--set", "eval_episodes=4", "--set", "train_steps=60",
            "--set", "finetune_steps=30", "--set", "batch_size=64",
            # The configured supervisor: calibrated (on the expert, on the round-0 policy, which wins
            # this easy task half the time after 60 steps) it may rightly leave both rollouts alone;
            # here it must act.
            "--set", 'supervisor={"policy_calibration_episodes": 0, "calibration_quantile": 0}']
    result = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    with h5py.File(sorted((run / "round_0" / "data").glob("ep_*.hdf5"))[0]) as f:
        demo = f["data/demo_0"]
        assert set(demo["obs"]) == {"pos", "goal"} and demo["actions"].shape[1] == 2
        assert demo.attrs["success"]  # the expert's demonstration reached its goal through the runtime
    took_over = []
    for path in sorted((run / "round_1" / "data").glob("ep_*.hdf5")):
        with h5py.File(path) as f:
            took_over.append(bool((f["data/demo_0/source"][()] == 1).any()))
    assert any(took_over), took_over  # the supervisor took over a barely trained policy
    assert json.loads((run / "report.json").read_text())[1]["labels_so_far"] > 0

    wrong = subprocess.run(args[:3] + ["--out", str(tmp_path / "wrong"), "--plugin", "examples.point_reach", "--set", "task=point_reach"], cwd=ROOT,
                           capture_output=True, text=True, timeout=120)
    assert wrong.returncode == 2 and "no observation 'joint_pos'" in wrong.stderr and "Traceback" not in wrong.stderr


# The loop's defaults (reach; `make demo` ran them until issue 21), over three seeds with 50 evaluation episodes each
# (`hgd-bench-dagger --task reach`, README): round 0 -> round 3 was 0.42 -> 0.88, 0.30 -> 0.90 and
# 0.48 -> 0.82, gains of +0.46, +0.60 and +0.34 (mean 0.47, sd 0.13). On another machine floating
# point can send the same seed down another path, so treat its gain as a fresh draw: a margin of 0.15
# is 2.5 sd below the mean gain (about a 1% chance of a false alarm) and still far above zero.
IMPROVEMENT_MARGIN = 0.15


@pytest.mark.slow
def test_the_default_loop_improves_the_policy(tmp_path):
    run = tmp_path / "demo"
    result = subprocess.run([sys.executable, "-m", "hgdagger.cli.loop", "--out", str(run), "--quiet"], cwd=ROOT,
                            capture_output=True, text=True, timeout=1800)
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads((run / "report.json").read_text())
    first, last = report[0], report[-1]
    assert last["success_rate"] >= first["success_rate"] + IMPROVEMENT_MARGIN, [r["success_rate"] for r in report]
    assert all(r["interventions_per_episode"] > 0 for r in report[1:])  # the supervisor did take over
    labels = [r["labels_so_far"] for r in report]
    assert labels == sorted(labels) and labels[-1] > labels[0]
