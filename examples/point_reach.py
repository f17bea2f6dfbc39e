"""A gymnasium environment that is not our arm, plugged into the HG-DAgger loop.

A point on a plane must reach a random goal; the action is the point's next position target (x, y),
and the point moves toward it at a limited speed. The expert is a plain function. Run the loop on it:

    hgd-loop --plugin examples.point_reach --set task=point_reach --set relative_to='""' --out runs/point

Importing this module registers the task (gymnasium id ``examples/PointReach-v0``).
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np

from sim.plugin import register_gym_task

STEP = 0.05  # the farthest the point moves in one step
REACHED = 0.05


class PointReachEnv(gym.Env):
    def __init__(self):
        box = gym.spaces.Box(-1.0, 1.0, (2,), np.float64)
        self.observation_space = gym.spaces.Dict({"pos": box, "goal": box})
        self.action_space = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.pos = self.np_random.uniform(-0.8, 0.8, 2)
        self.goal = self.np_random.uniform(-0.8, 0.8, 2)
        return self._obs(), {}

    def step(self, action):
        move = np.clip(np.asarray(action, float), -1, 1) - self.pos
        self.pos = self.pos + move * min(1.0, STEP / max(np.linalg.norm(move), 1e-9))
        done = bool(np.linalg.norm(self.pos - self.goal) < REACHED)
        return self._obs(), float(done), done, False, {"is_success": done}

    def _obs(self):
        return {"pos": self.pos.copy(), "goal": self.goal.copy()}


def expert(obs) -> np.ndarray:
    """Head straight for the goal."""
    return obs["goal"]


register_gym_task("point_reach", "examples/PointReach-v0", expert=expert, description="a point reaching a goal on a plane",
                  entry_point=PointReachEnv, max_episode_steps=80)
