"""What a skilled operator's hands would do, for rehearsing without hardware: the scripted expert's
joint trajectory, played back by a simulated leader arm (`hgd-rehearse`)."""

from __future__ import annotations

import numpy as np

from sim.registry import make_env, make_expert


def expert_joint_trajectory(task: str, seed: int, steps: int, control_hz: float):
    """The scripted expert's joint trajectory on a shadow copy of the task, as a function of time
    (t = 0: the arm's initial pose): what a skilled operator's hands would do with the leader arm."""
    env = make_env(task, control_hz=control_hz)
    expert = make_expert(task, control_hz=control_hz)
    obs, _ = env.reset(seed=seed)
    expert.reset(seed)
    actions = [np.append(obs["joint_pos"], 0.0)]  # where the hands start: the arm's initial pose
    for _ in range(steps):
        action = expert.act(obs)
        actions.append(action)
        obs, _, terminated, truncated, _ = env.step(action)
        if terminated or truncated:
            break
    env.close()
    track = np.array(actions)

    def at(t: float) -> np.ndarray:
        return track[min(int(t * control_hz), len(track) - 1)]

    return at, len(track)

