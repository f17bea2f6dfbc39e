"""LeRobot's own loader on our export: run by ``make lerobot-check`` in LeRobot's environment (.venv-lerobot).

Records a small run through the real recorder (two cameras, demonstrations and rollouts with
takeovers, a discarded attempt), exports it with ``hgd-export --format lerobot``, loads the folder
with ``lerobot.datasets.lerobot_dataset.LeRobotDataset(repo_id, root=...)`` offline, with each video
backend that loads here, and checks every frame against the HDF5 originals: actions and state equal
(as float32), camera frames within codec tolerance (PSNR) and each the right step's, episode
boundaries, our extra features, tasks, stats, and LeRobot's own action chunks padded at episode
ends. Then the other way: a dataset written by LeRobot itself (an SO-101-like lab dataset) is read
by our v3 reader and trained on for a few steps through ``hgd-train --data``. Not collected by pytest (it needs lerobot, which the project's environment does not have).
Exit 0 when everything holds; prints what it measured.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # nothing is fetched: the dataset is local
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from lerobot_runs import CAMERAS, EPISODES, KEPT, psnr, record_run  # noqa: E402

MIN_PSNR = 30.0
HORIZON = 5


def backends() -> list[str]:
    """The video backends LeRobot can use here: pyav always, torchcodec when its FFmpeg libraries load."""
    out = ["pyav"]
    try:
        from torchcodec.decoders import VideoDecoder  # noqa: F401

        out.append("torchcodec")
    except Exception as e:  # noqa: BLE001 - torchcodec needs a system FFmpeg; say why it is skipped
        print(f"torchcodec skipped: {type(e).__name__}: {str(e).splitlines()[0][:120]}")
    return out


def main() -> int:
    import lerobot
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    from hgdagger.cli.export import main as export
    from recorder.dataset import read_file

    with tempfile.TemporaryDirectory(prefix="lerobot_check_") as tmp:
        return check(Path(tmp), lerobot, LeRobotDataset, export, read_file)


def check(work: Path, lerobot, LeRobotDataset, export, read_file) -> int:  # noqa: N803 - LeRobot's class, passed in
    """Everything above, in the folder `work`."""
    run = record_run(work / "run")
    t = time.perf_counter()
    assert export([str(run), "--format", "lerobot", "--out", str(work / "v3")]) == 0
    print(f"exported in {time.perf_counter() - t:.2f} s: {work / 'v3'}")
    files = sorted(run.glob("round_*/data/ep_*.hdf5"))
    want = [read_file(files[i])[0] for i in KEPT]
    bounds = np.cumsum([0] + [len(w.actions) for w in want])
    problems: list[str] = []
    for backend in backends():
        t = time.perf_counter()
        ds = LeRobotDataset(repo_id="local/hgdagger_check", root=work / "v3", video_backend=backend)
        fps = ds.fps
        if ds.num_episodes != len(want) or len(ds) != bounds[-1]:
            problems.append(f"{backend}: {ds.num_episodes} episodes / {len(ds)} frames, want {len(want)} / {bounds[-1]}")
        for e, w in enumerate(want):
            row = ds.meta.episodes[e]
            if (row["dataset_from_index"], row["dataset_to_index"]) != (bounds[e], bounds[e + 1]):
                problems.append(f"episode {e}: rows {row['dataset_from_index']}..{row['dataset_to_index']}, want {bounds[e]}..{bounds[e + 1]}")
        worst, shifted_best, n = float("inf"), 0.0, 0
        for e, w in enumerate(want):
            state = np.concatenate([w.obs[k].astype(np.float32).reshape(len(w.actions), -1)
                                    for k in ("ee_pos", "gripper_pos", "joint_pos")], 1)
            for i in range(len(w.actions)):
                item = ds[int(bounds[e] + i)]
                n += 1
                if int(item["episode_index"]) != e or int(item["frame_index"]) != i:
                    problems.append(f"row {bounds[e] + i}: episode {int(item['episode_index'])} frame {int(item['frame_index'])}")
                if not np.array_equal(item["action"].numpy(), w.actions[i].astype(np.float32)):
                    problems.append(f"episode {e} frame {i}: action differs")
                if not np.array_equal(item["observation.state"].numpy(), state[i]):
                    problems.append(f"episode {e} frame {i}: observation.state differs")
                if (int(item["source"]) != int(w.source[i]) or bool(item["intervention"]) != bool(w.intervention[i])
                        or item["label"] != w.attrs["label"] or item["task"] != "reach the cube"):
                    problems.append(f"episode {e} frame {i}: source/intervention/label/task differ")
                for cam in CAMERAS:
                    img = (item[f"observation.images.{cam}"].numpy().transpose(1, 2, 0) * 255).round().astype(np.uint8)
                    orig = w.obs[f"{cam}_rgb"]
                    worst = min(worst, psnr(img, orig[i]))
                    for j in (i - 1, i + 1):
                        if 0 <= j < len(orig):
                            shifted_best = max(shifted_best, psnr(img, orig[j]))
        if worst < MIN_PSNR or shifted_best > worst - 5:
            problems.append(f"{backend}: frames at {worst:.1f} dB (neighbours up to {shifted_best:.1f} dB)")
        print(f"lerobot {lerobot.__version__}, backend {backend}: {n} frames of {len(want)} episodes at {fps} fps in "
              f"{time.perf_counter() - t:.1f} s; frames >= {worst:.1f} dB PSNR against the HDF5 originals "
              f"(a neighbour's step <= {shifted_best:.1f} dB); actions, state, source, intervention, label checked")
    chunked = LeRobotDataset(repo_id="local/hgdagger_check", root=work / "v3", video_backend="pyav",
                             delta_timestamps={"action": [k / fps for k in range(HORIZON)]})
    for e, w in enumerate(want):
        last = int(bounds[e + 1] - 2)  # two steps before the end: the chunk runs HORIZON - 2 steps past it
        item = chunked[last]
        pad = item["action_is_pad"].numpy()
        if pad.tolist() != [False, False] + [True] * (HORIZON - 2):
            problems.append(f"episode {e}: LeRobot's chunk padding at the end is {pad.tolist()}")
        if not np.array_equal(item["action"].numpy()[:2], w.actions[-2:].astype(np.float32)):
            problems.append(f"episode {e}: LeRobot's last chunk is not the recorded last actions")
    stats = chunked.meta.stats
    if tuple(stats[f"observation.images.{CAMERAS[0]}"]["mean"].shape) != (3, 1, 1) or stats["action"]["mean"].shape != (8,):
        problems.append("stats have the wrong shapes")
    info = json.loads((work / "v3" / "meta" / "info.json").read_text())
    print(f"episode boundaries {bounds.tolist()} as meta/episodes says; chunks of {HORIZON} padded at each end; "
          f"left out by the label rule: {len(EPISODES) - len(KEPT)} discarded; codec {info['features']['observation.images.front']['info']['video.codec']}")
    problems += lerobot_written(work)
    if problems:
        print(f"FAILED: {len(problems)} problems", *problems[:20], sep="\n  ")
        return 1
    print("OK: LeRobot's LeRobotDataset reads hgd-export --format lerobot as recorded, and a dataset LeRobot "
          "wrote is read and trained on here")
    return 0


JOINTS = ["shoulder_pan", "shoulder_lift", "elbow_flex", "wrist_flex", "wrist_roll", "gripper"]


def lerobot_written(work: Path) -> list[str]:
    """A lab's dataset as LeRobot writes it -> our reader (values, frames, bounds) -> hgd-train --data."""
    import subprocess

    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    from lerobot_runs import camera_frame
    from recorder.lerobot.reader import read_dataset

    names = [f"{j}.pos" for j in JOINTS]
    feats = {"observation.state": {"dtype": "float32", "shape": (6,), "names": names},
             "action": {"dtype": "float32", "shape": (6,), "names": names},
             "observation.images.front": {"dtype": "video", "shape": (48, 64, 3), "names": ["height", "width", "channels"]}}
    root = work / "lab_so101"
    ds = LeRobotDataset.create(repo_id="lab/so101_pick", fps=30, features=feats, root=root, robot_type="so101_follower")
    rng = np.random.default_rng(7)
    written = []
    for e, steps in enumerate((20, 13, 17)):
        ep = {"state": rng.normal(size=(steps, 6)).astype(np.float32), "action": rng.normal(size=(steps, 6)).astype(np.float32),
              "front": np.stack([camera_frame(t + 30 * e, 0, rng) for t in range(steps)])}
        for t in range(steps):
            ds.add_frame({"observation.state": ep["state"][t], "action": ep["action"][t],
                          "observation.images.front": ep["front"][t], "task": "pick the cube"})
        ds.save_episode()
        written.append(ep)
    ds.finalize()
    problems = []
    back = read_dataset(root)
    worst = float("inf")
    if [len(b.actions) for b in back] != [len(w["action"]) for w in written]:
        problems.append(f"LeRobot-written: episode lengths {[len(b.actions) for b in back]}")
    for b, w in zip(back, written):
        if not (np.array_equal(b.actions, w["action"]) and np.array_equal(b.obs["state"], w["state"])):
            problems.append(f"LeRobot-written {b.name}: actions or state differ")
        if b.attrs.get("task") != "pick the cube" or b.attrs.get("kind") != "demo":
            problems.append(f"LeRobot-written {b.name}: attrs {b.attrs}")
        worst = min([worst] + [psnr(x, y) for x, y in zip(b.obs["front_rgb"], w["front"])])
    if worst < MIN_PSNR:
        problems.append(f"LeRobot-written: frames at {worst:.1f} dB")
    # the same frames stored as images in the parquet (use_videos=False): PNG, so they come back exactly
    feats["observation.images.front"]["dtype"] = "image"
    pngs = LeRobotDataset.create(repo_id="lab/so101_png", fps=30, features=feats, root=work / "lab_png", use_videos=False)
    for t in range(len(written[0]["action"])):
        pngs.add_frame({"observation.state": written[0]["state"][t], "action": written[0]["action"][t],
                        "observation.images.front": written[0]["front"][t], "task": "pick the cube"})
    pngs.save_episode()
    pngs.finalize()
    png_back = read_dataset(work / "lab_png")[0]
    if not np.array_equal(png_back.obs["front_rgb"], written[0]["front"]):
        problems.append("LeRobot-written with image features: frames differ")
    out = subprocess.run([sys.executable, "-m", "hgdagger.cli.train", "--data", str(root), "--out", str(work / "ck"),
                          "--steps", "3", "--horizon", "4", "--no-progress", "--threads", "1",
                          "--set", "batch_size=16", "val_every=2", "ckpt_every=2", "warmup_steps=1"],
                         capture_output=True, text=True, timeout=600)
    said = [line for line in out.stdout.splitlines() if "episodes from" in line or "done at step" in line]
    if out.returncode != 0 or not (work / "ck" / "last.pt").exists():
        problems.append(f"hgd-train --data on the LeRobot-written dataset: exit {out.returncode}: {out.stderr.strip()[-500:]}")
    print(f"LeRobot-written dataset (3 episodes, {sum(len(w['action']) for w in written)} frames, 30 fps): our reader "
          f"gives actions and state equal, frames >= {worst:.1f} dB (as PNG images: equal); hgd-train --data: " + " / ".join(said))
    return problems


if __name__ == "__main__":
    sys.exit(main())
