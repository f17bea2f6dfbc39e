"""A camera that stops delivering, on a real arm's driver (the follower on the emulator's pty, a
capture thread per camera): a warning always, and a hold while the served policy reads it."""

from __future__ import annotations

import threading

import pytest

from hgdagger.common.types import Source
from policy_server.client import ClientConfig
from policy_server.server import PolicyServer, ServerConfig
from policy_server.toy_policy import ToyConfig, ToyPolicy
from teleop.cameras import CameraConfig, CameraSet
from teleop.dynamixel.config import ArmConfig
from teleop.dynamixel.emulator import PtyBus, chain_for
from teleop.dynamixel.follower import DynamixelFollower
from teleop.executor import ExecConfig, Mode
from teleop.fetcher import ChunkFetcher
from teleop.runtime import RobotRuntime, RuntimeConfig


@pytest.mark.parametrize("policy_sees_it", [True, False])
def test_a_stale_camera_is_a_warning_and_a_hold_while_the_policy_needs_it(policy_sees_it):
    arm = ArmConfig.load("koch_follower")
    server = PolicyServer(ToyPolicy(ToyConfig(num_joints=5, control_period=0.02,
                                              image_shape=(24, 32, 3) if policy_sees_it else None)),
                          ServerConfig(endpoint="tcp://127.0.0.1:*"))
    serving = threading.Thread(target=server.serve_forever, daemon=True)
    serving.start()
    with PtyBus(chain_for(arm, tau_s=0.02)) as bus:
        arm.bus.port = bus.port
        cameras = CameraSet([CameraConfig("front", "pattern", height=24, width=32, fps=30)])
        driver = DynamixelFollower(arm, cameras=cameras)
        rt = RobotRuntime(driver, ChunkFetcher(ClientConfig(endpoint=server.bound_endpoint)),
                          RuntimeConfig(execution=ExecConfig(mode=Mode.RTC), realtime=False, camera_stale_after_s=0.3))
        sources: list[Source] = []
        rt.on_step = lambda step, source, sent: sources.append(source)
        try:
            rt.start()
            rt.run_episode(25)  # 0.5 s at 50 Hz: frames coming
            assert sources.count(Source.POLICY) > 15 and not any("camera" in e for _, e in rt.report.events)
            cameras.streams["front"].close()  # unplugged: its thread stops, no newer frame
            sources.clear()
            rt.run_episode(50)  # 1 s: stale after 0.3 s
            status = rt.console_status()
        finally:
            rt.close()
            driver.close()
            server.stop()
            serving.join(5)
    events = [e for _, e in rt.report.events]
    assert any(e.startswith("camera front stale") for e in events), events
    assert any("camera front: no frame for" in w for w in status.warnings), status.warnings
    late = sources[25:]
    if policy_sees_it:
        assert all(s == Source.HOLD for s in late) and status.hold_reason == "camera stale"
    else:
        assert late.count(Source.POLICY) > 20  # a camera the policy does not read stops nothing


@pytest.mark.parametrize("realtime", [True, False])
def test_a_real_time_loop_puts_the_threads_sharing_its_gil_just_below_its_fetcher(realtime):
    from sim.driver import SimArmDriver

    cameras = CameraSet([CameraConfig("front", "pattern", height=24, width=32, fps=30)])
    driver = SimArmDriver(task="reach", seed=0)
    try:
        rt = RobotRuntime(driver, None, RuntimeConfig(realtime=realtime, rt_priority=50), gil_sharers=[cameras, None])
        rt.start()
        assert cameras.rt_priority == (48 if realtime else None)  # never above a normal loop
    finally:
        cameras.close()
        driver.close()
