"""pick_place: pick a cube and put it down inside a target zone, then let go."""

from __future__ import annotations

import numpy as np

from sim.scene import cube_body, zone_marker
from sim.tasks.base import ArmTaskEnv, TaskOutcome, vector_space

CUBE_HALF = 0.025
SPAWN_LOW = np.array([0.40, -0.20])
SPAWN_HIGH = np.array([0.62, 0.20])
ZONE_RADIUS = 0.05
PLACE_TOLERANCE = 0.03  # cube centre to zone centre, in the table plane
RELEASED_BELOW = 0.2  # gripper closure under which the cube counts as let go
MAX_YAW = np.pi / 4
LIFTED_ABOVE = CUBE_HALF + 0.02  # cube centre height that counts as picked up


def _vec3():
    return vector_space(3)


def _vec4():
    return vector_space(4)


def sample_separated_points(rng: np.random.Generator, count: int, min_distance: float) -> list[np.ndarray]:
    """``count`` points in the spawn rectangle, pairwise at least ``min_distance`` apart."""
    for _ in range(1000):
        points = [rng.uniform(SPAWN_LOW, SPAWN_HIGH) for _ in range(count)]
        if all(np.linalg.norm(a - b) >= min_distance for i, a in enumerate(points) for b in points[i + 1 :]):
            return points
    raise RuntimeError("could not place objects apart; the spawn area is too small for this many")


def cube_placed(cube_pos: np.ndarray, zone_pos: np.ndarray) -> bool:
    """Cube centre over the zone and resting on the table."""
    return bool(np.linalg.norm(cube_pos[:2] - zone_pos[:2]) < PLACE_TOLERANCE and cube_pos[2] < CUBE_HALF + 0.01)


def relative_features(tcp: np.ndarray, cube: np.ndarray, zone: np.ndarray, suffix: str = "") -> dict[str, np.ndarray]:
    """Cube relative to the gripper centre and zone relative to the cube (as robosuite's object state has):
    the grasp needs ~1 cm alignment, which a small policy learns far more easily from these differences
    than by subtracting two absolute positions it sees among thirty other numbers."""
    return {f"ee_to_cube{suffix}": cube - tcp, f"cube{suffix}_to_target": zone - cube}


class PickPlaceEnv(ArmTaskEnv):
    task_name = "pick_place"
    default_max_steps = 300
    milestones = ("cube lifted", "cube placed")

    def _task_xml(self):
        bodies = cube_body("cube", CUBE_HALF, "0.85 0.2 0.15 1") + zone_marker("zone", ZONE_RADIUS, "0.2 0.7 0.3 0.5")
        return bodies, ""

    def _task_spaces(self):
        return {"cube_pos": _vec3(), "cube_quat": _vec4(), "target_pos": _vec3(), "ee_to_cube": _vec3(),
                "cube_to_target": _vec3()}

    def _randomize(self, rng):
        cube_xy, zone_xy = sample_separated_points(rng, 2, 0.15)
        self._set_free_body("cube", np.append(cube_xy, CUBE_HALF), rng.uniform(-MAX_YAW, MAX_YAW))
        self._zone = np.append(zone_xy, 0.0)
        self._set_mocap("zone", self._zone + [0, 0, 0.0005])

    def _task_observation(self):
        pos, quat = self._free_body_pose("cube")
        return {"cube_pos": pos, "cube_quat": quat, "target_pos": self._zone.copy(),
                **relative_features(self.tcp_pose()[0], pos, self._zone)}

    def _evaluate(self):
        pos, _ = self._free_body_pose("cube")
        return TaskOutcome(cube_placed(pos, self._zone) and self.gripper_closure() < RELEASED_BELOW)

    def _milestone_reached(self, index):
        pos, _ = self._free_body_pose("cube")
        return bool(pos[2] > LIFTED_ABOVE) if index == 0 else cube_placed(pos, self._zone)
