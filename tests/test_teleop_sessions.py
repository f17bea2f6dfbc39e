"""The operator's commands and device faults, with real processes and real sockets."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from hgdagger.common.types import Source
from sim.driver import SimArmDriver
from teleop.intent import IntentPublisher, TeleopIntent
from teleop.runtime import RobotRuntime, RuntimeConfig
from sim.arm_model import SimArmModel
from teleop.operator_setup import HumanOptions, device_human_side

ROOT = Path(__file__).resolve().parents[1]


def run(*args, timeout=120):
    return subprocess.run([sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout)


@pytest.mark.slow
def test_rehearse_holds_the_follower_until_the_leader_is_aligned_then_completes_the_task():
    result = run("hgdagger.cli.rehearse", "--task", "reach", "--offset-joint", "3", "--offset-rad", "0.5", "--no-record")
    assert result.returncode == 0, result.stdout + result.stderr
    line = result.stdout.strip().splitlines()[-1]
    assert "success" in line
    released = int(line.split("at step ")[1].split()[0])
    assert released > 15  # held while the operator brought the leader into line (0.5 s + alignment)


def scripted_operator(endpoint: str, script):
    """A device process stand-in on a thread: ``script(t) -> TeleopIntent | None`` at 50 Hz until None."""
    def go():
        pub = IntentPublisher(endpoint, "pad")
        start = time.monotonic()
        while True:
            intent = script(time.monotonic() - start)
            if intent is None:
                break
            pub.send(intent)
            time.sleep(0.02)
        pub.close()

    thread = threading.Thread(target=go, daemon=True)
    thread.start()
    return thread


def events_once(schedule: dict[str, float]):
    """``events(t)``: each named event exactly once, on the first call at or after its time (a fixed
    window could fall between two sends of a loaded machine's slower-than-50 Hz loop)."""
    pending = dict(schedule)

    def events(t: float) -> list[str]:
        due = [name for name, at in pending.items() if t >= at]
        for name in due:
            del pending[name]
        return due

    return events


def test_unplugged_and_stale_devices_make_the_arm_hold_and_the_console_says_why(tmp_path):
    driver = SimArmDriver(task="reach", seed=0)
    human, merger = device_human_side(HumanOptions(intent_endpoint=f"ipc://{tmp_path}/intent", start_in_human=True,
                                                   stale_after_s=0.2), driver.spec.control_period, SimArmModel())
    rt = RobotRuntime(driver, None, RuntimeConfig(realtime=False), human=human)
    rt.start()
    phase = {"now": "driving"}

    def script(t):
        if phase["now"] == "gone":
            return None
        connected = phase["now"] != "unplugged"
        return TeleopIntent(device="pad", twist=np.array([0, 1.0, 0, 0, 0.0]) if connected else None, connected=connected,
                            status="gamepad unplugged: plug it back in to continue (the arm holds)" if not connected else "pad")

    sources, warnings = [], []

    def watch(step, source, sent):
        sources.append(source)
        if step in (30, 60, 90):
            warnings.append(rt.console_status().warnings)
        phase["now"] = {25: "unplugged", 45: "driving", 75: "gone"}.get(step, phase["now"])

    rt.on_step = watch
    scripted_operator(merger.endpoint, script)
    time.sleep(0.3)
    try:
        rt.run_episode(100)
    finally:
        rt.close()
        merger.close()
    assert Source.HUMAN in sources[:25]
    assert all(s == Source.HOLD for s in sources[28:45])  # unplugged: hold
    assert Source.HUMAN in sources[48:75]  # plugged back in: continues
    assert all(s == Source.HOLD for s in sources[85:])  # silent device: stale, hold
    assert any("unplugged" in w for w in warnings[0])
    assert any("stale" in w for w in warnings[2])


def test_buttons_pressed_during_a_reset_do_not_end_or_toggle_the_next_episode(tmp_path):
    driver = SimArmDriver(task="reach", seed=0)
    human, merger = device_human_side(HumanOptions(intent_endpoint=f"ipc://{tmp_path}/intent"), driver.spec.control_period, SimArmModel())
    rt = RobotRuntime(driver, None, RuntimeConfig(realtime=False), human=human)
    rt.start()
    pub = IntentPublisher(merger.endpoint, "pad")
    pub.send(TeleopIntent(device="pad", events=["success", "takeover"]))  # held through the reset
    time.sleep(0.2)
    sources = []
    rt.on_step = lambda step, source, sent: sources.append(source)
    try:
        report = rt.run_episode(10)
    finally:
        rt.close()
        merger.close()
        pub.close()
    assert report.steps == 10 and report.label == "failure"  # not ended by the stale 'success'
    assert report.takeovers == 0 and all(s == Source.HOLD for s in sources)


def test_a_takeover_pressed_right_after_the_start_button_counts(tmp_path):
    """The operator starts the episode and takes over at once: the press made while the episode was
    being set up is theirs (CI caught it dropped: the handback became the takeover)."""
    from teleop.intent import DeviceEvent

    driver = SimArmDriver(task="reach", seed=0)
    human, merger = device_human_side(HumanOptions(intent_endpoint=f"ipc://{tmp_path}/intent"), driver.spec.control_period, SimArmModel())
    rt = RobotRuntime(driver, None, RuntimeConfig(realtime=False), human=human)
    rt.start()
    pub = IntentPublisher(merger.endpoint, "keyboard")
    try:
        pub.send(TeleopIntent(device="keyboard", events=["start"]))
        assert rt.wait_for_operator({DeviceEvent.START}, "waiting", "press n") == DeviceEvent.START
        pub.send(TeleopIntent(device="keyboard", events=["takeover"], twist=np.zeros(5)))  # before the episode runs
        time.sleep(0.2)
        report = rt.run_episode(10, operator_started=True)
    finally:
        rt.close()
        merger.close()
        pub.close()
    assert report.takeovers == 1
