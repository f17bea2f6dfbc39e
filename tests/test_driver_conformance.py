"""Every driver honours the whole RobotDriver contract the runtime, recorder and server rely on.

One suite, run against each driver the project ships: the sim arm, a plugged-in gymnasium
environment, the Dynamixel and Feetech (SO-101) followers on their byte-exact emulators over a real
pty (built through the robot registry, as ``--robot`` does), and the Koch physics twin. A new driver joins by adding a
factory to DRIVERS.
"""

from __future__ import annotations

import contextlib
import json

import numpy as np
import pytest

import examples.point_reach  # noqa: F401  (registers point_reach)
from hgdagger.common import wire
from hgdagger.common.record_queue import RecordQueue
from hgdagger.common.types import RobotDriver, Source
from hgdagger.robots.config import robot_config_from_dict
from hgdagger.robots.registry import DriverOptions, build_driver, sim_robot


@contextlib.contextmanager
def sim_arm():
    yield build_driver(sim_robot("reach"), DriverOptions(seed=1))


@contextlib.contextmanager
def gym_plugin():
    yield build_driver(sim_robot("point_reach"), DriverOptions(seed=1))


@contextlib.contextmanager
def dynamixel_on_emulator():
    from teleop.dynamixel.config import ARMS, ArmConfig
    from teleop.dynamixel.emulator import PtyBus, chain_for

    follower = json.loads((ARMS / "koch_follower.json").read_text())
    with PtyBus(chain_for(ArmConfig.from_dict(follower), tau_s=0.02)) as bus:
        robot = robot_config_from_dict({"name": "koch_on_emulator", "driver": {"type": "dynamixel", "follower": follower}},
                                       "test")
        yield build_driver(robot, DriverOptions(port=bus.port))


@contextlib.contextmanager
def feetech_on_emulator():
    from hgdagger.robots.registry import resolve_robot
    from teleop.feetech.config import FeetechArmConfig
    from teleop.feetech.emulator import PtyBus, chain_for

    with PtyBus(chain_for(FeetechArmConfig.load("so101_follower"), tau_s=0.02)) as bus:
        yield build_driver(resolve_robot("so101"), DriverOptions(port=bus.port, cameras=False))


@contextlib.contextmanager
def koch_twin():
    from hgdagger.robots.registry import resolve_robot

    yield build_driver(resolve_robot("koch_twin"), DriverOptions(seed=2))


@contextlib.contextmanager
def so101_twin():
    from hgdagger.robots.registry import resolve_robot

    yield build_driver(resolve_robot("so101_twin"), DriverOptions(seed=2))


DRIVERS = {"sim_arm": sim_arm, "gym_plugin": gym_plugin, "dynamixel_on_emulator": dynamixel_on_emulator,
           "feetech_on_emulator": feetech_on_emulator, "koch_twin": koch_twin, "so101_twin": so101_twin}


@pytest.fixture(params=sorted(DRIVERS))
def driver(request):
    with DRIVERS[request.param]() as drv:
        try:
            yield drv
        finally:
            drv.close()


def _finite(a) -> bool:
    return bool(np.all(np.isfinite(np.asarray(a, dtype=np.float64))))


def test_declares_every_member_of_the_protocol(driver):
    assert isinstance(driver, RobotDriver)
    for member in ("terminated", "truncated"):
        assert isinstance(getattr(driver, member), bool), member
    assert isinstance(driver.outcome.success, bool)
    assert isinstance(driver.health.ok, bool) and isinstance(driver.health.fault, str) and driver.health.ok
    assert isinstance(driver.reward, float) and np.isfinite(driver.reward)


def test_observations_match_the_spec(driver):
    obs = driver.reset(seed=3)
    spec = driver.spec
    assert set(spec.observation_shapes) <= set(obs), f"spec promises {sorted(spec.observation_shapes)}, got {sorted(obs)}"
    for key, shape in spec.observation_shapes.items():
        assert tuple(obs[key].shape) == tuple(shape), key
        assert obs[key].dtype == np.uint8 or _finite(obs[key]), key
    assert set(driver.observe()) == set(obs)


def test_rest_command_and_command_stay_inside_the_limits(driver):
    obs = driver.reset(seed=0)
    spec = driver.spec
    rest = np.asarray(driver.rest_command(obs), np.float64)
    assert rest.shape == (spec.action_dim,) and _finite(rest)
    sent = driver.command(np.clip(rest, spec.action_lower, spec.action_upper))
    assert sent.shape == (spec.action_dim,) and _finite(sent)
    wild = driver.command(np.full(spec.action_dim, 1e3))
    assert np.all(wild <= spec.action_upper + 1e-9) and np.all(wild >= spec.action_lower - 1e-9)
    driver.hold()


@pytest.mark.parametrize("bad", ["nan", "short"])
def test_malformed_commands_are_refused(driver, bad):
    spec = driver.spec
    target = np.full(spec.action_dim, np.nan) if bad == "nan" else np.zeros(spec.action_dim - 1)
    with pytest.raises(ValueError):
        driver.command(target)


def test_the_runtime_drives_it_and_records_each_step(driver):
    from teleop.runtime import RobotRuntime, RuntimeConfig

    records = RecordQueue()
    rt = RobotRuntime(driver, None, RuntimeConfig(realtime=False), records)
    rt.start()
    driver.reset(seed=0)
    report = rt.run_episode(5)
    steps = [m for m in records.drain() if isinstance(m, wire.StepRecord)]
    assert report.steps == len(steps) == 5 and report.hold_steps == 5
    assert all(s.source == int(Source.HOLD) and isinstance(s.reward, float) for s in steps)
    assert all(s.action.shape == (driver.spec.action_dim,) for s in steps)
