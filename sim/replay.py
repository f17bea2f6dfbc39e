"""Replaying a recorded episode's actions in the sim (same task, same seed), rendered to frames, with
how far the replayed joints drift from the recorded ones (`hgd-replay --mode sim`)."""

from __future__ import annotations

import numpy as np

from recorder.dataset import RecordedEpisode
from recorder.replay import Replay, recorded_fps
from sim.registry import make_env


def replay_sim(ep: RecordedEpisode, env_args: dict, camera: str = "front",
               size: tuple[int, int] = (240, 320)) -> Replay:
    task = ep.attrs.get("task") or env_args.get("env_name", "")
    task = task.decode() if isinstance(task, bytes) else str(task)
    if not task:
        raise ValueError(f"'{ep.file}' does not say which task it recorded (no env_args env_name, no task attr)")
    seed = env_args.get("seed")
    fps = recorded_fps(ep)
    kw = {}
    hz = int(env_args.get("control_hz") or round(fps))
    if hz in (20, 50, 100, 200):
        kw["control_hz"] = hz
    env = make_env(task, **kw)
    notes = []
    try:
        obs, _ = env.reset(seed=seed)
        if seed is None:
            notes.append("no seed recorded: the scene starts from the task's default reset")
        frames = [env.render_camera(camera.removesuffix("_rgb"), *size)]
        err = 0.0
        rec_q = ep.obs.get("joint_pos")
        for t, a in enumerate(ep.actions):
            obs, _, terminated, truncated, _ = env.step(np.asarray(a, np.float64))
            frames.append(env.render_camera(camera.removesuffix("_rgb"), *size))
            if rec_q is not None and t + 1 < len(rec_q):
                err = max(err, float(np.max(np.abs(obs["joint_pos"] - rec_q[t + 1]))))
            if terminated or truncated:
                notes.append(f"the sim ended the episode after {t + 1} of {len(ep.actions)} steps")
                break
    finally:
        env.close()
    return Replay("sim", frames, fps, task=task, seed=seed, max_joint_error=err if rec_q is not None else None,
                  notes=notes)
