"""Arm models behind Cartesian teleop, and the Koch v1.1 twin: the documented geometry and signs hold in
MuJoCo, the pointing-down IK reaches the workspace inside the limits, the servos hold and track the arm
under gravity, both cameras render, and the registry names what it knows."""

import mujoco
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.arm_model import SimArmModel
from sim.arm_models import ARM_MODELS, KochArmModel, SO101ArmModel, arm_model
from sim.down_ik import DownArmGeometry, down_ik
from sim.koch_scene import (
    CUBE_HALF_SIZE,
    CUBE_REGION,
    KOCH_JOINTS,
    KOCH_REST,
    KOCH_WORKSPACE,
    koch_scene_xml,
    load_koch_model,
)
from sim.rendering import CameraRenderer, RenderError
from teleop.dynamixel.config import ArmConfig

DOWN_TOLERANCE = np.deg2rad(10.0)


@pytest.fixture(scope="module")
def koch() -> KochArmModel:
    return KochArmModel()


def tilt_from_down(model: KochArmModel, q: np.ndarray) -> float:
    """Angle between the jaws' pointing direction (tcp z) and straight down."""
    model.kinematics.site_pose(q)
    z_axis = model.kinematics.data.site_xmat[model.kinematics.site_id].reshape(3, 3)[:, 2]
    return float(np.arccos(np.clip(-z_axis[2], -1.0, 1.0)))


def wrap(angle: float) -> float:
    return float(np.angle(np.exp(1j * angle)))


def test_zero_pose_stands_straight_up_to_the_documented_height(koch):
    pos, _ = koch.gripper_pose(np.zeros(5))
    np.testing.assert_allclose(pos, [0.0, 0.0, 0.06 + 0.108 + 0.100 + 0.085], atol=1e-9)
    g = koch.geometry
    assert (g.shoulder_height, g.upper_arm, g.forearm, g.hand) == pytest.approx((0.06, 0.108, 0.100, 0.085))
    assert g.shoulder_forward == 0.0 and g.zero_tilts == (0.0, 0.0, 0.0) and g.yaw_offset == 0.0
    assert g.signs == (1.0, 1.0, -1.0, -1.0, -1.0)  # elbow, wrist and roll turn about -y, -y, wrist-to-jaws
    assert tilt_from_down(koch, np.zeros(5)) == pytest.approx(np.pi)  # jaws pointing up


def test_joint_signs_are_the_documented_ones(koch):
    up, _ = koch.gripper_pose(np.zeros(5))
    forward, _ = koch.gripper_pose(np.array([0.0, 0.3, 0.0, 0.0, 0.0]))
    assert forward[0] > 0.05  # positive lift tilts the arm forward
    left, _ = koch.gripper_pose(np.array([0.5, 0.3, 0.0, 0.0, 0.0]))
    assert left[1] > 0.03  # positive pan turns it towards +y
    folded, _ = koch.gripper_pose(np.array([0.0, 0.0, -1.5, 0.0, 0.0]))
    assert folded[0] > 0.05 and folded[2] < up[2] - 0.1  # negative elbow folds the forearm forward and down
    bent, _ = koch.gripper_pose(np.array([0.0, 0.0, 0.0, -1.0, 0.0]))
    assert bent[0] > 0.05  # negative wrist bends the gripper forward
    # Pointing down (lift - elbow - wrist = pi), the gripper's yaw is pan - roll.
    for pan, roll in [(0.0, 0.0), (0.5, 0.2), (-1.0, 1.3)]:
        q = np.array([pan, 0.4, -1.9, 0.4 + 1.9 - np.pi, roll])
        assert tilt_from_down(koch, q) < 1e-9
        assert wrap(koch.gripper_pose(q)[1] - (pan - roll)) == pytest.approx(0.0, abs=1e-9)


def test_model_matches_the_follower_config(koch):
    joints = ArmConfig.load("koch_follower").joints
    assert tuple(j.name for j in joints) == KOCH_JOINTS == koch.joint_names
    np.testing.assert_allclose(koch.kinematics.q_lower, [j.lower for j in joints])
    np.testing.assert_allclose(koch.kinematics.q_upper, [j.upper for j in joints])
    assert koch.max_joint_velocity == min(j.max_velocity for j in joints)
    assert np.all((KOCH_REST > koch.kinematics.q_lower + 0.3) & (KOCH_REST < koch.kinematics.q_upper - 0.3))


def test_a_model_the_closed_form_does_not_fit_is_refused():
    sideways = koch_scene_xml(with_cube=False).replace(
        '<joint name="elbow_flex" class="xl330" axis="0 -1 0"', '<joint name="elbow_flex" class="xl330" axis="1 0 0"')
    with pytest.raises(ValueError, match="elbow_flex"):
        DownArmGeometry.from_model(mujoco.MjModel.from_xml_string(sideways), KOCH_JOINTS, "tcp")
    off_axis = koch_scene_xml(with_cube=False).replace('<site name="tcp" pos="0 0 0.055"', '<site name="tcp" pos="0.01 0 0.055"')
    with pytest.raises(ValueError, match="x-z plane|wrist_roll"):
        DownArmGeometry.from_model(mujoco.MjModel.from_xml_string(off_axis), KOCH_JOINTS, "tcp")


def converge(koch: KochArmModel, q: np.ndarray, target: np.ndarray, yaw: float, iterations: int = 200) -> np.ndarray:
    """Iterate IK steps of at most 0.05 rad as teleop would, checking each stays bounded and inside the limits."""
    for _ in range(iterations):
        q_next = koch.solve(q, target, yaw, 0.05)
        assert np.max(np.abs(q_next - q)) <= 0.05 + 1e-9
        assert np.all(q_next >= koch.kinematics.q_lower) and np.all(q_next <= koch.kinematics.q_upper)
        if np.allclose(q_next, q, atol=1e-12):
            break
        q = q_next
    return q


@pytest.mark.parametrize("start", ["rest", "random"])
def test_ik_reaches_random_workspace_targets_pointing_down(koch, start):
    rng = np.random.default_rng(7)
    low, high = np.array(KOCH_WORKSPACE[0]), np.array(KOCH_WORKSPACE[1])
    for _ in range(20):
        target, yaw = rng.uniform(low, high), rng.uniform(-1.5, 1.5)
        q0 = KOCH_REST if start == "rest" else rng.uniform(koch.kinematics.q_lower, koch.kinematics.q_upper)
        q = converge(koch, q0, target, yaw)
        pos, reached_yaw = koch.gripper_pose(q)
        assert np.linalg.norm(pos - target) < 0.005, (target, q)
        assert tilt_from_down(koch, q) < DOWN_TOLERANCE, (target, q)
        assert abs(wrap(reached_yaw - yaw)) < 0.02, (target, yaw, q)


def test_yaw_past_the_roll_limit_still_reaches_the_position_and_the_nearest_yaw(koch):
    target = np.array([0.12, 0.0, 0.04])  # pan 0: yaw pi needs roll -pi, beyond wrist_roll's +-2.8
    q = converge(koch, KOCH_REST, target, np.pi)
    pos, yaw = koch.gripper_pose(q)
    assert np.linalg.norm(pos - target) < 0.005 and tilt_from_down(koch, q) < DOWN_TOLERANCE
    assert abs(wrap(yaw - np.pi)) < np.pi - 2.8 + 0.03


@settings(max_examples=150)
@given(q_frac=st.lists(st.floats(0.0, 1.0), min_size=5, max_size=5),
       target=st.tuples(st.floats(-0.5, 0.5), st.floats(-0.5, 0.5), st.floats(-0.3, 0.6)),
       yaw=st.floats(-10.0, 10.0), step=st.floats(0.001, 0.3))
def test_any_target_gives_a_bounded_step_inside_the_limits(koch, q_frac, target, yaw, step):
    lower, upper = koch.kinematics.q_lower + 0.02, koch.kinematics.q_upper - 0.02
    q = lower + np.array(q_frac) * (upper - lower)
    q_next = koch.solve(q, np.array(target), yaw, step)
    assert np.all(np.isfinite(q_next))
    assert np.max(np.abs(q_next - q)) <= step + 1e-9
    assert np.all(q_next >= lower - 1e-12) and np.all(q_next <= upper + 1e-12)


def test_workspace_keeps_clear_of_joint_limits_and_the_stretched_elbow(koch):
    lower, upper = koch.kinematics.q_lower, koch.kinematics.q_upper
    axes = [np.linspace(KOCH_WORKSPACE[0][i], KOCH_WORKSPACE[1][i], 5) for i in range(3)]
    for point in np.stack(np.meshgrid(*axes), -1).reshape(-1, 3):
        q = down_ik(koch.geometry, point, 0.0, np.zeros(5))
        assert np.all(q[:4] > lower[:4] + 0.1) and np.all(q[:4] < upper[:4] - 0.1), (point, q)
        assert q[2] < -0.7, (point, q)  # elbow bent: well away from the singular stretched arm


def test_cube_region_is_graspable_from_above(koch):
    for x in CUBE_REGION[0][0], CUBE_REGION[1][0]:
        for y in CUBE_REGION[0][1], CUBE_REGION[1][1]:
            for z in 0.02, 0.06:  # grasp height (jaw tips 5 mm above the table), approach height
                q = converge(koch, KOCH_REST, np.array([x, y, z]), 0.0)
                assert np.linalg.norm(koch.gripper_pose(q)[0] - [x, y, z]) < 0.002
                assert tilt_from_down(koch, q) < DOWN_TOLERANCE


class Twin:
    """The scene with the servos driven straight from joint targets."""

    def __init__(self, with_cube: bool = True):
        self.model = load_koch_model(with_cube)
        self.data = mujoco.MjData(self.model)
        self.qpos = np.array([self.model.joint(j).qposadr[0] for j in KOCH_JOINTS])
        self.ctrl = np.array([self.model.actuator(j).id for j in KOCH_JOINTS])
        self.data.qpos[self.qpos] = KOCH_REST
        self.command(KOCH_REST)
        mujoco.mj_forward(self.model, self.data)

    def command(self, q: np.ndarray) -> None:
        self.data.ctrl[self.ctrl] = q

    def run(self, seconds: float) -> np.ndarray:
        for _ in range(round(seconds / self.model.opt.timestep)):
            mujoco.mj_step(self.model, self.data)
        return self.data.qpos[self.qpos].copy()


def test_servos_hold_the_rest_pose_under_gravity_without_touching_anything():
    twin = Twin()
    assert twin.model.opt.gravity[2] == pytest.approx(-9.81)
    assert 0.4 < twin.model.body_subtreemass[twin.model.body("base").id] < 0.55  # whole arm, kg
    q = twin.run(1.0)
    assert np.max(np.abs(q - KOCH_REST)) < 0.05
    cube = twin.data.joint("cube_joint").qpos
    np.testing.assert_allclose(cube[:3], [0.12, 0.0, CUBE_HALF_SIZE], atol=1e-3)  # resting, untouched
    touching = {twin.model.geom(c.geom1).name for c in twin.data.contact[:twin.data.ncon]} | {
        twin.model.geom(c.geom2).name for c in twin.data.contact[:twin.data.ncon]}
    assert touching <= {"table", "cube_geom"}


def test_servos_track_a_new_pose_within_a_tenth_of_a_second():
    twin = Twin(with_cube=False)
    twin.run(0.2)
    target = KOCH_REST + np.array([0.15, 0.15, 0.15, 0.15, 0.15])
    twin.command(target)
    q = twin.run(0.1)
    assert np.max(np.abs(q - target)) < 0.02


def test_ik_drives_the_physical_twin_to_a_cube_approach(koch):
    twin = Twin(with_cube=False)
    target = np.array([0.12, 0.03, 0.05])
    for _ in range(100):  # 2 s of 50 Hz teleop ticks from the measured joints
        twin.command(koch.solve(twin.data.qpos[twin.qpos], target, 0.3, 0.9 * koch.max_joint_velocity * 0.02))
        twin.run(0.02)
    mujoco.mj_forward(twin.model, twin.data)
    tcp = twin.data.site("tcp").xpos
    assert np.linalg.norm(tcp - target) < 0.005


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


def test_registry_builds_each_model_and_names_them_on_a_mistake():
    assert set(ARM_MODELS) == {"panda", "koch_v1_1", "so101"}
    assert isinstance(arm_model("koch_v1_1"), KochArmModel)
    assert isinstance(arm_model("so101"), SO101ArmModel)
    panda = arm_model("panda")
    assert isinstance(panda, SimArmModel) and len(panda.joint_names) == 7
    assert panda.workspace == ((0.20, -0.45, 0.02), (0.80, 0.45, 0.60))
    with pytest.raises(ValueError) as error:
        arm_model("x")
    assert str(error.value) == "unknown arm model 'x'; known: panda, koch_v1_1, so101"
