"""Evaluating a chunk policy in the sim: many episodes in lockstep batches (one batched policy call
per replanning step for all running episodes), executed through the runtime's own path (chunk
executor, hold and ramp, safety filter, the sim driver: `teleop.local_rollout`), with an optional
watching supervisor that scores every step against the scripted expert, and the step at which each
of a task's milestones is reached.

This is how the loop measures a round's autonomous success; `hgd-bench-*` measure with it too.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from tqdm import tqdm

from hgdagger.common.observation_sets import cameras_in
from hgdagger.common.types import ChunkPolicy
from sim.registry import make_driver, make_supervisor
from teleop.executor import ExecConfig, Mode
from teleop.local_rollout import StepView, run_policy_episodes

__all__ = ["evaluate", "EvalResult", "expert_milestone_steps", "expert_sub_goal_steps"]


@dataclass
class EvalResult:
    success_rate: float
    episodes: int
    failures: dict[str, int] = field(default_factory=dict)
    ee_paths: list[np.ndarray] = field(default_factory=list)  # (T, 3) per episode
    successes: list[bool] = field(default_factory=list)
    # With watch=True: per episode, each step's divergence of the policy's action from the scripted
    # expert's (the simulated supervisor's measure; > its divergence_ratio = off track).
    divergences: list[np.ndarray] = field(default_factory=list)
    # Per episode, the step at which each of the task's milestones was reached, in order (a long
    # task's failures located in time: how far each episode got).
    milestone_steps: list[list[int]] = field(default_factory=list)


def evaluate(
    policy: ChunkPolicy,
    task: str,
    episodes: int,
    seed: int = 10_000,
    execute_steps: int = 8,
    batch: int = 50,
    progress: bool = True,
    inpaint: bool = False,
    watch: bool = False,
    supervisor_config=None,
) -> EvalResult:
    """Run `episodes` policy episodes (seeds seed..), replanning every `execute_steps` steps.

    execute_steps: the executor's sync mode runs this many actions of each chunk.
    inpaint: the executor's RTC mode instead: the unexecuted rest of the previous chunk goes with each
    request as the real-time-chunking prefix (frozen_steps = 0: inference here is instantaneous), so
    consecutive chunks keep one mode.
    watch: a simulated supervisor (who never takes over) scores every step against the expert, for
    measuring when and how often the policy leaves the expert's path; `supervisor_config` is its
    SupervisorConfig (the loop's, so that "off track" means what made the loop's supervisor act).
    """
    execution = ExecConfig(mode=Mode.RTC if inpaint else Mode.SYNC, execute_steps=execute_steps)
    res = EvalResult(0.0, episodes)
    bar = tqdm(total=episodes, desc=f"eval {task}", disable=not progress)
    # One driver (and watcher) per batch slot for the whole evaluation: each episode resets one
    # (a plugged-in environment can take seconds and tens of MB to build).
    slots = min(batch, episodes)
    cameras, size = cameras_in(policy.info.observation_shapes)  # rendered only when the policy sees them
    pool = [make_driver(task, seed=seed + i, cameras=cameras, image_size=size or (128, 128)) for i in range(slots)]
    watchers = [make_supervisor(task, supervisor_config) for _ in range(slots)] if watch else []
    try:
        for start in range(0, episodes, batch):
            seeds = list(range(seed + start, seed + min(start + batch, episodes)))
            drivers = pool[: len(seeds)]
            for d, w, s in zip(drivers, watchers or [None] * len(seeds), seeds):
                if start > 0:  # the pool was built at the first batch's seeds
                    d.reset(s)
                if w is not None:
                    w.reset(s)
            _run_batch(policy, drivers, watchers, execution, watch, res)
            bar.update(len(seeds))
    finally:
        for d in pool:
            d.close()
    bar.close()
    res.success_rate = float(np.mean(res.successes))
    return res


def _run_batch(policy: ChunkPolicy, drivers: list, watchers: list, execution: ExecConfig, watch: bool,
               res: EvalResult) -> None:
    """One batch of episodes in lockstep on already-reset drivers; appends its results to `res`."""
    paths: list[list[np.ndarray]] = [[] for _ in drivers]  # gripper paths (arm tasks)
    gaps: list[list[float]] = [[] for _ in drivers]
    reached: list[list[int]] = [[] for _ in drivers]

    def watch_step(view: StepView) -> None:
        i, obs = view.robot, view.obs
        if watch and view.planned is not None:
            gaps[i].append(watchers[i].judge(obs, view.planned, watchers[i].expert.act(obs)))
        while len(reached[i]) < view.info.get("milestones_reached", 0):
            reached[i].append(view.step + 1)
        if "ee_pos" in obs:
            paths[i].append(obs["ee_pos"].copy())

    out = run_policy_episodes(policy, drivers, execution, max(d.max_steps for d in drivers), on_step=watch_step)
    res.divergences.extend(np.array(g) for g in gaps if watch)
    res.milestone_steps.extend(reached)
    for driver, info, p in zip(drivers, out.infos, paths):
        final = driver.observe()
        if "ee_pos" in final:
            p.append(final["ee_pos"].copy())
        ok = bool(info.get("is_success", False))
        res.successes.append(ok)
        res.ee_paths.append(np.array(p))
        if not ok:
            why = info.get("failure") or "timeout"
            res.failures[why] = res.failures.get(why, 0) + 1


def expert_milestone_steps(task: str, episodes: int = 20, seed: int = 0) -> list[list[int]]:
    """The steps at which the scripted expert reaches each milestone (the horizon of each sub-goal):
    the expert evaluated like any policy, one action per chunk, so it acts closed-loop every step."""
    from sim.expert_policy import ExpertChunkPolicy

    expert = ExpertChunkPolicy(task, chunk_length=1)
    return evaluate(expert, task, episodes, seed=seed, execute_steps=1, progress=False).milestone_steps


def expert_sub_goal_steps(task: str, count: int, episodes: int = 20, seed: int = 0) -> list[float]:
    """The median step at which the scripted expert reaches each of the task's `count` milestones, over
    the episodes in which it reached them all ([] when it never did)."""
    import numpy as np

    complete = [steps for steps in expert_milestone_steps(task, episodes, seed) if len(steps) == count]
    return np.median(np.array(complete), axis=0).tolist() if complete else []
