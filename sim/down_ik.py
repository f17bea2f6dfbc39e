"""Closed-form "tcp at a point, pointing down, at a yaw" for 5-joint arms (pan, lift, elbow,
wrist_flex, wrist_roll): the Koch v1.1 and the SO-101. Pure maths on a geometry read from the MJCF.

Five joints and five constraints leave one elbow-up solution: pan from the target's bearing, a planar
two-link solve for the wrist point, wrist_flex to finish pointing down, roll for the yaw. The arms
differ in where their zero pose is (the Koch stands straight up; the SO-101's zero is the middle of
its ranges, an L), in which way each joint turns, and in a shoulder axis set ahead of the pan axis.
``DownArmGeometry.from_model`` reads all of that at the zero pose, then checks the closed form
against the model's own forward kinematics, so a model it does not fit is refused, never solved
wrongly.
"""

from __future__ import annotations

from dataclasses import dataclass

import mujoco
import numpy as np

AXIS_TOLERANCE = 1e-9


def wrap(angle: float) -> float:
    """``angle`` in (-pi, pi]."""
    return float(np.pi - (np.pi - angle) % (2.0 * np.pi))


@dataclass(frozen=True)
class DownArmGeometry:
    """The planar chain in the arm's vertical plane (m, rad). A link's tilt is its angle from
    straight up, positive leaning forward (away from the pan axis)."""

    shoulder_height: float  # table to the shoulder_lift axis
    shoulder_forward: float  # pan axis to the shoulder_lift axis, horizontally
    upper_arm: float  # shoulder_lift to elbow_flex
    forearm: float  # elbow_flex to wrist_flex
    hand: float  # wrist_flex to the tcp, along the roll axis
    zero_tilts: tuple[float, float, float] = (0.0, 0.0, 0.0)  # upper arm, forearm, hand at the zero pose
    signs: tuple[float, ...] = (1.0, 1.0, 1.0, 1.0, 1.0)  # pan: +1 turns counter-clockwise from above;
    # lift, elbow, wrist: +1 tilts forward; roll: +1 turns the pointing-down gripper's yaw counter-clockwise
    yaw_offset: float = 0.0  # the pointing-down tcp's yaw at pan 0, roll 0

    @classmethod
    def from_model(cls, model: mujoco.MjModel, joints: tuple[str, ...], tcp_site: str) -> DownArmGeometry:
        """Read the chain at the zero pose, refusing a model the closed form does not fit."""
        data = mujoco.MjData(model)
        data.qpos[:] = 0.0
        mujoco.mj_kinematics(model, data)
        pan, lift, elbow, wrist, roll = (model.joint(j).id for j in joints)
        name = model.names[:model.names.find(b"\0")].decode() if model.names else "model"

        def refuse(why: str) -> ValueError:
            return ValueError(f"{name} model: {why}; the pointing-down closed form does not fit it")

        if not np.allclose(np.abs(data.xaxis[pan]), (0, 0, 1), atol=AXIS_TOLERANCE) or \
                not np.allclose(data.xanchor[pan][:2], 0.0, atol=AXIS_TOLERANCE):
            raise refuse(f"joint {joints[0]!r} must turn about the vertical through the origin")
        for j, joint in zip((lift, elbow, wrist), joints[1:4]):
            if not np.allclose(np.abs(data.xaxis[j]), (0, 1, 0), atol=AXIS_TOLERANCE):
                raise refuse(f"joint {joint!r} axis {data.xaxis[j]} at the zero pose, expected along y")
        tcp = data.site_xpos[model.site(tcp_site).id]
        points = np.array([data.xanchor[lift], data.xanchor[elbow], data.xanchor[wrist], tcp])
        if not np.allclose(points[:, 1], 0.0, atol=AXIS_TOLERANCE):
            raise refuse("the shoulder, elbow and wrist axes and the tcp must lie in the x-z plane at the zero pose")
        hand = tcp - data.xanchor[wrist]
        along = hand / np.linalg.norm(hand)
        pointing = data.site_xmat[model.site(tcp_site).id].reshape(3, 3)[:, 2]
        if not np.allclose(np.abs(data.xaxis[roll] @ along), 1.0, atol=1e-9) or not np.allclose(pointing, along, atol=1e-9) \
                or np.linalg.norm(np.cross(tcp - data.xanchor[roll], data.xaxis[roll])) > 1e-9:
            raise refuse(f"joint {joints[4]!r} must turn about the line from the wrist_flex axis to the tcp, "
                         "which the tcp's z axis points along")
        links = np.diff(points[:, [0, 2]], axis=0)
        geometry = cls(
            shoulder_height=float(points[0, 2]), shoulder_forward=float(points[0, 0]),
            upper_arm=float(np.hypot(*links[0])), forearm=float(np.hypot(*links[1])), hand=float(np.hypot(*links[2])),
            zero_tilts=tuple(float(np.arctan2(dx, dz)) for dx, dz in links),
            signs=(float(np.sign(data.xaxis[pan][2])), *(float(np.sign(data.xaxis[j][1])) for j in (lift, elbow, wrist)), 1.0))
        return geometry._with_roll(model, data, joints, tcp_site)

    def _with_roll(self, model: mujoco.MjModel, data: mujoco.MjData, joints: tuple[str, ...], tcp_site: str) -> DownArmGeometry:
        """Measure the roll's sign and yaw offset on the model, and check the whole solve reaches
        a pointing-down pose where it says."""
        adr = [model.jnt_qposadr[model.joint(j).id] for j in joints]
        site = model.site(tcp_site).id
        wrist_point = np.array([self.shoulder_forward, 0.0, self.shoulder_height]) + 0.6 * (self.upper_arm + self.forearm) * \
            np.array([np.sin(0.9), 0.0, np.cos(0.9)])
        target = wrist_point - np.array([0.0, 0.0, self.hand])

        def pose(q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            data.qpos[:] = 0.0
            data.qpos[adr] = q
            mujoco.mj_kinematics(model, data)
            return data.site_xpos[site].copy(), data.site_xmat[site].reshape(3, 3).copy()

        q = down_ik(self, target, 0.0, np.zeros(5))
        q[4] = 0.0
        pos, rot = pose(q)
        if np.linalg.norm(pos - target) > 1e-6 or rot[2, 2] > -1.0 + 1e-9:
            raise ValueError(f"pointing-down solve misses on the model: tcp at {pos}, wanted {target} pointing down")
        yaw0 = float(np.arctan2(rot[1, 0], rot[0, 0]))
        q[4] = 0.3
        turned = float(np.arctan2(*pose(q)[1][[1, 0], 0]))
        sign = float(np.sign(wrap(turned - yaw0)))
        return DownArmGeometry(**{**self.__dict__, "signs": (*self.signs[:4], sign), "yaw_offset": yaw0})


def roll_for_yaw(roll: float, roll_now: float, lower: float, upper: float) -> float:
    """The turn of ``roll`` (any multiple of 2*pi added) inside [lower, upper] closest to ``roll_now``;
    when no turn fits, the one closest to that range (the caller clips it)."""
    turns = roll + 2.0 * np.pi * np.arange(-3, 4)
    outside = np.maximum(lower - turns, 0.0) + np.maximum(turns - upper, 0.0)
    return float(turns[np.lexsort((np.abs(turns - roll_now), outside))[0]])


def down_ik(geometry: DownArmGeometry, target_pos: np.ndarray, target_yaw: float, q_now: np.ndarray,
            roll_limits: tuple[float, float] = (-np.inf, np.inf)) -> np.ndarray:
    """Joint positions (pan, lift, elbow, wrist_flex, roll) putting the tcp at ``target_pos`` pointing
    down with yaw ``target_yaw``, elbow up. Joint limits are not applied, except that the roll takes
    the turn inside ``roll_limits`` nearest the current roll. A target out of reach is replaced by the
    nearest reachable point on the line from the shoulder to its wrist point; one straight above the
    base keeps the current pan."""
    g = geometry
    s_pan, s_lift, s_elbow, s_wrist, s_roll = g.signs
    x, y, z = np.asarray(target_pos, dtype=float)
    radius = float(np.hypot(x, y))
    bearing = float(np.arctan2(y, x)) if radius > 1e-6 else s_pan * float(q_now[0])
    # The wrist_flex axis sits `hand` straight above the tcp; solve the shoulder-elbow-wrist triangle.
    dr, dz = radius - g.shoulder_forward, z + g.hand - g.shoulder_height
    reach = float(np.hypot(dr, dz))
    clamped = float(np.clip(reach, abs(g.upper_arm - g.forearm) + 1e-6, g.upper_arm + g.forearm - 1e-6))
    if reach > 1e-9:
        dr, dz = dr * clamped / reach, dz * clamped / reach
    else:
        dr, dz = 0.0, clamped
    cos_bend = (clamped**2 - g.upper_arm**2 - g.forearm**2) / (2.0 * g.upper_arm * g.forearm)
    bend = float(np.arccos(np.clip(cos_bend, -1.0, 1.0)))  # 0 straight
    cos_inner = (g.upper_arm**2 + clamped**2 - g.forearm**2) / (2.0 * g.upper_arm * clamped)
    upper_tilt = float(np.arctan2(dr, dz) - np.arccos(np.clip(cos_inner, -1.0, 1.0)))
    fore_tilt = upper_tilt + bend
    t0, t1, t2 = g.zero_tilts
    lift = s_lift * wrap(upper_tilt - t0)
    elbow = s_elbow * wrap(fore_tilt - upper_tilt - (t1 - t0))
    wrist = s_wrist * wrap(np.pi - fore_tilt - (t2 - t1))  # the hand's tilt is pi: pointing down
    roll = roll_for_yaw(s_roll * wrap(float(target_yaw) - bearing - g.yaw_offset), float(q_now[4]), *roll_limits)
    return np.array([s_pan * bearing, lift, elbow, wrist, roll])
