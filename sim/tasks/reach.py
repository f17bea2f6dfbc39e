"""reach: bring the gripper's centre point to a random target in the workspace."""

from __future__ import annotations

import numpy as np

from sim.scene import zone_marker
from sim.tasks.base import ArmTaskEnv, TaskOutcome, vector_space

TARGET_LOW = np.array([0.35, -0.25, 0.08])
TARGET_HIGH = np.array([0.65, 0.25, 0.35])
SUCCESS_RADIUS = 0.02


class ReachEnv(ArmTaskEnv):
    task_name = "reach"
    default_max_steps = 100

    def _task_xml(self):
        marker = zone_marker("target", 0.015, "0.1 0.8 0.2 0.6").replace('type="cylinder" size="0.015 0.0005"', 'type="sphere" size="0.015"')
        return marker, ""

    def _task_spaces(self):
        return {"target_pos": vector_space(3)}

    def _randomize(self, rng):
        self._target = rng.uniform(TARGET_LOW, TARGET_HIGH)
        self._set_mocap("target", self._target)

    def _task_observation(self):
        return {"target_pos": self._target.copy()}

    def _evaluate(self):
        tcp, _ = self.tcp_pose()
        return TaskOutcome(bool(np.linalg.norm(tcp - self._target) < SUCCESS_RADIUS))
