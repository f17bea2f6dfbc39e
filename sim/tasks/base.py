"""The gymnasium environment every arm task shares: physics stepping, observations, actions, rendering.

A task subclass adds its bodies to the scene, randomises its initial state from the seed, reports
its own observation keys, and says when it has succeeded or failed.
"""

from __future__ import annotations

import gymnasium as gym
import mujoco
import numpy as np
from gymnasium import spaces

from hgdagger.common.types import EpisodeOutcome
from sim import arm
from sim.kinematics import ArmKinematics
from sim.rendering import CameraRenderer, select_gl_backend
from sim.scene import load_model


class ActionError(ValueError):
    """An action the arm must not receive (wrong shape, NaN or infinite values)."""


class SeedError(ValueError):
    """A seed that cannot seed a reproducible episode."""


def validate_action(action, action_dim: int = arm.ACTION_DIM) -> np.ndarray:
    """The action as a float array, or an ActionError naming what is wrong with it."""
    try:
        values = np.asarray(action, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ActionError(f"action must be {action_dim} numbers (7 joint targets in rad + gripper 0..1): {exc}") from exc
    if values.shape != (action_dim,):
        raise ActionError(
            f"action has shape {values.shape}, expected ({action_dim},): 7 joint-position targets (rad) + 1 gripper value"
        )
    bad = np.flatnonzero(~np.isfinite(values))
    if bad.size:
        raise ActionError(f"action has non-finite values at indices {bad.tolist()}: {values[bad].tolist()}")
    return values


def substeps_per_control_step(control_hz: float, timestep: float) -> int:
    """Physics steps per control step; the control period must be a whole number of them."""
    exact = 1.0 / (control_hz * timestep)
    substeps = int(round(exact))
    if substeps < 1 or abs(exact - substeps) > 1e-6:
        raise ValueError(
            f"control_hz={control_hz} needs {exact:.3f} physics steps of {timestep * 1000:g} ms per control step; "
            f"choose a rate whose period is a whole multiple of {timestep * 1000:g} ms (e.g. 20, 50, 100 or 200 Hz)"
        )
    return substeps


def validate_seed(seed) -> int | None:
    if seed is None:
        return None
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise SeedError(f"seed must be a non-negative integer or None, got {seed!r}")
    return int(seed)


TaskOutcome = EpisodeOutcome  # a task's success check, in the driver protocol's terms


class ArmTaskEnv(gym.Env):
    """Base class: a 7-DoF arm with a parallel gripper at a fixed control rate."""

    metadata = {"render_modes": ["rgb_array"], "render_fps": 20}
    task_name = "base"
    milestones: tuple[str, ...] = ()  # the task's sub-goals, in the order the expert reaches them
    default_max_steps = 100
    home_noise = 0.05

    def __init__(
        self,
        render_mode: str | None = None,
        control_hz: float = 20.0,
        max_steps: int | None = None,
        cameras: tuple[str, ...] = (),
        image_size: tuple[int, int] = (128, 128),
        render_size: tuple[int, int] = (480, 640),
    ):
        if render_mode not in (None, "rgb_array"):
            raise ValueError(f"render_mode must be None or 'rgb_array', got {render_mode!r}")
        unknown = [c for c in cameras if c not in arm.CAMERAS]
        if unknown:
            raise ValueError(f"unknown cameras {unknown}; the arm has {list(arm.CAMERAS)}")
        if control_hz <= 0:
            raise ValueError(f"control_hz must be positive, got {control_hz}")
        if cameras or render_mode:
            select_gl_backend()
        self.render_mode = render_mode
        self.cameras = tuple(cameras)
        self.image_size = tuple(image_size)
        self.render_size = tuple(render_size)
        self.max_steps = int(max_steps or self.default_max_steps)

        bodies, assets = self._task_xml()
        self.model = load_model(bodies, assets)
        self.data = mujoco.MjData(self.model)
        self.control_hz = float(control_hz)
        self.substeps = substeps_per_control_step(control_hz, self.model.opt.timestep)
        self.metadata = {**self.metadata, "render_fps": int(round(control_hz))}

        self._arm_qpos = np.array([self.model.joint(j).qposadr[0] for j in arm.JOINT_NAMES])
        self._arm_dof = np.array([self.model.joint(j).dofadr[0] for j in arm.JOINT_NAMES])
        self._finger_qpos = np.array([self.model.joint(j).qposadr[0] for j in arm.FINGER_JOINTS])
        self._tcp = self.model.site(arm.TCP_SITE).id
        self.kinematics = ArmKinematics(self.model, arm.TCP_SITE, arm.JOINT_NAMES)
        self._action_low = np.append(arm.JOINT_LOWER, 0.0)
        self._action_high = np.append(arm.JOINT_UPPER, 1.0)
        self.action_space = spaces.Box(self._action_low.astype(np.float32), self._action_high.astype(np.float32), dtype=np.float32)
        self.observation_space = spaces.Dict(self._observation_spaces())
        self._renderers: dict[tuple[int, int], CameraRenderer] = {}
        self._steps = 0
        self._gripper_command = 0.0
        self._outcome = TaskOutcome(False)
        self._milestones_reached = 0
        self.np_random_seed_value: int | None = None

    # ---- hooks for tasks -------------------------------------------------------------------
    def _task_xml(self) -> tuple[str, str]:
        """(bodies, assets) MJCF snippets this task adds to the scene."""
        return "", ""

    def _task_spaces(self) -> dict[str, spaces.Space]:
        return {}

    def _task_observation(self) -> dict[str, np.ndarray]:
        return {}

    def _randomize(self, rng: np.random.Generator) -> None:
        """Place the task's objects and targets for a new episode (arm already at a start pose)."""

    def _initial_arm_qpos(self, rng: np.random.Generator) -> np.ndarray:
        noise = rng.uniform(-self.home_noise, self.home_noise, size=arm.HOME_QPOS.shape)
        return np.clip(arm.HOME_QPOS + noise, arm.JOINT_LOWER, arm.JOINT_UPPER)

    def _evaluate(self) -> TaskOutcome:
        return TaskOutcome(False)

    def _milestone_reached(self, index: int) -> bool:
        """Whether the state now satisfies sub-goal `milestones[index]` (checked in order, once each:
        how far into a long task a policy gets, for measuring failure against horizon)."""
        return False

    # ---- gymnasium API ---------------------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict | None = None):
        seed = validate_seed(seed)
        super().reset(seed=seed)
        if seed is not None:
            self.np_random_seed_value = seed
        mujoco.mj_resetData(self.model, self.data)
        q0 = self._initial_arm_qpos(self.np_random)
        self.data.qpos[self._arm_qpos] = q0
        self.data.ctrl[: len(q0)] = q0
        self.data.qpos[self._finger_qpos] = arm.FINGER_OPEN
        self._gripper_command = 0.0
        self.data.ctrl[len(q0)] = arm.gripper_command_to_ctrl(0.0)
        self._randomize(self.np_random)
        mujoco.mj_forward(self.model, self.data)
        self._steps = 0
        self._outcome = TaskOutcome(False)
        self._milestones_reached = 0
        return self._observation(), self._info()

    def step(self, action):
        values = validate_action(action, self._action_low.size)
        clipped = np.clip(values, self._action_low, self._action_high)
        self.data.ctrl[: arm.ACTION_DIM - 1] = clipped[:-1]
        self._gripper_command = float(clipped[-1])
        self.data.ctrl[arm.ACTION_DIM - 1] = arm.gripper_command_to_ctrl(self._gripper_command)
        mujoco.mj_step(self.model, self.data, nstep=self.substeps)
        self._steps += 1
        self._outcome = self._evaluate()
        while self._milestones_reached < len(self.milestones) and self._milestone_reached(self._milestones_reached):
            self._milestones_reached += 1
        terminated = self._outcome.success or bool(self._outcome.failure)
        truncated = not terminated and self._steps >= self.max_steps
        reward = 1.0 if self._outcome.success else 0.0
        info = self._info()
        info["action_clipped"] = bool(np.any(clipped != values))
        return self._observation(), reward, terminated, truncated, info

    def render(self):
        if self.render_mode != "rgb_array":
            return None
        return self.render_camera("front", *self.render_size)

    def close(self):
        for renderer in self._renderers.values():
            renderer.close()
        self._renderers.clear()

    # ---- helpers ---------------------------------------------------------------------------
    def render_camera(self, camera: str, height: int, width: int) -> np.ndarray:
        """An RGB frame from a named camera at any size up to 480x640."""
        key = (height, width)
        if key not in self._renderers:
            select_gl_backend()
            self._renderers[key] = CameraRenderer(self.model, height, width)
        return self._renderers[key].render(self.data, camera)

    @property
    def step_count(self) -> int:
        return self._steps

    @property
    def outcome(self) -> TaskOutcome:
        return self._outcome

    @property
    def gripper_command(self) -> float:
        return self._gripper_command

    def gripper_closure(self) -> float:
        """Measured gripper state on the action's scale: 0 fully open .. 1 fully closed."""
        return arm.finger_opening_to_gripper(float(np.mean(self.data.qpos[self._finger_qpos])))

    def tcp_pose(self) -> tuple[np.ndarray, np.ndarray]:
        quat = np.zeros(4)
        mujoco.mju_mat2Quat(quat, self.data.site_xmat[self._tcp])
        return self.data.site_xpos[self._tcp].copy(), canonical_gripper_quat(quat)

    def _observation_spaces(self) -> dict[str, spaces.Space]:
        def box(n):
            return vector_space(n)

        obs = {
            "joint_pos": box(7),
            "joint_vel": box(7),
            "gripper_pos": box(1),
            "ee_pos": box(3),
            "ee_quat": box(4),
        }
        obs.update(self._task_spaces())
        for cam in self.cameras:
            obs[f"{cam}_rgb"] = spaces.Box(0, 255, shape=(*self.image_size, 3), dtype=np.uint8)
        return obs

    def _observation(self) -> dict[str, np.ndarray]:
        ee_pos, ee_quat = self.tcp_pose()
        obs = {
            "joint_pos": self.data.qpos[self._arm_qpos].copy(),
            "joint_vel": self.data.qvel[self._arm_dof].copy(),
            "gripper_pos": np.array([self.gripper_closure()]),
            "ee_pos": ee_pos,
            "ee_quat": ee_quat,
        }
        obs.update(self._task_observation())
        for cam in self.cameras:
            obs[f"{cam}_rgb"] = self.render_camera(cam, *self.image_size)
        return obs

    def _info(self) -> dict:
        return {
            "is_success": self._outcome.success,
            "failure": self._outcome.failure,
            "step": self._steps,
            "task": self.task_name,
            "milestones_reached": self._milestones_reached,
        }

    def _set_free_body(self, body: str, pos: np.ndarray, yaw: float = 0.0) -> None:
        joint = self.model.body(body).jntadr[0]
        adr = self.model.jnt_qposadr[joint]
        self.data.qpos[adr : adr + 3] = pos
        self.data.qpos[adr + 3 : adr + 7] = [np.cos(yaw / 2), 0.0, 0.0, np.sin(yaw / 2)]

    def _free_body_pose(self, body: str) -> tuple[np.ndarray, np.ndarray]:
        joint = self.model.body(body).jntadr[0]
        adr = self.model.jnt_qposadr[joint]
        quat = self.data.qpos[adr + 3 : adr + 7].copy()
        return self.data.qpos[adr : adr + 3].copy(), quat if quat[0] >= 0 else -quat

    def _set_mocap(self, body: str, pos: np.ndarray) -> None:
        self.data.mocap_pos[self.model.body(body).mocapid[0]] = pos

    def _contacts_between(self, geom_a: int, body_root: int) -> bool:
        """True if geom ``geom_a`` touches any geom of the subtree rooted at body ``body_root``."""
        for i in range(self.data.ncon):
            c = self.data.contact[i]
            for mine, other in ((c.geom1, c.geom2), (c.geom2, c.geom1)):
                if mine == geom_a and self.model.body_rootid[self.model.geom_bodyid[other]] == body_root:
                    return True
        return False


def vector_space(size: int, bound: float = 100.0) -> spaces.Box:
    """A low-dimensional observation: metres, radians, rad/s and unit quaternions all fit in ±100."""
    return spaces.Box(-bound, bound, shape=(size,), dtype=np.float64)


def canonical_gripper_quat(quat: np.ndarray) -> np.ndarray:
    """Fix the quaternion's sign so that x >= 0.

    A downward-pointing gripper has w close to 0, so the usual w >= 0 rule would flip the sign back
    and forth; x >= 0 is continuous for every downward pose within ±90° of yaw from home.
    """
    return quat if quat[1] >= 0 else -quat
