"""Differential IK: the pure step respects limits and bounds, and the solver reaches real poses."""

import mujoco
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sim import arm
from sim.kinematics import ArmKinematics, IKParams, dls_step, orientation_error, quat_multiply, yaw_down_quat
from sim.scene import load_model


@pytest.fixture(scope="module")
def kinematics():
    return ArmKinematics(load_model(), arm.TCP_SITE, arm.JOINT_NAMES)


finite = st.floats(-1.0, 1.0, allow_nan=False)


@settings(max_examples=200, deadline=None)
@given(
    jac=st.lists(finite, min_size=42, max_size=42),
    err=st.lists(finite, min_size=6, max_size=6),
    q_frac=st.lists(st.floats(0.0, 1.0), min_size=7, max_size=7),
)
def test_dls_step_never_leaves_joint_limits_or_exceeds_step_bound(jac, err, q_frac):
    params = IKParams(max_joint_step=0.1, limit_margin=0.02)
    q = arm.JOINT_LOWER + 0.02 + np.array(q_frac) * (arm.JOINT_UPPER - arm.JOINT_LOWER - 0.04)
    dq = dls_step(np.array(jac).reshape(6, 7), np.array(err) * 0.1, q, arm.JOINT_LOWER, arm.JOINT_UPPER, arm.HOME_QPOS, params)
    assert np.all(np.abs(dq) <= 0.1 + 1e-9)
    assert np.all(q + dq >= arm.JOINT_LOWER + 0.02 - 1e-9)
    assert np.all(q + dq <= arm.JOINT_UPPER - 0.02 + 1e-9)


def test_dls_step_reduces_a_small_task_error(kinematics):
    q = arm.HOME_QPOS.copy()
    pos, _ = kinematics.site_pose(q)
    target = pos + np.array([0.01, -0.01, 0.005])
    jac = kinematics.jacobian(q)[:3]
    dq = dls_step(jac, target - pos, q, arm.JOINT_LOWER, arm.JOINT_UPPER)
    new_pos, _ = kinematics.site_pose(q + dq)
    assert np.linalg.norm(target - new_pos) < 0.3 * np.linalg.norm(target - pos)


@settings(max_examples=100, deadline=None)
@given(axis=st.lists(st.floats(-1, 1), min_size=3, max_size=3), angle=st.floats(0.0, 3.0))
def test_orientation_error_is_the_rotation_vector_between_two_quaternions(axis, angle):
    axis = np.array(axis)
    if np.linalg.norm(axis) < 1e-3:
        axis = np.array([0.0, 0.0, 1.0])
    axis /= np.linalg.norm(axis)
    start = yaw_down_quat(0.3)
    turn = np.concatenate([[np.cos(angle / 2)], np.sin(angle / 2) * axis])
    err = orientation_error(start, quat_multiply(turn, start))
    np.testing.assert_allclose(err, axis * angle, atol=1e-6)


def test_solver_recovers_the_pose_of_random_reachable_configurations(kinematics):
    rng = np.random.default_rng(0)
    for _ in range(15):
        q_true = arm.HOME_QPOS + rng.uniform(-0.5, 0.5, 7)
        q_true = np.clip(q_true, arm.JOINT_LOWER + 0.05, arm.JOINT_UPPER - 0.05)
        pos, quat = kinematics.site_pose(q_true)
        q, err = kinematics.solve(arm.HOME_QPOS, pos, quat, q_posture=arm.HOME_QPOS, iterations=200)
        got_pos, got_quat = kinematics.site_pose(q)
        assert err < 1e-3
        assert np.linalg.norm(orientation_error(got_quat, quat)) < 1e-2


def test_jacobian_matches_finite_differences(kinematics):
    q = arm.HOME_QPOS + 0.1
    jac = kinematics.jacobian(q)[:3]
    eps = 1e-6
    for j in range(7):
        dq = np.zeros(7)
        dq[j] = eps
        numeric = (kinematics.site_pose(q + dq)[0] - kinematics.site_pose(q - dq)[0]) / (2 * eps)
        np.testing.assert_allclose(jac[:, j], numeric, atol=1e-5)


def test_home_pose_points_the_gripper_down_and_holds_under_gravity():
    model = load_model()
    data = mujoco.MjData(model)
    data.qpos[:7] = arm.HOME_QPOS
    data.ctrl[:7] = arm.HOME_QPOS
    data.ctrl[7] = arm.FINGER_OPEN
    data.qpos[7:9] = arm.FINGER_OPEN
    mujoco.mj_forward(model, data)
    start = data.site("tcp").xpos.copy()
    assert data.site("tcp").xmat.reshape(3, 3)[:, 2] @ np.array([0, 0, -1]) > 0.999
    mujoco.mj_step(model, data, nstep=1000)  # two seconds
    assert np.linalg.norm(data.site("tcp").xpos - start) < 1e-3
