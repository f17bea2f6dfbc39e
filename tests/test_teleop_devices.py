"""Input devices as separate processes sending intent over real ZeroMQ sockets."""

import os
import pty
import subprocess
import sys
import time

import pytest

from teleop.devices.gamepad import GAMEPAD_PRESETS, ButtonMap, GamepadMapper
from teleop.devices.keyboard import KeyboardState, split_keys
from teleop.intent import DeviceEvent, IntentMerger, IntentPublisher, TeleopIntent


def wait_for(merger, predicate, timeout=10.0):
    deadline = time.monotonic() + timeout
    seen = []
    while time.monotonic() < deadline:
        merged = merger.poll()
        seen.append(merged)
        if predicate(merged, seen):
            return merged, seen
        time.sleep(0.01)
    raise AssertionError(f"condition not met within {timeout} s; last: {seen[-1] if seen else None}")


@pytest.fixture
def merger(tmp_path):
    m = IntentMerger(f"ipc://{tmp_path}/intent.sock", stale_after_s=0.3)
    yield m
    m.close()


def test_keyboard_process_in_a_real_terminal_sends_motion_gripper_and_events(merger):
    master, slave = pty.openpty()
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "hgdagger.cli.teleop_device", "keyboard", "--endpoint", merger.endpoint],
                            stdin=slave, stdout=slave, stderr=slave, env=env, close_fds=True)
    try:
        wait_for(merger, lambda m, s: "keyboard" in merger.devices)
        os.write(master, b"d")
        merged, _ = wait_for(merger, lambda m, s: m.twist is not None and m.twist[1] > 0.5)
        os.write(master, b" t")
        _, seen = wait_for(merger, lambda m, s: any(DeviceEvent.TAKEOVER in x.events for x in s))
        assert merger.poll().twist[4] == 1.0  # space closed the gripper
        os.write(master, b"\r")
        wait_for(merger, lambda m, s: any(DeviceEvent.SUCCESS in x.events for x in s))
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        os.close(master)
        os.close(slave)
    assert proc.returncode == 0


def test_a_killed_device_goes_stale_and_its_command_is_dropped(merger):
    proc = subprocess.Popen([sys.executable, "-c", f"""
import time
import numpy as np
from teleop.intent import IntentPublisher, TeleopIntent
pub = IntentPublisher({merger.endpoint!r}, "pedal")
while True:
    pub.send(TeleopIntent(device="pedal", twist=np.array([1.0, 0, 0, 0, 0])))
    time.sleep(0.02)
"""])
    try:
        wait_for(merger, lambda m, s: m.twist is not None)
        proc.kill()  # SIGKILL: no goodbye message
        proc.wait()
        merged, _ = wait_for(merger, lambda m, s: "pedal" in m.stale_devices, timeout=5)
        assert merged.twist is None and not merged.any_input
    finally:
        if proc.poll() is None:
            proc.kill()


def test_gamepad_process_without_a_pad_reports_unplugged(merger):
    env = {**os.environ, "SDL_VIDEODRIVER": "dummy", "SDL_JOYSTICK_DEVICE": "/nonexistent"}
    proc = subprocess.Popen([sys.executable, "-m", "hgdagger.cli.teleop_device", "gamepad", "--endpoint", merger.endpoint],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        merged, _ = wait_for(merger, lambda m, s: "gamepad" in m.disconnected_devices, timeout=20)
        assert "unplugged" in merged.statuses["gamepad"]
        assert merged.twist is None  # a missing pad never drives the arm
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_garbage_on_the_intent_socket_is_counted_and_ignored(merger):
    import zmq

    sock = zmq.Context.instance().socket(zmq.PUSH)
    sock.connect(merger.endpoint)
    sock.send_multipart([b"\x00not msgpack"])
    pub = IntentPublisher(merger.endpoint, "pad")
    pub.send(TeleopIntent(device="pad", events=["takeover", "juggle"]))
    merged, seen = wait_for(merger, lambda m, s: any(DeviceEvent.TAKEOVER in x.events for x in s))
    assert merger.rejected >= 1 and "juggle" in merger.last_error
    sock.close(0)
    pub.close()


def test_presses_from_two_devices_in_one_tick_merge_into_one_takeover(merger):
    a, b = IntentPublisher(merger.endpoint, "pad"), IntentPublisher(merger.endpoint, "pedal")
    a.send(TeleopIntent(device="pad", events=["takeover"]))
    b.send(TeleopIntent(device="pedal", events=["takeover"]))
    time.sleep(0.2)
    merged = merger.poll()
    assert merged.events == {DeviceEvent.TAKEOVER}
    a.close()
    b.close()


def test_split_keys_keeps_arrow_sequences_whole():
    assert split_keys("w\x1b[Ct") == ["w", "\x1b[C", "t"]


def test_keyboard_motion_lasts_hold_time_after_a_press():
    state = KeyboardState(hold_s=0.2)
    state.press("r", now=0.0)
    assert state.twist(0.1)[2] == 1.0
    assert state.twist(0.3)[2] == 0.0
    assert state.press("t", now=0.0) is DeviceEvent.TAKEOVER


def test_gamepad_mapping_dead_zone_fine_mode_and_button_edges():
    mapper = GamepadMapper(GAMEPAD_PRESETS["xbox"], dead_zone=0.1)
    axes = [0.05, -1.0, -1.0, 0.0, 0.0, 1.0]
    buttons = [True, False, False, False, False, False, False, False]
    twist, events, deadman = mapper.map(axes, buttons)
    assert twist[1] == 0.0  # inside the dead zone
    assert twist[0] == pytest.approx(-1.0)  # stick pushed away: towards the robot
    assert twist[4] == pytest.approx(1.0)  # trigger squeezed: gripper closed
    assert events == ["takeover"] and not deadman
    twist, events, _ = mapper.map(axes, buttons)  # still held: no new press
    assert events == []
    buttons[5] = True  # fine mode
    twist, _, _ = mapper.map(axes, buttons)
    assert twist[0] == pytest.approx(-0.3)


def test_button_map_file_overrides_a_preset(tmp_path):
    (tmp_path / "pedal.json").write_text('{"preset": "generic", "deadman": 0}')
    assert ButtonMap.load(tmp_path / "pedal.json").deadman == 0
    (tmp_path / "bad.json").write_text('{"no_such_field": 1}')
    with pytest.raises(ValueError, match="not valid"):
        ButtonMap.load(tmp_path / "bad.json")
