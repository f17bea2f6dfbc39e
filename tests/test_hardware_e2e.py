"""End to end: the robot runtime drives the emulated follower while an emulated leader arm is moved."""

from __future__ import annotations

import math

import numpy as np
import pytest

from hgdagger.common import wire
from hgdagger.common.types import Source
from teleop.devices.leader_arm import LeaderCalibration
from teleop.dynamixel import control_table as ct
from teleop.dynamixel.config import ArmConfig, BusConfig, GripperConfig, JointConfig
from teleop.dynamixel.emulator import EmulatedServo, PtyBus, ServoChain, chain_for
from teleop.dynamixel.follower import DynamixelFollower
from teleop.dynamixel.dynamixel_leader import DynamixelLeader
from teleop.gate import GateConfig, TakeoverGate, TakeoverMode
from teleop.human_side import FunctionInput, HumanSide
from hgdagger.common.record_queue import RecordQueue
from teleop.runtime import RobotRuntime, RuntimeConfig

N = 6
HZ = 50.0


def config(port: str, torque: bool, model: str) -> ArmConfig:
    joints = [JointConfig(f"j{i}", i, model, lower=-2.5, upper=2.5, max_velocity=3.0) for i in range(1, N + 1)]
    return ArmConfig("e2e", BusConfig(port=port, latency_ms=4.0), joints,
                     GripperConfig(N + 1, model, open_ticks=2048, closed_ticks=2848), control_hz=HZ,
                     torque_on_connect=torque)


@pytest.mark.slow
def test_runtime_drives_the_follower_to_track_a_moving_leader_arm():
    leader_model = ct.model("XL330-M077")
    hands = []
    for i in range(1, N + 2):  # a person swings every leader joint (and the trigger) along a sine
        s = EmulatedServo(i, leader_model)
        amp, phase = 0.5 * 4096 / (2 * math.pi), 0.7 * i
        s.hand = lambda t, a=amp, p=phase: 2048 + a * math.sin(2 * math.pi * t / 3.0 + p)
        hands.append(s)
    with PtyBus(ServoChain(hands)) as leader_bus, PtyBus(chain_for(config("-", True, "XL330-M288"), tau_s=0.03)) as follower_bus:
        leader = DynamixelLeader(config(leader_bus.port, False, "XL330-M077"))
        follower = DynamixelFollower(config(follower_bus.port, True, "XL330-M288"))
        calibration = LeaderCalibration((1.0,) * N, (0,) * N, gripper_open=-0.5, gripper_closed=0.5)
        human = HumanSide(TakeoverGate(GateConfig(mode=TakeoverMode.DEADMAN, start_in_human=True)),
                          FunctionInput(lambda step, obs: calibration.to_follower(leader.read())))
        records = RecordQueue(4096)
        runtime = RobotRuntime(follower, None, RuntimeConfig(realtime=False, control_hz=HZ), records, human=human)
        try:
            runtime.start()
            report = runtime.run_episode(int(4 * HZ), task="leader_tracking", kind="demo")
        finally:
            leader.close()
            follower.close()
    steps = [m for m in records.drain() if isinstance(m, wire.StepRecord)]
    assert report.steps == len(steps) == int(4 * HZ)
    assert report.human_steps >= 0.9 * report.steps and report.rejected == 0
    settled = steps[int(1.0 * HZ):]  # after the first second (initial catch-up under the velocity limit)
    # Follower's measured joints at step k vs the leader command sent ~2 steps earlier (bus + servo lag).
    err = [np.abs(settled[k].observation["joint_pos"] - settled[k - 3].human_action[:N]).max() for k in range(3, len(settled))]
    grip_err = [abs(settled[k].observation["gripper_pos"][0] - settled[k - 3].human_action[N]) for k in range(3, len(settled))]
    print(f"tracking p50 {np.median(err):.4f} p95 {np.percentile(err, 95):.4f} max {max(err):.4f}; timing {report.timing}")
    assert np.percentile(err, 95) < 0.08, f"joint tracking error p95 {np.percentile(err, 95):.3f} rad"
    assert np.percentile(grip_err, 95) < 0.1
    assert all(s.source == Source.HUMAN for s in settled)
    timing = report.timing
    assert timing, "the runtime reports its loop timing"


@pytest.mark.slow
def test_steps_the_bus_cannot_command_are_recorded_as_hold_and_control_resumes_after_recovery():
    chain = chain_for(config("-", True, "XL330-M288"), tau_s=0.03)
    with PtyBus(chain) as bus:
        follower = DynamixelFollower(config(bus.port, True, "XL330-M288"))
        here = np.append(follower.observe()["joint_pos"], 0.5)

        def person(step, obs):
            if step == 40:
                chain.faults.vanished.add(3)  # servo 3 unplugged
            if step == 90:
                chain.faults.vanished.discard(3)  # and plugged back in
            return here

        human = HumanSide(TakeoverGate(GateConfig(mode=TakeoverMode.DEADMAN, start_in_human=True)), FunctionInput(person))
        records = RecordQueue(4096)
        runtime = RobotRuntime(follower, None, RuntimeConfig(realtime=False, control_hz=HZ), records, human=human)
        try:
            runtime.start()
            report = runtime.run_episode(150, task="bus_fault", kind="demo")
        finally:
            follower.close()
    sources = [m.source for m in records.drain() if isinstance(m, wire.StepRecord)]
    assert all(s == Source.HUMAN for s in sources[:40])
    assert Source.HOLD in sources[45:90]  # faulted: held, and recorded as such
    assert all(s == Source.HUMAN for s in sources[120:])  # recovered
    assert any("driver fault" in what for _, what in report.events)
    assert any("driver recovered" in what for _, what in report.events)
