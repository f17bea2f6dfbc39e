"""Experts for pick_place and pick_place_two: a stateless pick-and-place rule read from the observation.

Every decision (approach, descend, close, lift, carry, lower, release, retreat) is a function of the
current cube, zone, gripper-centre and gripper-closure values, so the expert resumes correctly from
any state: after a slip, a perturbation, or a policy's wrong turn.
"""

from __future__ import annotations

import numpy as np

from sim.experts.base import CartesianExpert, cube_yaw, gripper_yaw, nearest_grasp_yaw
from sim.tasks.pick_place import CUBE_HALF, cube_placed

HOVER = 0.10  # approach height above the cube centre
CARRY_HEIGHT = 0.15  # cube centre height while carrying
ALIGNED = 0.012  # horizontal distance at which the gripper may descend onto the cube
AT_CUBE_HEIGHT = 0.02
HOLDING_CLOSURE = (0.25, 0.6)  # closure of fingers squeezing a 5 cm cube (fully closed on nothing is 1)
CLOSING = 0.05  # closure above which the fingers have started to close
BETWEEN_FINGERS = 0.03  # cube centre to grasp point, once the fingers are closing or closed on it
OPEN_ENOUGH = 0.2
DRIFT_LIMIT = 0.03  # horizontal miss beyond which a descent is abandoned (fingers would land on the cube)


def fingers_around(tcp: np.ndarray, cube: np.ndarray) -> bool:
    """The gripper centre is at the cube: it could close on it, or is still holding it."""
    rel = cube - tcp
    return bool(np.linalg.norm(rel[:2]) < ALIGNED * 1.5 and abs(rel[2] + 0.005) < AT_CUBE_HEIGHT)


def cube_in_grasp(tcp: np.ndarray, cube: np.ndarray) -> bool:
    """Looser test used once the fingers are closing: the cube sits between them."""
    return bool(np.linalg.norm(cube - tcp + [0.0, 0.0, 0.005]) < BETWEEN_FINGERS)


def pick_place_step(expert: CartesianExpert, obs, cube: np.ndarray, cube_quat: np.ndarray, zone: np.ndarray) -> np.ndarray:
    """One action of the pick-and-place rule for one cube and its zone."""
    tcp = np.asarray(obs["ee_pos"], dtype=float)
    closure = float(obs["gripper_pos"][0])
    rel = cube - tcp
    near_cube = fingers_around(tcp, cube)
    in_grasp = cube_in_grasp(tcp, cube)
    holding = in_grasp and HOLDING_CLOSURE[0] < closure < HOLDING_CLOSURE[1]
    closing = in_grasp and CLOSING < closure <= HOLDING_CLOSURE[0]
    grasp_yaw = nearest_grasp_yaw(cube_yaw(cube_quat), gripper_yaw(obs["ee_quat"]))

    if cube_placed(cube, zone):
        if in_grasp and closure > OPEN_ENOUGH:
            return expert.move_to(obs, tcp, None, gripper=0.0)  # let go where it stands
        return expert.move_to(obs, np.array([tcp[0], tcp[1], cube[2] + HOVER]), None, gripper=0.0)

    if holding:
        offset = tcp - cube  # keep the cube where the fingers hold it
        to_zone = np.linalg.norm(cube[:2] - zone[:2])
        lowering = cube[2] < CARRY_HEIGHT - 0.03
        if to_zone > DRIFT_LIMIT or (to_zone > ALIGNED and not lowering):
            if lowering and to_zone > 0.04:
                return expert.move_to(obs, np.array([tcp[0], tcp[1], CARRY_HEIGHT + offset[2]]), None, gripper=1.0)
            return expert.move_to(obs, np.append(zone[:2], CARRY_HEIGHT) + offset, None, gripper=1.0)
        if cube[2] > CUBE_HALF + 0.004:
            return expert.move_to(obs, np.append(zone[:2], CUBE_HALF + 0.002) + offset, None, gripper=1.0)
        return expert.move_to(obs, tcp, None, gripper=0.0)

    if closing or (near_cube and closure <= CLOSING):
        return expert.move_to(obs, cube + [0.0, 0.0, 0.005], grasp_yaw, gripper=1.0)  # close on it

    # Approach: rise first when low and away, line up over the cube at hover height, then go down.
    # Height is the hysteresis: once below the hover band, drift is corrected on the way down
    # instead of climbing back up, so noisy hands still converge.
    horizontal = np.linalg.norm(rel[:2])
    hover_z = cube[2] + HOVER
    descending = tcp[2] < hover_z - 0.03
    if horizontal > DRIFT_LIMIT and descending:
        return expert.move_to(obs, np.array([tcp[0], tcp[1], hover_z]), grasp_yaw, gripper=0.0)
    if horizontal > DRIFT_LIMIT or closure > OPEN_ENOUGH or (horizontal > ALIGNED and not descending):
        return expert.move_to(obs, np.append(cube[:2], hover_z), grasp_yaw, gripper=0.0)
    return expert.move_to(obs, cube + [0.0, 0.0, 0.005], grasp_yaw, gripper=0.0)


class PickPlaceExpert(CartesianExpert):
    moves_objects = True

    def act(self, obs):
        return pick_place_step(self, obs, np.asarray(obs["cube_pos"]), np.asarray(obs["cube_quat"]), np.asarray(obs["target_pos"]))


class PickPlaceTwoExpert(CartesianExpert):
    """Cube A to zone A first, then cube B to zone B."""

    moves_objects = True

    def act(self, obs):
        tcp = np.asarray(obs["ee_pos"])
        still_gripping = float(obs["gripper_pos"][0]) > OPEN_ENOUGH
        for name in ("a", "b"):
            cube = np.asarray(obs[f"cube_{name}_pos"])
            zone = np.asarray(obs[f"target_{name}_pos"])
            unfinished = not cube_placed(cube, zone) or (still_gripping and fingers_around(tcp, cube))
            if unfinished or name == "b":
                return pick_place_step(self, obs, cube, np.asarray(obs[f"cube_{name}_quat"]), zone)
        raise AssertionError("unreachable")
