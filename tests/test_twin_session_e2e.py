"""A whole real-arm session with no hardware, every part its own process over real sockets and ptys:
a simulated leader arm (an emulated Dynamixel leader read by the real leader driver) puppeteers the
Koch twin (the real follower driver over the twin's pty) to collect demonstrations; train; serve;
``hgd-run --robot koch_twin`` rolls the policy out while a keyboard takes over and hands back; a
leader arm takes over another rollout; every step is recorded; a demonstration replays on the twin;
retrain on both rounds."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

from hgdagger.common.types import Source
from recorder.image_storage import read_frames
from operator_helpers import Operator, Session

ROOT = Path(__file__).resolve().parents[1]
OBS = ["cube_pos", "gripper_pos", "joint_pos"]


def hgd(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    out = subprocess.run([sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    assert out.returncode == 0, f"{args[0]} failed:\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}"
    return out


class Background:
    """A long-running process (recorder, server) that is waited for, then stopped like a person would."""

    def __init__(self, *args: str, ready: str, log: Path):
        self.log = log
        self.proc = subprocess.Popen([sys.executable, "-m", *args], cwd=ROOT, stdout=open(log, "w"), stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 120
        while ready not in log.read_text():
            assert self.proc.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGINT)
        self.proc.wait(timeout=30)


def episodes(folder: Path) -> list[dict]:
    out = []
    for path in sorted(folder.glob("ep_*.hdf5")):
        with h5py.File(path) as f:
            demo = f["data/demo_0"]
            out.append({"kind": demo.attrs["kind"], "label": demo.attrs["label"], "source": demo["source"][()],
                        "intervention": demo["intervention"][()], "obs": set(demo["obs"]),
                        "frames": read_frames(demo["obs/front_rgb"], slice(0, 1)).shape if "front_rgb" in demo["obs"] else None,
                        "joints": demo["obs/joint_pos"][()]})
    return out


@pytest.mark.slow
def test_a_real_arm_session_on_the_koch_twin_from_demonstrations_to_retraining(tmp_path):
    run, ep = tmp_path / "run", lambda name: f"ipc://{tmp_path}/{name}"
    started = time.monotonic()

    # Round 0: demonstrations by a simulated leader arm through both serial protocols.
    recorder = Background("hgdagger.cli.record", "--out", str(run / "round_0/data"), "--endpoint", ep("rec0"),
                          "--flush", "0.2", "-v", ready="listening", log=tmp_path / "rec0.log")
    demos = hgd("hgdagger.cli.rehearse", "--robot", "koch_twin", "--episodes", "5", "--record-to", ep("rec0"),
                "--intent-endpoint", ep("intent0"))
    recorder.stop()
    assert demos.stdout.count(": success;") == 5, demos.stdout
    round0 = episodes(run / "round_0/data")
    assert len(round0) == 5 and all(e["kind"] == "demo" and e["label"] == "success" for e in round0)
    assert all({"joint_pos", "joint_vel", "gripper_pos", "cube_pos", "front_rgb", "wrist_rgb"} <= e["obs"] for e in round0)
    assert all(e["frames"][1:] == (96, 128, 3) for e in round0)
    assert all((e["source"] == Source.HUMAN).sum() > 20 for e in round0)  # the leader drove them

    replay = hgd("hgdagger.cli.replay", str(run / "round_0/data/ep_0000.hdf5"), "--robot", "koch_twin", "--no-video",
                 "--out", str(tmp_path / "replay"))  # a demonstration played back on the twin follows its recording
    gap = float(replay.stdout.split("largest joint difference replay vs recorded: ")[1].split()[0])
    assert gap < 0.05 and (tmp_path / "replay.png").exists(), replay.stdout

    hgd("hgdagger.cli.train", "--run", str(run), "--round", "0", "--steps", "300", "--obs-keys", *OBS, "--no-progress")
    checkpoint = run / "round_0/checkpoints/last.pt"
    assert checkpoint.exists()

    # Round 1: the policy rolls out on the twin; a keyboard takes over, then a leader arm does.
    server = Background("hgdagger.cli.serve", "--checkpoint", str(checkpoint), "--endpoint", ep("srv"),
                        ready="serving", log=tmp_path / "serve.log")
    recorder = Background("hgdagger.cli.record", "--out", str(run / "round_1/data"), "--endpoint", ep("rec1"),
                          "--flush", "0.2", "-v", ready="listening", log=tmp_path / "rec1.log")
    try:
        rollout = Session("hgdagger.cli.run_robot", "--robot", "koch_twin", "--server", ep("srv"),
                          "--takeover", "devices", "--intent-endpoint", ep("intent1"), "--record-to", ep("rec1"),
                          "--episodes", "2", "--max-steps", "80", "--no-realtime")
        keyboard = Operator(ep("intent1"))
        try:  # episode 1: start, take over, drive forward, hand back, label; episode 2: start, watch, label
            for label, take in (("success", True), ("failure", False)):
                rollout.expect("press n / X to start episode")
                keyboard.press("start")
                if take:
                    time.sleep(0.4)
                    keyboard.press("takeover")
                    keyboard.twist = np.array([0.5, 0, 0, 0, np.nan])
                    time.sleep(1.0)
                    keyboard.twist = np.array([0, 0, 0, 0, np.nan])
                    keyboard.press("takeover")
                rollout.expect("episode over")  # the time limit: the supervisor labels the attempt
                keyboard.press(label)
            said = rollout.finish(timeout=120)
        finally:
            keyboard.close()
        assert rollout.proc.returncode == 0, said
        assert "1 takeovers" in said and said.count("saved ") == 2, said
        supervised = hgd("hgdagger.cli.rehearse", "--robot", "koch_twin", "--server", ep("srv"), "--takeover-at", "1.0",
                         "--episodes", "2", "--record-to", ep("rec1"), "--intent-endpoint", ep("intent2"))
        assert supervised.stdout.count("policy steps") == 2, supervised.stdout
    finally:
        recorder.stop()
        server.stop()
    round1 = episodes(run / "round_1/data")
    assert len(round1) == 4 and all(e["kind"] == "rollout" for e in round1)
    assert [e["label"] for e in round1[:2]] == ["success", "failure"]  # the supervisor's labels, as given
    by_keyboard, by_leader = round1[:2], round1[2:]
    sources = np.concatenate([e["source"] for e in round1])
    assert {Source.POLICY, Source.HUMAN} <= set(sources.tolist())
    taken = by_keyboard[0]
    assert taken["intervention"].any() and (taken["source"][taken["intervention"]] == Source.HUMAN).mean() > 0.5
    assert not taken["intervention"][-5:].any()  # handed back: the policy finished the episode
    assert all(e["intervention"].any() and e["label"] == "success" for e in by_leader)  # the leader's hands finished them
    assert all(np.isfinite(e["joints"]).all() and e["frames"] is not None for e in round1)

    # Retrain on both rounds (HG-DAgger weighting: demonstrations and human-driven steps).
    out = hgd("hgdagger.cli.train", "--run", str(run), "--round", "1", "--steps", "200", "--weighting", "hg-dagger",
              "--obs-keys", *OBS, "--no-progress")
    assert "9 episodes from 9 files" in out.stdout, out.stdout
    assert (run / "round_1/checkpoints/last.pt").exists()
    print(f"twin session end to end: {time.monotonic() - started:.0f} s")
