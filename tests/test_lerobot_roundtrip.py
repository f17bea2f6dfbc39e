"""LeRobotDataset v3.0 out and back in: a run recorded through the real recorder, exported with
``hgd-export --format lerobot``, read by our v3 reader and trained on by ``hgd-train --data FOLDER``.
(LeRobot's own loader reads the same export in tests_lerobot/check_lerobot_load.py, in its own
environment: ``make lerobot-check``.)"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("pyarrow")
pytest.importorskip("av")

from lerobot_runs import CAMERAS, EPISODES, KEPT, psnr, record_run  # noqa: E402

from hgdagger.cli import export as export_cli  # noqa: E402
from recorder.dataset import read_file  # noqa: E402
from recorder.lerobot import layout as L  # noqa: E402
from recorder.lerobot.reader import read_dataset  # noqa: E402

FPS = 50  # the synthetic runtime's period is 0.02 s
MIN_PSNR = 30.0  # AV1 at the default crf keeps ~33 dB on these frames (yuv420p caps it near 34)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    root = tmp_path_factory.mktemp("lerobot")
    run = record_run(root / "run")
    assert export_cli.main([str(run), "--format", "lerobot", "--out", str(root / "v3")]) == 0
    return run, root / "v3"


def originals(run):
    """The kept episodes as recorded, in export order (round, then file)."""
    files = sorted(run.glob("round_*/data/ep_*.hdf5"))
    assert len(files) == len(EPISODES)
    return [read_file(files[i])[0] for i in KEPT]


def test_export_writes_the_v3_layout_lerobot_reads(exported):
    _, v3 = exported
    info = json.loads((v3 / L.INFO).read_text())
    assert info["codebase_version"] == "v3.0" and info["fps"] == FPS
    lengths = [EPISODES[i][1] for i in KEPT]
    assert info["total_episodes"] == len(KEPT) and info["total_frames"] == sum(lengths) and info["total_tasks"] == 1
    f = info["features"]
    assert f["action"] == {"dtype": "float32", "shape": [8], "names": [f"action.{i}" for i in range(8)]}
    assert f["observation.state"]["shape"] == [11] and f["observation.state"]["names"][:2] == ["ee_pos.0", "ee_pos.1"]
    for cam in CAMERAS:
        v = f[f"observation.images.{cam}"]
        assert v["dtype"] == "video" and v["shape"] == [48, 64, 3] and v["info"]["video.codec"] == "av1"
        assert (v3 / f"videos/observation.images.{cam}/chunk-000/file-000.mp4").stat().st_size > 0
    for key in ("timestamp", "frame_index", "episode_index", "index", "task_index", "source", "intervention", "label"):
        assert key in f, key
    assert (v3 / "data/chunk-000/file-000.parquet").exists() and (v3 / "meta/tasks.parquet").exists()
    assert (v3 / "meta/episodes/chunk-000/file-000.parquet").exists()
    stats = json.loads((v3 / L.STATS).read_text())
    assert np.array(stats["observation.images.front"]["mean"]).shape == (3, 1, 1)
    assert len(stats["action"]["q99"]) == 8 and stats["index"]["max"] == [sum(lengths) - 1]


def test_round_trip_keeps_actions_exactly_frames_within_video_tolerance_and_episode_bounds(exported):
    run, v3 = exported
    back = read_dataset(v3)
    want = originals(run)
    assert [len(b.actions) for b in back] == [len(w.actions) for w in want]
    for b, w in zip(back, want):
        assert np.array_equal(b.actions, w.actions.astype(np.float32))  # float32 in LeRobot, bit for bit
        for key in ("joint_pos", "ee_pos", "gripper_pos"):
            assert np.array_equal(b.obs[key], w.obs[key]), key
        assert np.array_equal(b.source, w.source) and np.array_equal(b.intervention, w.intervention)
        assert b.attrs["label"] == w.attrs["label"] and b.attrs["kind"] == w.attrs["kind"]
        assert b.attrs["task"] == "reach the cube" and b.attrs["episode_id"] == w.attrs["episode_id"]
        assert np.allclose(b.timestamps, np.arange(len(b.actions)) / FPS)
        for cam in CAMERAS:
            got, orig = b.obs[f"{cam}_rgb"], w.obs[f"{cam}_rgb"]
            assert got.shape == orig.shape and got.dtype == np.uint8
            same = [psnr(got[t], orig[t]) for t in range(len(got))]
            assert min(same) >= MIN_PSNR, (cam, min(same))
            # each frame is its own step's, not a neighbour's (episode starts and ends included)
            shifted = [psnr(got[t], orig[t + 1]) for t in range(len(got) - 1)]
            assert max(shifted) < min(same) - 5, (cam, max(shifted), min(same))


def test_the_discarded_attempt_is_left_out_unless_included(exported, tmp_path):
    run, v3 = exported
    assert [b.attrs["label"] for b in read_dataset(v3)] == [EPISODES[i][3] for i in KEPT]
    assert export_cli.main([str(run), "--format", "lerobot", "--include", "discard", "--out", str(tmp_path / "all")]) == 0
    assert [b.attrs["label"] for b in read_dataset(tmp_path / "all")] == [e[3] for e in EPISODES]


def test_files_roll_over_and_episodes_keep_their_bounds_across_files(exported, tmp_path):
    from recorder.lerobot.tables import read_episodes
    from recorder.lerobot.writer import ExportSettings, export
    from recorder.run import open_run

    run, v3 = exported
    eps = open_run(run).select(include=())
    summary = export(eps, tmp_path / "small", ExportSettings(data_file_mb=1e-6, video_file_mb=1e-6), progress=False)
    assert summary["data_files"] == len(KEPT)
    # (an encoder holds frames back, so a video file's size lags its frames: it rolls over later)
    assert all(2 <= n <= len(KEPT) for n in summary["video_files"].values()), summary
    rows = read_episodes(tmp_path / "small")
    assert [r["data/file_index"] for r in rows] == list(range(len(KEPT)))
    for cam in CAMERAS:
        key = f"videos/observation.images.{cam}"
        for prev, row in zip([None, *rows], rows):
            same_file = prev is not None and prev[f"{key}/file_index"] == row[f"{key}/file_index"]
            assert row[f"{key}/from_timestamp"] == (prev[f"{key}/to_timestamp"] if same_file else 0.0)
            assert row[f"{key}/to_timestamp"] - row[f"{key}/from_timestamp"] == pytest.approx(row["length"] / FPS)
    for a, b in zip(read_dataset(tmp_path / "small"), read_dataset(v3)):  # (encoded anew: equal up to the codec)
        assert np.array_equal(a.actions, b.actions) and len(a.obs["front_rgb"]) == len(b.obs["front_rgb"])
        assert min(psnr(x, y) for x, y in zip(a.obs["front_rgb"], b.obs["front_rgb"])) >= MIN_PSNR


def test_hgd_train_trains_from_a_v3_folder_alone_and_beside_episode_files(exported, tmp_path):
    run, v3 = exported
    tiny = ["model.net.hidden=32", "model.net.depth=1", "model.net.cond_dim=16", "model.net.obs_hidden=32",
            "model.net.time_dim=16", "batch_size=16", "val_every=2", "ckpt_every=2", "warmup_steps=1"]
    from hgdagger.cli import train as train_cli

    out = tmp_path / "ck"
    assert train_cli.main(["--data", str(v3), "--out", str(out), "--steps", "3", "--horizon", "4", "--no-progress",
                           "--threads", "1", "--set", *tiny]) == 0
    from policy_server.checkpoint import load_checkpoint

    ck = load_checkpoint(out / "last.pt")
    assert ck["data_files"] == [str(v3)] and ck["step"] == 3
    assert train_cli.main(["--data", str(v3), str(run), "--out", str(tmp_path / "both"), "--steps", "2", "--horizon",
                           "4", "--no-progress", "--threads", "1", "--set", *tiny]) == 0
    files = load_checkpoint(tmp_path / "both" / "last.pt")["data_files"]
    assert str(v3) in files and len(files) == 1 + len(KEPT)  # the dataset and the kept episode files


def _other(v3, tmp_path, change) -> str:
    """A copy of the export whose info.json says something else (another robot, another version)."""
    other = tmp_path / "other"
    shutil.copytree(v3, other)
    info = json.loads((other / L.INFO).read_text())
    change(info)
    (other / L.INFO).write_text(json.dumps(info))
    return str(other)


def _so101(info):
    names = ["shoulder_pan.pos", "shoulder_lift.pos", "elbow_flex.pos", "wrist_flex.pos", "wrist_roll.pos", "gripper.pos"]
    info["features"]["action"] = {"dtype": "float32", "shape": [6], "names": names}
    info["features"]["observation.state"] = {"dtype": "float32", "shape": [6], "names": names}


@pytest.mark.parametrize("change, says", [
    (lambda i: i.update(codebase_version="v2.1"), "is format v2.1; this reads v3.0 only (convert it with LeRobot's"),
    (_so101, "does not fit"),
])
def test_a_dataset_of_another_version_or_robot_is_one_line(exported, tmp_path, change, says, capsys):
    from hgdagger.cli import train as train_cli

    run, v3 = exported
    other = _other(v3, tmp_path, change)
    cases = ([other], [str(v3), other], [str(run), other]) if change is not _so101 else ([str(v3), other], [str(run), other])
    for data in cases:  # (alone, another robot's dataset is fine to train on)
        code = train_cli.main(["--data", *data, "--out", str(tmp_path / "ck"), "--steps", "1", "--threads", "1"])
        err = capsys.readouterr().err.strip().splitlines()
        assert code == 2 and len(err) == 1 and says in err[0] and other in err[0], err
    if change is _so101:
        assert "action has 6 entries" in err[0] and "lacks observations ['ee_pos', 'gripper_pos', 'joint_pos']" in err[0]


def test_export_mistakes_are_one_line(exported, tmp_path, capsys):
    run, _ = exported
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "keep.txt").write_text("mine")
    assert export_cli.main([str(run), "--format", "lerobot", "--out", str(tmp_path / "notes"), "--overwrite"]) == 2
    assert "is not a LeRobot dataset: not replacing it" in capsys.readouterr().err
    assert (tmp_path / "notes" / "keep.txt").exists()


def test_export_without_the_lerobot_extra_names_it(exported, tmp_path):
    run, _ = exported
    code = ("import sys\nclass Block:\n    def find_spec(self, name, path=None, target=None):\n"
            "        if name.split('.')[0] in ('pyarrow', 'av'):\n"
            "            raise ModuleNotFoundError(f'No module named {name!r}', name=name)\n"
            "sys.meta_path.insert(0, Block())\nfrom hgdagger.cli.export import main\n"
            f"sys.exit(main([{str(run)!r}, '--format', 'lerobot', '--out', {str(tmp_path / 'v')!r}]))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 2 and "Traceback" not in out.stderr, out.stderr[-2000:]
    assert "pip install 'hgdagger-stack[lerobot]'" in out.stderr


def test_a_run_without_cameras_exports_and_reads_back(tmp_path):
    from recorded_runs import record_run as record_plain

    run = record_plain(tmp_path / "run")
    assert export_cli.main([str(run), "--format", "lerobot", "--out", str(tmp_path / "v3")]) == 0
    info = json.loads((tmp_path / "v3" / L.INFO).read_text())
    assert info["video_path"] is None and not any(f["dtype"] == "video" for f in info["features"].values())
    back = read_dataset(tmp_path / "v3")
    kept = [read_file(p)[0] for p in sorted(run.glob("round_*/data/ep_*.hdf5"))]
    kept = [e for e in kept if e.attrs["label"] == "success" or e.attrs["kind"] == "rollout" and e.attrs["label"] != "discard"]
    assert [len(b.actions) for b in back] == [len(e.actions) for e in kept]
    assert all(np.array_equal(b.actions, e.actions.astype(np.float32)) for b, e in zip(back, kept))


def test_a_run_seeded_with_a_v3_folder_trains_round_0_on_it_and_every_later_round_too(exported, tmp_path):
    """A lab's existing demonstrations seed the first policy of a run (hgd-train --run --seed-data),
    and later rounds aggregate them with what the run recorded."""
    from hgdagger.cli import train as train_cli
    from policy_server.checkpoint import load_checkpoint
    from recorder import run_folder

    run, v3 = exported
    lab = tmp_path / "lab"
    tiny = ["model.net.hidden=32", "model.net.depth=1", "model.net.cond_dim=16", "model.net.obs_hidden=32",
            "model.net.time_dim=16", "batch_size=16", "val_every=2", "ckpt_every=2", "warmup_steps=1"]
    assert train_cli.main(["--run", str(lab), "--seed-data", str(v3), "--steps", "2", "--horizon", "4", "--relative-to",
                           "none", "--no-progress", "--threads", "1", "--set", *tiny]) == 0
    assert load_checkpoint(run_folder.checkpoint_path(lab, 0))["data_files"] == [str(v3.resolve())]
    shutil.copytree(run / "round_1", lab / "round_1")  # the run's own rollouts of round 1
    files = run_folder.training_files(lab, 1)
    assert files[0] == v3.resolve() and len(files) == 1 + len(list((run / "round_1" / "data").glob("*.hdf5")))
    (tmp_path / "empty").mkdir()
    assert train_cli.main(["--run", str(lab), "--seed-data", str(tmp_path / "empty")]) == 2  # nothing to train on there
    assert run_folder.seed_datasets(lab) == [v3.resolve()]
