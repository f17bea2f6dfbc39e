"""A gymnasium task with delta actions and a high-gain expert that overshoots its box, plugged in.

A gripper moves in a box-shaped workspace, picks a cube and puts it on a goal. The observation is one
flat state vector (as external manipulation benchmarks give it); the action is four numbers in
[-1, 1]: a displacement of the gripper (x, y, z, at most 2 cm per step each) and a gripper target
(-1 open, 1 closed; it takes a few steps to get there). The expert is closed-loop and scripted
from the state alone (so it labels any state the policy gets into), with a gain so high that its
displacement lies far outside the box until it is nearly there: the environment clips it, as the
benchmarks' own do. Several phases in a row (hover, descend, close, carry, put down), so an early
mistake compounds. Run the loop on it from the repository root:

    hgd-loop --plugin examples.delta_pick_place --set task=delta_pick_place --set relative_to='""' --out runs/delta

Importing this module registers the task (gymnasium id ``examples/DeltaPickPlace-v0``).
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np

from sim.plugin import register_gym_task

MOVE = 0.02  # m per step at a displacement of 1
GRIP_RATE = 0.4  # gripper travel per step (of its [-1, 1] range)
GAIN = 25.0  # the expert's action per metre of error: outside the box beyond 4 cm (it halves the error per step)
TABLE_Z = 0.02  # the cube's centre resting on the table
HOVER = 0.08  # above the cube before descending onto it
CARRY_Z = 0.12
GRASP_RADIUS = 0.015  # the cube between the fingers: close enough to be carried once they close
CLOSED = 0.5  # gripper state above which the fingers hold the cube
PLACED = 0.025  # cube within this of the goal: success
LOW = np.array([-0.25, -0.25, 0.0])
HIGH = np.array([0.25, 0.25, 0.25])
STATE = 16  # gripper (3), fingers (1), cube (3), goal (3), cube - gripper (3), goal - cube (3)


class DeltaPickPlaceEnv(gym.Env):
    def __init__(self):
        self.observation_space = gym.spaces.Box(-1.0, 1.0, (STATE,), np.float64)
        self.action_space = gym.spaces.Box(-1.0, 1.0, (4,), np.float32)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        r = self.np_random
        self.hand = np.array([*r.uniform(-0.15, 0.15, 2), r.uniform(0.10, 0.18)])
        self.fingers = -1.0
        self.cube = np.array([*r.uniform(-0.18, 0.18, 2), TABLE_Z])
        goal = r.uniform(-0.18, 0.18, 2)
        while np.linalg.norm(goal - self.cube[:2]) < 0.1:
            goal = r.uniform(-0.18, 0.18, 2)
        self.goal = np.array([*goal, TABLE_Z])
        self.held = False
        return self._obs(), {}

    def step(self, action):
        a = np.clip(np.asarray(action, float), -1.0, 1.0)  # the environment clips, as the benchmarks do
        before = self.hand.copy()
        self.hand = np.clip(self.hand + a[:3] * MOVE, LOW, HIGH)
        self.fingers += float(np.clip(a[3] - self.fingers, -GRIP_RATE, GRIP_RATE))
        if self.held:
            self.held = self.fingers > CLOSED
        else:  # fingers closing around the cube pick it up
            self.held = self.fingers > CLOSED and np.linalg.norm(self.cube - before) < GRASP_RADIUS
        if self.held:
            self.cube = self.cube + (self.hand - before)
        else:
            self.cube[2] = TABLE_Z  # released: it drops to the table
        placed = bool(np.linalg.norm(self.cube - self.goal) < PLACED and not self.held)
        return self._obs(), float(placed), placed, False, {"is_success": placed}

    def _obs(self):
        return np.concatenate([self.hand, [self.fingers], self.cube, self.goal, self.cube - self.hand,
                               self.goal - self.cube])


def expert(state: np.ndarray) -> np.ndarray:
    """Hover over the cube, descend, close, carry it over the goal at carrying height, put it down,
    open. Displacements are GAIN times the error: outside [-1, 1] (up to about 6) until the last 4 cm."""
    hand, fingers, cube, goal = state[0:3], state[3], state[4:7], state[7:10]
    holding = fingers > CLOSED and np.linalg.norm(cube - hand) < GRASP_RADIUS
    if np.linalg.norm(cube - goal) < PLACED and not holding:
        target, grip = np.array([*hand[:2], CARRY_Z]), -1.0  # done: let go and rise
    elif not holding:
        over = np.linalg.norm(hand[:2] - cube[:2]) < 0.01
        if not over:
            target = np.array([*cube[:2], max(hand[2], cube[2] + HOVER)])
        else:
            target = cube
        grip = 1.0 if np.linalg.norm(hand - cube) < 0.008 else -1.0
    else:
        far = np.linalg.norm(cube[:2] - goal[:2]) > 0.01
        if far and hand[2] < CARRY_Z - 0.01:
            target = np.array([*hand[:2], CARRY_Z])  # lift first
        elif far:
            target = np.array([*(goal[:2] + hand[:2] - cube[:2]), CARRY_Z])  # carry at height
        else:
            target = goal + (hand - cube)  # put it down
        grip = 1.0 if np.linalg.norm(cube - goal) > 0.6 * PLACED else -1.0
    return np.append(GAIN * (target - hand), grip)


register_gym_task("delta_pick_place", "examples/DeltaPickPlace-v0", expert=expert, entry_point=DeltaPickPlaceEnv,
                  max_episode_steps=150, description="pick a cube and put it on a goal, by gripper displacements",
                  action_kinds=("delta", "delta", "delta", "absolute"))
