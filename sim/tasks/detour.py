"""detour (multimodal): carry the gripper to a goal past a pillar standing on the straight line.

Passing on the near side and on the far side both succeed; touching the pillar fails the episode.
Demonstrations that pick a side at random are the lecture's averaging trap in physical form: their
mean goes straight into the pillar.
"""

from __future__ import annotations

import numpy as np

from sim import arm
from sim.kinematics import yaw_down_quat
from sim.scene import zone_marker
from sim.tasks.base import ArmTaskEnv, TaskOutcome, vector_space

TRAVEL_HEIGHT = 0.09
PILLAR_RADIUS = 0.04
PILLAR_HEIGHT = 0.10
SUCCESS_RADIUS = 0.03
CENTRE = np.array([0.50, 0.0])
HALF_SPAN = 0.21  # start and goal sit this far either side of the pillar, along x
# The way runs straight out from the robot's base (along +x), so passing left (+y) and passing right
# (-y) are mirror images for the arm: an average of the two, taken in joint space, is the straight
# line through the pillar. Pillar and goal stay put; only the start varies, and the expert's approach
# erases that before the fork, so nothing a policy sees tells it which side a demonstration took.
START_JITTER = 0.015


class DetourEnv(ArmTaskEnv):
    task_name = "detour"
    default_max_steps = 150

    def _task_xml(self):
        pillar = (
            f'<body name="pillar" mocap="true" pos="0.5 0 {PILLAR_HEIGHT / 2}">'
            f'<geom name="pillar_geom" class="object" type="cylinder" size="{PILLAR_RADIUS} {PILLAR_HEIGHT / 2}" '
            f'rgba="0.55 0.2 0.6 1"/></body>'
        )
        goal = zone_marker("goal", 0.02, "0.1 0.8 0.2 0.6").replace('type="cylinder" size="0.02 0.0005"', 'type="sphere" size="0.02"')
        return pillar + goal, ""

    def _task_spaces(self):
        box = vector_space(3)
        return {"goal_pos": box, "obstacle_pos": box}

    def _initial_arm_qpos(self, rng):
        self._pillar = np.array([CENTRE[0], CENTRE[1], PILLAR_HEIGHT / 2])
        self._goal = np.array([CENTRE[0] + HALF_SPAN, CENTRE[1], TRAVEL_HEIGHT])
        start = np.array([CENTRE[0] - HALF_SPAN, CENTRE[1], TRAVEL_HEIGHT])
        start[:2] += rng.uniform(-START_JITTER, START_JITTER, size=2)
        q, _ = self.kinematics.solve(arm.HOME_QPOS, start, yaw_down_quat(rng.uniform(-0.2, 0.2)), q_posture=arm.HOME_QPOS)
        return q

    def _randomize(self, rng):
        self._set_mocap("pillar", self._pillar)
        self._set_mocap("goal", self._goal)
        self._pillar_geom = self.model.geom("pillar_geom").id
        self._arm_root = self.model.body("link0").id

    def _task_observation(self):
        return {"goal_pos": self._goal.copy(), "obstacle_pos": self._pillar.copy()}

    def _evaluate(self):
        if self._contacts_between(self._pillar_geom, self._arm_root):
            return TaskOutcome(False, "collided with the pillar")
        tcp, _ = self.tcp_pose()
        return TaskOutcome(bool(np.linalg.norm(tcp - self._goal) < SUCCESS_RADIUS))
