"""The sim arm behind the RobotDriver protocol: what the runtime will drive."""

import numpy as np
import pytest

from hgdagger.common.types import RobotDriver
from sim.driver import SimArmDriver
from sim.tasks.base import ActionError


@pytest.fixture
def driver():
    d = SimArmDriver(task="reach", seed=0)
    yield d
    d.close()


def test_sim_driver_satisfies_the_robot_driver_protocol(driver):
    assert isinstance(driver, RobotDriver)
    assert driver.spec.action_dim == 8
    assert driver.spec.control_period == pytest.approx(0.05)
    assert driver.spec.observation_shapes["joint_pos"] == (7,)


def test_command_returns_what_was_actually_sent_after_clipping(driver):
    target = np.append(driver.observe()["joint_pos"], 0.5)
    target[3] = 5.0  # joint 4 cannot go above -0.0698 rad
    target[7] = 3.0  # gripper is 0..1
    sent = driver.command(target)
    assert sent[3] == pytest.approx(driver.spec.joint_upper[3])
    assert sent[7] == 1.0
    np.testing.assert_array_equal(sent[:3], target[:3])


def test_command_advances_one_control_period(driver):
    t0 = driver.env.data.time
    driver.command(np.append(driver.observe()["joint_pos"], 0.0))
    assert driver.env.data.time - t0 == pytest.approx(driver.spec.control_period)


def test_nan_commands_are_refused_before_the_physics(driver):
    obs = driver.observe()
    bad = np.append(obs["joint_pos"], 0.0)
    bad[2] = np.nan
    t0 = driver.env.data.time
    with pytest.raises(ActionError):
        driver.command(bad)
    assert driver.env.data.time == t0


def test_hold_keeps_the_arm_still(driver):
    moving = np.append(driver.observe()["joint_pos"] + 0.05, 0.0)
    for _ in range(3):
        driver.command(moving)
    for _ in range(10):  # let the servo settle where it is
        driver.hold()
    before = driver.observe()["ee_pos"]
    for _ in range(20):
        driver.hold()
    assert np.linalg.norm(driver.observe()["ee_pos"] - before) < 1e-3


def test_observe_returns_copies_the_caller_cannot_corrupt(driver):
    obs = driver.observe()
    obs["joint_pos"][:] = 99.0
    assert not np.any(driver.observe()["joint_pos"] == 99.0)


def test_reset_starts_a_new_seeded_episode(driver):
    first = driver.reset(seed=11)["target_pos"]
    again = driver.reset(seed=11)["target_pos"]
    other = driver.reset(seed=12)["target_pos"]
    np.testing.assert_array_equal(first, again)
    assert not np.allclose(first, other)


def test_driver_with_cameras_reports_image_shapes():
    d = SimArmDriver(task="pick_place", seed=0, cameras=("front", "wrist"), image_size=(96, 128))
    obs = d.observe()
    assert obs["front_rgb"].shape == (96, 128, 3) and obs["wrist_rgb"].dtype == np.uint8
    assert d.spec.observation_shapes["wrist_rgb"] == (96, 128, 3)
    assert d.spec.cameras == ("front", "wrist")
    d.close()
