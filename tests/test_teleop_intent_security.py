"""The device endpoint can be secured like the server and the recorder: with CURVE the runtime hears
only devices whose keys it knows; bound beyond loopback without CURVE, a session refuses to start."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from teleop.intent import IntentMerger, IntentPublisher, TeleopIntent

ROOT = Path(__file__).resolve().parents[1]


def keys(folder: Path) -> Path:
    out = subprocess.run([sys.executable, "-m", "hgdagger.cli.serve", "--gen-keys", str(folder)], cwd=ROOT,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return folder


def test_a_curve_runtime_hears_its_own_device_and_not_a_stranger(tmp_path):
    ours, stranger = keys(tmp_path / "ours"), keys(tmp_path / "stranger")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    merger = IntentMerger(f"tcp://0.0.0.0:{port}", stale_after_s=5.0, curve_secret=str(ours / "server.key_secret"),
                          curve_clients=str(ours / "clients"))
    publishers = {
        "plain": IntentPublisher(f"tcp://127.0.0.1:{port}", "plain"),
        "stranger": IntentPublisher(f"tcp://127.0.0.1:{port}", "stranger", curve_server=str(ours / "server.key"),
                                    curve_secret=str(stranger / "robot.key_secret")),
        "ours": IntentPublisher(f"tcp://127.0.0.1:{port}", "ours", curve_server=str(ours / "server.key"),
                                curve_secret=str(ours / "robot.key_secret")),
    }
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and "ours" not in merger.devices:
            for name, pub in publishers.items():
                pub.send(TeleopIntent(device=name, twist=np.zeros(5)))
            merger.poll()
            time.sleep(0.05)
        for _ in range(10):  # a little longer: whatever else would get through has had its chance
            for name, pub in publishers.items():
                pub.send(TeleopIntent(device=name, twist=np.zeros(5)))
            merger.poll()
            time.sleep(0.05)
        assert set(merger.devices) == {"ours"}
    finally:
        for pub in publishers.values():
            pub.close()
        merger.close()


def test_a_session_refuses_an_open_device_endpoint_without_curve(capsys):
    from hgdagger.cli import collect

    assert collect.main(["--task", "reach", "--intent-endpoint", "tcp://*:5561"]) == 2
    err = capsys.readouterr().err
    assert "--intent-endpoint" in err and "--intent-curve-secret" in err and "--insecure" in err


def test_a_leader_arm_for_another_arm_is_ignored_with_a_warning_not_a_crash():
    """A Koch leader (5 joints + gripper) sent to the 7-joint arm's runtime: its commands are not
    applied, the console says why, and the runtime's tick goes on."""
    from sim.arm_model import SimArmModel
    from teleop.cartesian import CartesianMapper
    from teleop.human_side import DeviceInput

    merger = IntentMerger("tcp://127.0.0.1:*", stale_after_s=5.0)
    pub = IntentPublisher(merger.endpoint, "koch-leader")
    try:
        device = DeviceInput(merger, 0.05, CartesianMapper(SimArmModel()))
        obs = {"joint_pos": np.zeros(7), "gripper_pos": np.zeros(1)}
        reading = None
        for _ in range(100):
            pub.send(TeleopIntent(device="koch-leader", command=np.zeros(6)))
            time.sleep(0.01)
            reading = device.read(obs, None, gate_wants_human=True)
            if reading.warnings:
                break
        assert reading.intent.command is None
        assert any("sends 6 values, this arm takes 8" in w for w in reading.warnings)
    finally:
        pub.close()
        merger.close()
