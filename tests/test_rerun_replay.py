"""A recorded episode in rerun (hgd-replay --rerun): written to an .rrd and read back with rerun's own
reader, every camera frame, joint value and change of driver is where the episode file has it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

pytest.importorskip("rerun", reason="the viewer extra (rerun-sdk) is not installed")

from rerun_files import read_rrd, scalars, states, texts  # noqa: E402
from recorder.recording_session import RecordingSession  # noqa: E402
from recorder.rerun_log import RerunTarget, log_episode_file  # noqa: E402
from recorder.synthetic_episodes import episode_messages  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
T0 = 1_700_000_000.0
STEPS = 30


def recorded(folder: Path, image_storage: str = "jpeg") -> Path:
    """A 30-step rollout with a takeover at steps 5..8 and a 48x64 front camera, through the real recorder."""
    session = RecordingSession(folder, image_storage=image_storage)
    for msg in episode_messages(STEPS, cameras=("front",), image_size=(48, 64), takeover=(5, 9), t0=T0):
        session.handle(msg)
    session.close()
    return session.finished[0]


def columns(path: Path) -> dict[str, np.ndarray]:
    with h5py.File(path, "r") as f:
        g = f["data/demo_0"]
        return {k: g[k][()] for k in ("actions", "policy_actions", "human_actions", "timestamps",
                                       "obs/joint_pos", "obs/gripper_pos", "obs/front_rgb")}


def test_an_episode_in_rerun_has_its_frames_joints_and_takeover_where_the_file_has_them(tmp_path):
    episode = recorded(tmp_path / "data")
    rrd = tmp_path / "ep.rrd"
    _, log = log_episode_file(episode, RerunTarget(save=rrd))
    rows, col = read_rrd(rrd), columns(episode)
    labels = [f"j{i}" for i in range(7)] + ["gripper"]
    assert log.labels == labels and log.takeovers == 1
    expected = {"/cameras/front", "/control/driver", "/control/intervention", "/control/events", "/observation/ee_pos"}
    expected |= {f"/joints/{j}/{what}" for j in labels for what in ("target", "position", "policy", "human")}
    assert set(rows) == expected

    frames = rows["/cameras/front"]  # the stored JPEG rows, passed through byte for byte
    assert [r["step"] for r in frames] == list(range(STEPS))
    assert all(bytes(r["EncodedImage:blob"][0]) == col["obs/front_rgb"][t].tobytes() for t, r in enumerate(frames))
    assert np.allclose([r["wall_time"] for r in frames], col["timestamps"], atol=1e-6)

    for i, j in enumerate(labels):
        steps, target = scalars(rows, f"/joints/{j}/target")
        assert steps == list(range(STEPS)) and np.array_equal(target, col["actions"][:, i])
        position = col["obs/joint_pos"][:, i] if j != "gripper" else col["obs/gripper_pos"][:, 0]
        assert np.allclose(scalars(rows, f"/joints/{j}/position")[1], position)
        human_steps, human = scalars(rows, f"/joints/{j}/human")  # only where the person proposed anything
        assert human_steps == [5, 6, 7, 8] and np.array_equal(human, col["human_actions"][5:9, i])
        assert np.array_equal(scalars(rows, f"/joints/{j}/policy")[1], col["policy_actions"][:, i])

    assert states(rows, "/control/driver") == [(0, "policy"), (5, "human"), (9, "policy")]
    assert states(rows, "/control/intervention") == [(0, "-"), (5, "intervening"), (9, "-")]
    events = texts(rows)
    assert [s for s, t in events if t.startswith("TAKEOVER")] == [5]
    assert [s for s, t in events if t.startswith("HANDBACK")] == [9]
    assert events[-1] == (STEPS - 1, f"episode 1 ends: success, {STEPS} steps")


def test_raw_frames_come_back_bit_exact(tmp_path):
    episode = recorded(tmp_path / "data", image_storage="raw")
    rrd = tmp_path / "raw.rrd"
    log_episode_file(episode, RerunTarget(save=rrd), jpeg_quality=None)
    frames = read_rrd(rrd)["/cameras/front"]
    stored = columns(episode)["obs/front_rgb"]
    assert len(frames) == STEPS
    assert all(np.array_equal(np.array(r["Image:buffer"][0], np.uint8).reshape(48, 64, 3), stored[t])
               for t, r in enumerate(frames))


def replay(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", "import sys; from hgdagger.cli.replay import main; sys.exit(main())", *args],
                          cwd=ROOT, capture_output=True, text=True, timeout=120, env=env)


def test_hgd_replay_rerun_saves_a_file_the_reader_opens_and_says_so(tmp_path):
    episode = recorded(tmp_path / "data")
    out = replay(str(episode), "--rerun", str(tmp_path / "look" / "ep.rrd"))
    assert out.returncode == 0, out.stderr
    assert "30 steps" in out.stdout and "cameras front" in out.stdout and "1 takeover;" in out.stdout, out.stdout
    assert len(read_rrd(tmp_path / "look" / "ep.rrd")["/joints/j0/target"]) == STEPS
    assert not list((tmp_path / "data").glob("*.png"))  # rerun instead of the strip, not beside it


def test_hgd_replay_rerun_without_a_display_saves_beside_the_episode(tmp_path):
    episode = recorded(tmp_path / "data")
    env = {k: v for k, v in __import__("os").environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    out = replay(str(episode), "--rerun", env=env)
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "data" / "ep_0000_replay.rrd").is_file(), out.stdout


@pytest.mark.parametrize("args, says", [
    (["--rerun", "look.txt"], "a rerun file must end in .rrd"),
    (["--rerun", "look.rrd", "--mode", "sim"], "--rerun shows the recording itself"),
])
def test_hgd_replay_rerun_mistakes_are_one_line(tmp_path, args, says):
    episode = recorded(tmp_path / "data")
    out = replay(str(episode), *args)
    assert out.returncode == 2 and says in out.stderr and len(out.stderr.strip().splitlines()) == 1, out.stderr


def test_without_rerun_installed_the_error_names_the_extra(tmp_path):
    """rerun-sdk is optional: a machine without it gets the install line, not a traceback."""
    episode = recorded(tmp_path / "data")
    code = ("import sys; sys.modules['rerun'] = None; from hgdagger.cli.replay import main; "
            f"sys.exit(main([{str(episode)!r}, '--rerun', {str(tmp_path / 'x.rrd')!r}]))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "pip install 'hgdagger-stack[viewer]'" in out.stderr, out.stderr
    assert "Traceback" not in out.stderr


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_hgd_replay_streams_to_a_running_viewer(tmp_path):
    """--rerun-connect: a rerun process listening as a viewer does (here saving what it receives) gets every step."""
    import signal

    import rerun_cli

    episode, received, port = recorded(tmp_path / "data"), tmp_path / "received.rrd", free_port()
    viewer = subprocess.Popen([str(Path(rerun_cli.__file__).parent / "rerun"), "--port", str(port), "--save", str(received)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        import socket
        import time

        deadline = time.monotonic() + 30
        while True:  # until it listens
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline and viewer.poll() is None, "the rerun receiver did not start"
                time.sleep(0.1)
        out = replay(str(episode), "--rerun-connect", f"rerun+http://127.0.0.1:{port}/proxy")
        assert out.returncode == 0 and "sent to the viewer at" in out.stdout, out.stdout + out.stderr
        time.sleep(1.0)
    finally:
        viewer.send_signal(signal.SIGINT)
        try:
            viewer.wait(10)
        except subprocess.TimeoutExpired:
            viewer.kill()
            viewer.wait()
    assert len(read_rrd(received)["/joints/j0/target"]) == STEPS


def test_hgd_replay_says_when_no_viewer_answers(tmp_path):
    episode = recorded(tmp_path / "data")
    out = replay(str(episode), "--rerun-connect", f"rerun+http://127.0.0.1:{free_port()}/proxy")
    assert out.returncode == 2 and "no rerun viewer answers at" in out.stderr and "start one with `rerun`" in out.stderr
