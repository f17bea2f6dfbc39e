"""Expert for detour: head straight for the pillar, then swerve past it on a side chosen 50/50 per
episode, and keep to it.

The shared straight approach matters: every demonstration reaches the same fork states, and only
there do they split left or right. A policy that averages (L2 regression) gets the mean of the two
swerves at those states — straight on, into the pillar — which is the lecture's averaging trap.
"""

from __future__ import annotations

import numpy as np

from sim.experts.base import CartesianExpert
from sim.tasks.detour import TRAVEL_HEIGHT

SIDE_OFFSET = 0.18  # lateral distance of the passing waypoint from the pillar's axis
FORK_DISTANCE = 0.10  # swerve once the gripper is this close (along the way) to the pillar's axis
COMMITTED = 0.04  # once this far to one side, stay on that side whatever the coin said
PAST_PILLAR = 0.02  # head for the goal only once the gripper is this far beyond the pillar's axis
TRAVEL_YAW = 0.0  # the hand's long axis along the direction of travel: the narrowest profile


class DetourExpert(CartesianExpert):
    modes = (-1.0, 1.0)  # the values `side` can take: one is drawn per episode
    def reset(self, seed: int | None = None) -> None:
        super().reset(seed)
        self.side = 1.0 if self.rng.random() < 0.5 else -1.0

    def __init__(self, control_hz: float = 20.0, seed: int | None = None):
        super().__init__(control_hz, seed)
        self.side = 1.0 if self.rng.random() < 0.5 else -1.0

    def act(self, obs):
        tcp = np.asarray(obs["ee_pos"], dtype=float)
        pillar = np.asarray(obs["obstacle_pos"], dtype=float)
        goal = np.asarray(obs["goal_pos"], dtype=float)
        along, lateral = tcp[0] - pillar[0], tcp[1] - pillar[1]  # the way runs along +x
        side = np.sign(lateral) if abs(lateral) > COMMITTED else self.side
        if along < -FORK_DISTANCE and abs(lateral) <= COMMITTED:
            target = np.array([pillar[0] - FORK_DISTANCE + 0.02, pillar[1], TRAVEL_HEIGHT])  # the shared approach
        elif along < PAST_PILLAR:
            target = np.array([pillar[0] + 2 * PAST_PILLAR, pillar[1] + side * SIDE_OFFSET, TRAVEL_HEIGHT])
        else:
            target = goal
        # Closed fingers keep the hand compact so nothing trails into the pillar.
        return self.move_to(obs, target, TRAVEL_YAW, gripper=1.0)
