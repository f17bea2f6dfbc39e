"""Differential inverse kinematics: damped least squares on MuJoCo's Jacobians.

The maths (``dls_step``, quaternion helpers) are pure functions of arrays. ``ArmKinematics`` owns a
private ``MjData`` and computes forward kinematics and Jacobians from joint positions alone, so an
expert or a gamepad mapper can use it on any observed state — from the sim or from a real arm.
"""

from __future__ import annotations

from dataclasses import dataclass

import mujoco
import numpy as np


def quat_multiply(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Hamilton product of two (w, x, y, z) quaternions."""
    aw, ax, ay, az = a
    bw, bx, by, bz = b
    return np.array([
        aw * bw - ax * bx - ay * by - az * bz,
        aw * bx + ax * bw + ay * bz - az * by,
        aw * by - ax * bz + ay * bw + az * bx,
        aw * bz + ax * by - ay * bx + az * bw,
    ])


def quat_conjugate(q: np.ndarray) -> np.ndarray:
    return np.array([q[0], -q[1], -q[2], -q[3]])


def orientation_error(current: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Rotation vector (axis * angle, world frame) that turns ``current`` into ``target`` by the short way."""
    delta = quat_multiply(target, quat_conjugate(current))
    if delta[0] < 0.0:
        delta = -delta
    sin_half = np.linalg.norm(delta[1:])
    if sin_half < 1e-12:
        return np.zeros(3)
    angle = 2.0 * np.arctan2(sin_half, delta[0])
    return delta[1:] / sin_half * angle


def yaw_down_quat(yaw: float) -> np.ndarray:
    """Gripper pointing straight down (tool z = world -z), rotated by ``yaw`` about world z."""
    down = np.array([0.0, 1.0, 0.0, 0.0])  # 180 degrees about x
    spin = np.array([np.cos(yaw / 2), 0.0, 0.0, np.sin(yaw / 2)])
    return quat_multiply(spin, down)


@dataclass(frozen=True)
class IKParams:
    """Tuning of one differential-IK step."""

    damping: float = 0.05
    nullspace_gain: float = 0.3
    orientation_weight: float = 0.5
    max_joint_step: float = 0.25
    limit_margin: float = 0.02


def dls_step(
    jacobian: np.ndarray,
    error: np.ndarray,
    q: np.ndarray,
    q_lower: np.ndarray,
    q_upper: np.ndarray,
    q_posture: np.ndarray | None = None,
    params: IKParams = IKParams(),
) -> np.ndarray:
    """One damped-least-squares joint step ``dq`` that reduces a task-space ``error``.

    ``jacobian`` is (m, n) and ``error`` (m,). A posture term pulls towards ``q_posture`` in the
    Jacobian's nullspace, and the result keeps ``q + dq`` inside the joint limits (less a margin)
    with every joint's step bounded by ``max_joint_step``.
    """
    n = jacobian.shape[1]
    jjt = jacobian @ jacobian.T + (params.damping**2) * np.eye(jacobian.shape[0])
    dq = jacobian.T @ np.linalg.solve(jjt, error)
    if q_posture is not None and params.nullspace_gain > 0.0:
        # Exact (undamped) projector: a damped one would let the posture pull leak into the task.
        # A (numerically) zero Jacobian has everything in its nullspace; pinv's tolerance is relative
        # to the largest singular value, so it would invert a denormal one into infinities.
        degenerate = np.abs(jacobian).max() < 1e-12
        nullspace = np.eye(n) if degenerate else np.eye(n) - np.linalg.pinv(jacobian, rcond=1e-4) @ jacobian
        dq = dq + nullspace @ (params.nullspace_gain * (q_posture - q))
    if not np.isfinite(dq).all():  # never a NaN joint target out of the maths: stay put
        dq = np.zeros(n)
    largest = np.max(np.abs(dq))
    if largest > params.max_joint_step:
        dq = dq * (params.max_joint_step / largest)
    lower = q_lower + params.limit_margin
    upper = q_upper - params.limit_margin
    return np.clip(q + dq, lower, upper) - q


class ArmKinematics:
    """Forward kinematics and Jacobians of one site, from joint positions alone."""

    def __init__(self, model: mujoco.MjModel, site: str, joint_names: tuple[str, ...]):
        self.model = model
        self.data = mujoco.MjData(model)
        self.site_id = model.site(site).id
        joints = [model.joint(name) for name in joint_names]
        self.qpos_index = np.array([j.qposadr[0] for j in joints])
        self.dof_index = np.array([j.dofadr[0] for j in joints])
        self.q_lower = np.array([j.range[0] for j in joints])
        self.q_upper = np.array([j.range[1] for j in joints])
        self._jacp = np.zeros((3, model.nv))
        self._jacr = np.zeros((3, model.nv))

    def _update(self, q: np.ndarray) -> None:
        self.data.qpos[self.qpos_index] = q
        mujoco.mj_kinematics(self.model, self.data)
        mujoco.mj_comPos(self.model, self.data)

    def site_pose(self, q: np.ndarray, update: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """Site position (3,) and orientation quaternion (4,) for joint positions ``q``."""
        if update:
            self._update(q)
        quat = np.zeros(4)
        mujoco.mju_mat2Quat(quat, self.data.site_xmat[self.site_id])
        return self.data.site_xpos[self.site_id].copy(), quat

    def jacobian(self, q: np.ndarray) -> np.ndarray:
        """(6, n) Jacobian [linear; angular] of the site over the arm joints."""
        self._update(q)
        mujoco.mj_jacSite(self.model, self.data, self._jacp, self._jacr, self.site_id)
        return np.vstack([self._jacp[:, self.dof_index], self._jacr[:, self.dof_index]])

    def step_towards(
        self,
        q: np.ndarray,
        target_pos: np.ndarray,
        target_quat: np.ndarray | None,
        q_posture: np.ndarray | None = None,
        params: IKParams = IKParams(),
    ) -> np.ndarray:
        """Joint positions one DLS step closer to the target pose (orientation optional)."""
        jac = self.jacobian(q)
        pos, quat = self.site_pose(q, update=False)
        pos_err = target_pos - pos
        if target_quat is None:
            jac, err = jac[:3], pos_err
        else:
            rot_err = orientation_error(quat, target_quat)
            jac = np.vstack([jac[:3], params.orientation_weight * jac[3:]])
            err = np.concatenate([pos_err, params.orientation_weight * rot_err])
        return q + dls_step(jac, err, q, self.q_lower, self.q_upper, q_posture, params)

    def solve(
        self,
        q_start: np.ndarray,
        target_pos: np.ndarray,
        target_quat: np.ndarray | None = None,
        q_posture: np.ndarray | None = None,
        iterations: int = 100,
        tolerance: float = 1e-4,
        params: IKParams = IKParams(),
    ) -> tuple[np.ndarray, float]:
        """Iterate DLS steps to a pose; returns (q, final position error in metres)."""
        q = np.array(q_start, dtype=float)
        error = np.inf
        for _ in range(iterations):
            q = self.step_towards(q, target_pos, target_quat, q_posture, params)
            pos, quat = self.site_pose(q)
            error = float(np.linalg.norm(target_pos - pos))
            rot = 0.0 if target_quat is None else float(np.linalg.norm(orientation_error(quat, target_quat)))
            if error < tolerance and rot < 10 * tolerance:
                break
        return q, error
