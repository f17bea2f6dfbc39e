"""The sim's command-line tools, run as a user runs them."""

import json
import os
import subprocess
import sys

import cv2


def run(*args, env_extra=None):
    env = {**os.environ, **(env_extra or {})}
    return subprocess.run([sys.executable, "-m", *args], capture_output=True, text=True, env=env, timeout=300)


def test_expert_command_writes_a_playable_video_a_strip_and_a_summary(tmp_path):
    result = run("hgdagger.cli.expert_video", "--task", "reach", "--episodes", "2", "--size", "120x160", "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert "2/2 episodes succeeded" in result.stdout
    video = cv2.VideoCapture(str(tmp_path / "reach_seed0.mp4"))
    frames = int(video.get(cv2.CAP_PROP_FRAME_COUNT))
    ok, frame = video.read()
    assert ok and frame.shape == (120, 160, 3) and frames > 10
    strip = cv2.imread(str(tmp_path / "reach_strip.png"))
    assert strip.shape == (2 * 120, 6 * 160, 3)
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert [e["seed"] for e in summary["episodes"]] == [0, 1]


def test_expert_command_rejects_bad_input_without_a_traceback(tmp_path):
    for args, message in [
        (["--task", "juggle"], "unknown task 'juggle'"),
        (["--episodes", "0"], "argument --episodes: must be >= 1"),
        (["--size", "2000x10"], "--size must be HEIGHTxWIDTH"),
        (["--seed", "-3"], "--seed must be a non-negative integer"),
    ]:
        result = run("hgdagger.cli.expert_video", *args, "--out", str(tmp_path))
        assert result.returncode == 2
        assert message in result.stderr
        assert "Traceback" not in result.stderr


def test_viewer_says_clearly_when_there_is_no_display():
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    result = subprocess.run([sys.executable, "-m", "hgdagger.cli.viewer"], capture_output=True, text=True, env=env, timeout=60)
    assert result.returncode == 2
    assert "no display found" in result.stderr and "hgd-expert" in result.stderr
