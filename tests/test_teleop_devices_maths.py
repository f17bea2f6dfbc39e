"""Cartesian teleop through IK and the leader-arm calibration map."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import sim
from sim.arm_model import SimArmModel
from teleop.cartesian import CartesianConfig, CartesianMapper, Twist, apply_dead_zone
from teleop.devices.leader_arm import LeaderCalibration, SimulatedLeaderArm, misaligned_joints


@settings(max_examples=200, deadline=None)
@given(value=st.floats(-1, 1), dead=st.floats(0.0, 0.5))
def test_dead_zone_silences_small_inputs_and_keeps_full_range(value, dead):
    out = apply_dead_zone(value, dead)
    assert -1.0 <= out <= 1.0
    if abs(value) <= dead:
        assert out == 0.0
    else:
        assert np.sign(out) == np.sign(value)
    assert apply_dead_zone(1.0, dead) == pytest.approx(1.0)


def test_stick_forward_moves_the_real_arm_forward_at_the_configured_speed():
    env = sim.make_env("reach")
    obs, _ = env.reset(seed=0)
    mapper = CartesianMapper(SimArmModel(), CartesianConfig(max_linear_speed=0.1))
    mapper.start_from(obs["joint_pos"], 0.0)
    start = obs["ee_pos"].copy()
    for _ in range(40):  # 2 s at 20 Hz, full stick +x
        obs, *_ = env.step(mapper.step(Twist(linear=np.array([1.0, 0, 0])), obs["joint_pos"], 0.05))
    moved = obs["ee_pos"] - start
    assert moved[0] == pytest.approx(0.2, abs=0.03)
    assert abs(moved[1]) < 0.01 and abs(moved[2]) < 0.01


def test_takeover_starts_from_the_arms_current_pose_without_a_jump():
    env = sim.make_env("reach")
    obs, _ = env.reset(seed=1)
    mapper = CartesianMapper(SimArmModel())
    mapper.start_from(obs["joint_pos"], 0.0)
    action = mapper.step(Twist(), obs["joint_pos"], 0.05)  # stick at rest
    assert np.abs(action[:7] - obs["joint_pos"]).max() < 0.01


def test_target_does_not_wind_up_when_the_arm_is_blocked():
    mapper = CartesianMapper(SimArmModel(), CartesianConfig(max_lead=0.05))
    q = sim.arm.HOME_QPOS.copy()
    mapper.start_from(q, 0.0)
    for _ in range(100):  # the arm never moves (blocked), the stick is held
        mapper.step(Twist(linear=np.array([0, 1.0, 0])), q, 0.05)
    here, _ = mapper.arm.gripper_pose(q)
    assert np.linalg.norm(mapper.target_pos - here) <= 0.05 + 1e-9


def test_workspace_bounds_hold_the_target():
    mapper = CartesianMapper(SimArmModel(), CartesianConfig(max_lead=10.0))
    mapper.start_from(sim.arm.HOME_QPOS, 0.0)
    for _ in range(200):
        mapper.step(Twist(linear=np.array([0, 0, -1.0])), sim.arm.HOME_QPOS, 0.05)
    assert mapper.target_pos[2] == pytest.approx(0.02)


@settings(max_examples=100, deadline=None)
@given(
    signs=st.lists(st.sampled_from([-1.0, 1.0]), min_size=7, max_size=7),
    offsets=st.lists(st.integers(-4, 4), min_size=7, max_size=7),
    joints=st.lists(st.floats(-2.5, 2.5), min_size=7, max_size=7),
    grip=st.floats(0, 1),
)
def test_simulated_leader_reading_maps_back_to_the_trajectory(signs, offsets, joints, grip):
    cal = LeaderCalibration(tuple(signs), tuple(offsets), gripper_open=0.7, gripper_closed=-0.2)
    target = np.append(joints, grip)
    leader = SimulatedLeaderArm(lambda t: target, cal)
    np.testing.assert_allclose(cal.to_follower(leader.read()), target, atol=1e-9)


def test_calibration_file_round_trips_and_bad_files_say_what_is_wrong(tmp_path):
    cal = LeaderCalibration((1.0, -1.0), (0, 2), 0.1, 0.9)
    cal.save(tmp_path / "leader.json")
    assert LeaderCalibration.load(tmp_path / "leader.json") == cal
    (tmp_path / "bad.json").write_text('{"signs": [1]}')
    with pytest.raises(ValueError, match="is not valid"):
        LeaderCalibration.load(tmp_path / "bad.json")
    with pytest.raises(ValueError, match="does not exist"):
        LeaderCalibration.load(tmp_path / "missing.json")
    with pytest.raises(ValueError, match="must be \\+1 or -1"):
        LeaderCalibration((2.0,), (0,), 0.0, 1.0)


def test_misaligned_joints_names_the_joints_that_are_off():
    follower = np.zeros(7)
    leader = np.array([0.0, 0.3, 0.0, -0.05, 0.0, 0.0, -0.4, 0.5])
    assert misaligned_joints(leader, follower, tolerance=0.1) == [1, 6]
