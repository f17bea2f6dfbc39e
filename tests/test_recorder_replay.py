"""hgd-replay: recorded frames to a strip; recorded sim actions replayed faithfully in the real sim."""

from __future__ import annotations

import json
import time

import cv2
import numpy as np
import pytest

from hgdagger.common import wire
from recorder.recording_session import RecordingSession
from recorder.synthetic_episodes import episode_messages
from hgdagger.cli import replay as replay_cli


def test_replay_of_recorded_frames_writes_a_strip(tmp_path, capsys):
    s = RecordingSession(tmp_path / "round_0" / "data")
    for m in episode_messages(12, cameras=("front", "wrist"), image_size=(32, 40)):
        s.handle(m)
    s.close()
    f = tmp_path / "round_0" / "data" / "ep_0000.hdf5"
    assert replay_cli.main([str(f), "--camera", "wrist", "--strip-frames", "4", "--out", str(tmp_path / "look")]) == 0
    img = cv2.imread(str(tmp_path / "look.png"))
    assert img.shape == (32, 4 * 40, 3)
    assert "frames: 12 frames at 50 Hz" in capsys.readouterr().out
    assert replay_cli.main([str(f), "--camera", "side"]) == 2


def test_replay_of_a_file_that_is_not_hdf5_fails_clearly(tmp_path, capsys):
    bad = tmp_path / "x.hdf5"
    bad.write_text("nope")
    assert replay_cli.main([str(bad)]) == 2
    assert "cannot read" in capsys.readouterr().err


@pytest.mark.slow
def test_sim_replay_of_a_recorded_sim_episode_reproduces_its_joints(tmp_path, capsys):
    import sim
    env = sim.make_env("reach")
    expert = sim.make_expert("reach", control_hz=env.control_hz)
    obs, _ = env.reset(seed=7)
    expert.reset(7)
    s = RecordingSession(tmp_path / "round_0" / "data")
    start = wire.EpisodeStart(task="reach", kind="demo", env_args=json.dumps({"env_name": "reach", "seed": 7}),
                              started_at=time.time())
    s.handle(start)
    nan = np.full(8, np.nan)
    for t in range(25):
        a = expert.act(obs)
        s.handle(wire.StepRecord(step=t, observation={k: np.asarray(v) for k, v in obs.items()}, action=a,
                                 policy_action=nan, human_action=a, source=1, intervention=False,
                                 timestamp=t / env.control_hz))
        obs, _, term, trunc, _ = env.step(a)
        if term or trunc:
            break
    env.close()
    s.handle(wire.EpisodeEnd(outcome="success", success=True, num_steps=25))
    s.close()
    f = tmp_path / "round_0" / "data" / "ep_0000.hdf5"
    assert replay_cli.main([str(f), "--mode", "sim", "--size", "96x128", "--no-video"]) == 0
    out = capsys.readouterr().out
    err = float(out.split("largest joint difference replay vs recorded: ")[1].split()[0])
    assert err < 1e-6, out
    assert (tmp_path / "round_0" / "data" / "ep_0000_replay.png").exists()
