"""Expert for reach: straight to the target, keeping the gripper pointing down."""

from __future__ import annotations

import numpy as np

from sim.experts.base import CartesianExpert


class ReachExpert(CartesianExpert):
    def act(self, obs):
        return self.move_to(obs, np.asarray(obs["target_pos"]), yaw=None, gripper=0.0)
