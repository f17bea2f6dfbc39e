"""The SO-101 model and its kinematics: the URDF-derived geometry and the servos' signs hold in MuJoCo,
the pointing-down closed form reaches random workspace targets inside the limits, the servos hold and
track the arm under gravity, both cameras render, and a real SO-101 robot config names the model."""

import json
from pathlib import Path

import mujoco
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.arm_models import SO101ArmModel, arm_model
from sim.down_ik import down_ik, wrap
from sim.rendering import CameraRenderer, RenderError
from sim.so101_scene import SO101_CUBE_REGION, SO101_JOINTS, SO101_REST, SO101_SCENE, SO101_WORKSPACE
from teleop.feetech.config import FeetechArmConfig

ROOT = Path(__file__).resolve().parents[1]
DOWN_TOLERANCE = np.deg2rad(10.0)


@pytest.fixture(scope="module")
def so101() -> SO101ArmModel:
    return arm_model("so101")


def tilt_from_down(model: SO101ArmModel, q: np.ndarray) -> float:
    """Angle between the jaws' pointing direction (tcp z) and straight down."""
    model.kinematics.site_pose(q)
    z_axis = model.kinematics.data.site_xmat[model.kinematics.site_id].reshape(3, 3)[:, 2]
    return float(np.arccos(np.clip(-z_axis[2], -1.0, 1.0)))


def test_zero_pose_is_the_urdfs_l_with_the_documented_lengths(so101):
    pos, _ = so101.gripper_pose(np.zeros(5))
    # so101_new_calib.urdf's joint origins: lift 0.1166 up and 0.0304 ahead; the upper arm 0.1126 up,
    # 0.028 forward; forearm 0.1349 forward, 0.0052 up; wrist_flex to tcp 0.1595 forward.
    np.testing.assert_allclose(pos, [0.0304 + 0.028 + 0.1349 + 0.1595, 0.0, 0.1166 + 0.1126 + 0.0052], atol=1e-9)
    g = so101.geometry
    assert (g.shoulder_height, g.shoulder_forward) == pytest.approx((0.1166, 0.0304))
    assert (g.upper_arm, g.forearm, g.hand) == pytest.approx((np.hypot(0.1126, 0.028), np.hypot(0.1349, 0.0052), 0.1595))
    assert g.signs == (-1.0, 1.0, 1.0, 1.0, 1.0)
    assert tilt_from_down(so101, np.zeros(5)) == pytest.approx(np.pi / 2)  # gripper level, pointing forward


def test_joint_signs_are_the_servos(so101):
    zero, _ = so101.gripper_pose(np.zeros(5))
    right, _ = so101.gripper_pose(np.array([0.5, 0.0, 0.0, 0.0, 0.0]))
    assert right[1] < -0.1  # positive pan turns clockwise from above, towards -y
    forward, _ = so101.gripper_pose(np.array([0.0, 0.3, 0.0, 0.0, 0.0]))
    assert forward[2] < zero[2] - 0.03  # positive lift tilts the arm forward (and the level forearm down)
    folded, _ = so101.gripper_pose(np.array([0.0, 0.0, 1.0, 0.0, 0.0]))
    assert folded[2] < zero[2] - 0.15  # positive elbow folds the forearm down
    bent, _ = so101.gripper_pose(np.array([0.0, 0.0, 0.0, 1.0, 0.0]))
    assert bent[2] < zero[2] - 0.1  # positive wrist bends the gripper down
    # Pointing down, yaw is roll minus pan (pan turns clockwise, roll counter-clockwise seen from above).
    for pan, roll in [(0.0, 0.0), (0.5, 0.2), (-1.0, 1.3)]:
        q = down_ik(so101.geometry, np.array([0.16, 0.0, 0.04]), 0.0, np.zeros(5))
        q[0], q[4] = pan, roll
        assert tilt_from_down(so101, q) < 1e-6  # arccos near 1: float noise only
        assert wrap(so101.gripper_pose(q)[1] - (roll - pan)) == pytest.approx(0.0, abs=1e-9)


def test_model_matches_the_follower_config(so101):
    arm = FeetechArmConfig.load("so101_follower")
    assert tuple(j.name for j in arm.joints) == SO101_JOINTS == so101.joint_names
    np.testing.assert_allclose(so101.kinematics.q_lower, [j.lower for j in arm.joints])
    np.testing.assert_allclose(so101.kinematics.q_upper, [j.upper for j in arm.joints])
    assert so101.max_joint_velocity == min(j.max_velocity for j in arm.joints)
    assert np.all((SO101_REST > so101.kinematics.q_lower + 0.3) & (SO101_REST < so101.kinematics.q_upper - 0.3))
    model = SO101_SCENE.load_model()
    gripper = model.jnt_range[model.joint("gripper").id]
    assert gripper[1] - gripper[0] == pytest.approx((arm.gripper.closed_ticks - arm.gripper.open_ticks) * 2 * np.pi / 4096, abs=1e-3)


def test_the_real_so101_robot_is_driven_through_this_model():
    robot = json.loads((ROOT / "hgdagger/robots/builtin/so101.json").read_text())
    assert robot["kinematics"] == "so101"


def converge(model: SO101ArmModel, q: np.ndarray, target: np.ndarray, yaw: float, iterations: int = 200) -> np.ndarray:
    """Iterate IK steps of at most 0.05 rad as teleop would, checking each stays bounded and inside the limits."""
    for _ in range(iterations):
        q_next = model.solve(q, target, yaw, 0.05)
        assert np.max(np.abs(q_next - q)) <= 0.05 + 1e-9
        assert np.all(q_next >= model.kinematics.q_lower) and np.all(q_next <= model.kinematics.q_upper)
        if np.allclose(q_next, q, atol=1e-12):
            break
        q = q_next
    return q


@pytest.mark.parametrize("start", ["rest", "random"])
def test_ik_reaches_random_workspace_targets_pointing_down(so101, start):
    rng = np.random.default_rng(11)
    low, high = np.array(SO101_WORKSPACE[0]), np.array(SO101_WORKSPACE[1])
    for _ in range(25):
        target, yaw = rng.uniform(low, high), rng.uniform(-1.5, 1.5)
        q0 = SO101_REST if start == "rest" else rng.uniform(so101.kinematics.q_lower, so101.kinematics.q_upper)
        q = converge(so101, q0, target, yaw)
        pos, reached_yaw = so101.gripper_pose(q)
        assert np.linalg.norm(pos - target) < 0.005, (target, q)
        assert tilt_from_down(so101, q) < DOWN_TOLERANCE, (target, q)
        assert abs(wrap(reached_yaw - yaw)) < 0.02, (target, yaw, q)


@settings(max_examples=100)
@given(q_frac=st.lists(st.floats(0.0, 1.0), min_size=5, max_size=5),
       target=st.tuples(st.floats(-0.6, 0.6), st.floats(-0.6, 0.6), st.floats(-0.3, 0.7)),
       yaw=st.floats(-10.0, 10.0), step=st.floats(0.001, 0.3))
def test_any_target_gives_a_bounded_step_inside_the_limits(so101, q_frac, target, yaw, step):
    lower, upper = so101.kinematics.q_lower + 0.02, so101.kinematics.q_upper - 0.02
    q = lower + np.array(q_frac) * (upper - lower)
    q_next = so101.solve(q, np.array(target), yaw, step)
    assert np.all(np.isfinite(q_next))
    assert np.max(np.abs(q_next - q)) <= step + 1e-9
    assert np.all(q_next >= lower - 1e-12) and np.all(q_next <= upper + 1e-12)


def test_workspace_keeps_clear_of_joint_limits_and_the_stretched_elbow(so101):
    g, lower, upper = so101.geometry, so101.kinematics.q_lower, so101.kinematics.q_upper
    axes = [np.linspace(SO101_WORKSPACE[0][i], SO101_WORKSPACE[1][i], 7) for i in range(3)]
    for point in np.stack(np.meshgrid(*axes), -1).reshape(-1, 3):
        q = down_ik(g, point, 0.0, np.zeros(5))
        assert np.all(q[:4] > lower[:4] + 0.1) and np.all(q[:4] < upper[:4] - 0.1), (point, q)
        bend = q[2] + g.zero_tilts[1] - g.zero_tilts[0]  # the forearm's turn from the upper arm's line
        assert bend > 0.8, (point, q)


def test_cube_region_is_reachable_from_above(so101):
    for x in SO101_CUBE_REGION[0][0], SO101_CUBE_REGION[1][0]:
        for y in SO101_CUBE_REGION[0][1], SO101_CUBE_REGION[1][1]:
            for z in 0.02, 0.06:  # jaw tips 9 mm above the table; the reach task's hover point
                q = converge(so101, SO101_REST, np.array([x, y, z]), 0.0)
                assert np.linalg.norm(so101.gripper_pose(q)[0] - [x, y, z]) < 0.002
                assert tilt_from_down(so101, q) < DOWN_TOLERANCE


class Twin:
    """The scene with the servos driven straight from joint targets."""

    def __init__(self, with_cube: bool = True):
        self.model = SO101_SCENE.load_model(with_cube)
        self.data = mujoco.MjData(self.model)
        self.qpos = np.array([self.model.joint(j).qposadr[0] for j in SO101_JOINTS])
        self.ctrl = np.array([self.model.actuator(j).id for j in SO101_JOINTS])
        self.data.qpos[self.qpos] = SO101_REST
        self.command(SO101_REST)
        mujoco.mj_forward(self.model, self.data)

    def command(self, q: np.ndarray) -> None:
        self.data.ctrl[self.ctrl] = q

    def run(self, seconds: float) -> np.ndarray:
        mujoco.mj_step(self.model, self.data, nstep=round(seconds / self.model.opt.timestep))
        return self.data.qpos[self.qpos].copy()


def test_servos_hold_the_rest_pose_under_gravity_without_touching_anything():
    twin = Twin()
    assert 0.55 < twin.model.body_subtreemass[twin.model.body("base").id] < 0.7  # the URDF's links: 0.63 kg
    q = twin.run(1.0)
    assert np.max(np.abs(q - SO101_REST)) < 0.05
    np.testing.assert_allclose(twin.data.joint("cube_joint").qpos[:3], [0.2, 0.0, 0.015], atol=1e-3)
    touching = {twin.model.geom(c.geom1).name for c in twin.data.contact[:twin.data.ncon]} | {
        twin.model.geom(c.geom2).name for c in twin.data.contact[:twin.data.ncon]}
    assert touching <= {"table", "cube_geom", "base_housing"}


def test_servos_track_a_new_pose_within_a_tenth_of_a_second():
    twin = Twin(with_cube=False)
    twin.run(0.2)
    target = SO101_REST + np.array([0.15, 0.15, 0.15, -0.15, 0.15])
    twin.command(target)
    q = twin.run(0.1)
    assert np.max(np.abs(q - target)) < 0.02


def test_ik_drives_the_physical_twin_to_a_cube_approach(so101):
    twin = Twin(with_cube=False)
    target = np.array([0.16, 0.04, 0.06])
    for _ in range(100):  # 2 s of 50 Hz teleop ticks from the measured joints
        twin.command(so101.solve(twin.data.qpos[twin.qpos], target, 0.3, 0.9 * so101.max_joint_velocity * 0.02))
        twin.run(0.02)
    mujoco.mj_forward(twin.model, twin.data)
    assert np.linalg.norm(twin.data.site("tcp").xpos - target) < 0.005


@pytest.mark.parametrize("camera", ["front", "wrist"])
def test_cameras_render_headless(camera):
    twin = Twin()
    try:
        renderer = CameraRenderer(twin.model, 64, 64)
    except RenderError as exc:
        pytest.skip(f"no headless OpenGL here: {exc}")
    try:
        image = renderer.render(twin.data, camera)
    finally:
        renderer.close()
    assert image.shape == (64, 64, 3) and image.dtype == np.uint8
    assert 30 < image.mean() < 230 and image.std() > 10  # lit, with structure
    if camera == "front":
        red = (image[..., 0] > 150) & (image[..., 1] < 90) & (image[..., 2] < 90)
        assert red.sum() >= 3  # the cube is in view


@pytest.mark.parametrize("direction", [(0.0, 0.0, 0.0), (1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, -1.0)])
def test_cartesian_teleop_takes_the_arm_from_rest_into_the_workspace_pointing_down(so101, direction):
    """A gamepad taking over at rest (too high to point down there): the target starts inside the
    workspace, the arm follows it pointing down and goes where the stick says."""
    from teleop.cartesian import CartesianMapper, Twist

    twin = Twin(with_cube=False)
    mapper = CartesianMapper(so101)
    mapper.start_from(twin.data.qpos[twin.qpos], 0.0)
    for _ in range(60):  # 2 s at the SO-101's 30 Hz
        action = mapper.step(Twist(linear=np.array(direction)), twin.data.qpos[twin.qpos], 1 / 30)
        twin.command(action[:5])
        twin.run(1 / 30)
    q = twin.data.qpos[twin.qpos]
    tcp = so101.gripper_pose(q)[0]
    assert np.linalg.norm(tcp - mapper.target_pos) < 0.006 and tilt_from_down(so101, q) < np.deg2rad(3)
    start = np.clip(so101.gripper_pose(SO101_REST)[0], *map(np.asarray, SO101_WORKSPACE))
    assert np.all(np.sign(np.round(mapper.target_pos - start, 3)) == np.sign(direction))
