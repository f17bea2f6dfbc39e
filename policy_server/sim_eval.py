"""Behaviour cloning in the sim without the runtime: collect scripted-expert demonstrations, turn
episodes into a chunk dataset, and evaluate a chunk policy over many episodes in lockstep batches
(one batched policy call per replanning step for all running episodes).

This is a measuring instrument for the policy alone; the HG-DAgger loop proper goes through the
robot runtime, the policy server and the recorder.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from tqdm import tqdm

from common.types import ChunkPolicy
from policy_server.episodes import RecordedEpisode, episodes_to_dataset

__all__ = ["collect_demos", "episodes_to_dataset", "evaluate", "EvalResult"]


def collect_demos(
    task: str, n: int, seed: int = 0, only_success: bool = True, progress: bool = True, action_noise: float = 0.0,
    noise_correlation: float = 0.0, plan_horizon: int = 0, balance_modes: tuple[float, ...] = (),
) -> list[RecordedEpisode]:
    """`n` scripted-expert episodes (successful ones only, unless told otherwise) with seeds seed, seed+1, ...

    action_noise > 0: DART-style noise injection (Laskey et al., CoRL 2017, arXiv 1703.09327): the
    arm executes the expert's joint targets plus N(0, action_noise^2) rad, while the clean expert
    action is recorded as the label, so the data show how to recover from small deviations.
    noise_correlation rho in [0, 1): the noise is an AR(1) process n_t = rho n_{t-1} + sqrt(1-rho^2) e_t
    (same marginal std).
    plan_horizon H > 0: label every step with the expert's clean H-step plan from that state
    (`CartesianExpert.plan`) instead of the actions recorded after it. Under noise, those later
    actions answer states the noise caused, so chunks cut from them carry a random walk that a
    generative policy faithfully reproduces as jitter (measured on detour: flow 0.77 with recorded
    chunks); the plan is what the expert would do from here, which is what a chunk should say.
    balance_modes: the modes of an expert that picks one per episode (`DetourExpert.modes`); keep a
    demonstration only while its mode is not ahead of the others, so the data hold the modes in equal shares, as
    an operator asked to show both would. (Unbalanced data give an averaging policy a majority to
    follow, which hides the averaging.)
    """
    import sim

    env, expert = sim.make_env(task), sim.make_expert(task)
    noise_rng = np.random.default_rng(seed + 7)
    out: list[RecordedEpisode] = []
    modes = {float(m): 0 for m in balance_modes}
    s = seed
    bar = tqdm(total=n, desc=f"demos {task}", disable=not progress)
    while len(out) < n:
        obs, _ = env.reset(seed=s)
        expert.reset(seed=s)
        frames, acts, info = [], [], {}
        drift = np.zeros(7)
        for _ in range(env.max_steps):
            a = np.asarray(expert.act(obs), np.float32)
            frames.append(obs)
            acts.append(a)
            executed = a.copy()
            if action_noise > 0:
                rho = noise_correlation
                drift = rho * drift + np.sqrt(1 - rho**2) * noise_rng.normal(0.0, action_noise, size=len(a) - 1)
                executed[:-1] += drift
            obs, _, term, trunc, info = env.step(executed)
            if term or trunc:
                break
        ok = bool(info.get("is_success", False))
        mode = float(getattr(expert, "side", 0.0))
        wanted = not modes or modes.get(mode, -1) == min(modes.values())
        if wanted and (ok or not only_success):
            stacked = {k: np.stack([f[k] for f in frames]).astype(np.float32) for k in frames[0]}
            attrs = {"kind": "demo", "success": ok, "failure": info.get("failure", ""), "seed": s,
                     "mode": mode}  # mode: the expert's choice (detour: side)
            if modes:
                modes[mode] += 1
            # Plans only for kept episodes (they cost H expert steps each); the expert still holds
            # this episode's choice of mode.
            plans = np.stack([expert.plan(f, plan_horizon) for f in frames]).astype(np.float32) if plan_horizon > 0 else None
            out.append(RecordedEpisode(f"sim:{task}", f"demo_{len(out)}", stacked, np.stack(acts), attrs=attrs,
                                       planned=plans))
            bar.update(1)
        s += 1
        if s - seed > 5 * n + 20:
            raise RuntimeError(f"the {task} expert failed too often ({len(out)} successes in {s - seed} episodes)")
    bar.close()
    env.close()
    return out


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

    inpaint: pass the unexecuted rest of the previous chunk as the real-time-chunking prefix
    (frozen_steps = 0: inference here is instantaneous), so consecutive chunks keep one mode.
    watch: a simulated supervisor (who never takes over) scores every step against the expert, for
    measuring when and how often the policy leaves the expert's path; `supervisor_config` is its
    SupervisorConfig (the loop's, so that "off track" means what made the loop's supervisor act).
    """
    import sim

    res = EvalResult(0.0, episodes)
    bar = tqdm(total=episodes, desc=f"eval {task}", disable=not progress)
    for start in range(0, episodes, batch):
        seeds = list(range(seed + start, seed + min(start + batch, episodes)))
        envs = [sim.make_env(task) for _ in seeds]
        obs = [e.reset(seed=s)[0] for e, s in zip(envs, seeds)]
        alive = np.ones(len(envs), bool)
        paths = [[o["ee_pos"].copy()] if "ee_pos" in o else [] for o in obs]  # gripper paths (arm tasks)
        watchers = [sim.make_supervisor(task, supervisor_config) for _ in seeds] if watch else []
        for w, s in zip(watchers, seeds):
            w.reset(s)
        gaps: list[list[float]] = [[] for _ in envs]
        done_info: list[dict] = [{} for _ in envs]
        reached: list[list[int]] = [[] for _ in envs]
        plan = np.zeros((len(envs), policy.info.chunk_length, policy.info.action_dim))
        k = 0
        while alive.any():
            if k % execute_steps == 0:
                idx = np.flatnonzero(alive)
                batch_obs = {key: np.stack([obs[i][key] for i in idx]) for key in obs[idx[0]]}
                prefix = frozen = None
                if inpaint and k > 0:
                    h = plan.shape[1]
                    prefix = np.full((len(idx), h, plan.shape[2]), np.nan, np.float32)
                    prefix[:, : h - execute_steps] = plan[idx, execute_steps:]
                    frozen = np.zeros(len(idx), np.int64)
                plan[idx] = policy.predict_chunks(batch_obs, prefix=prefix, frozen_steps=frozen)
            for i in np.flatnonzero(alive):
                if watch:
                    action = plan[i, k % execute_steps]
                    gaps[i].append(watchers[i].divergence(obs[i], action, np.asarray(watchers[i].expert.act(obs[i]))))
                obs[i], _, term, trunc, info = envs[i].step(plan[i, k % execute_steps])
                while len(reached[i]) < info.get("milestones_reached", 0):
                    reached[i].append(k + 1)
                if "ee_pos" in obs[i]:
                    paths[i].append(obs[i]["ee_pos"].copy())
                if term or trunc:
                    alive[i] = False
                    done_info[i] = info
            k += 1
        res.divergences.extend(np.array(g) for g in gaps if watch)
        res.milestone_steps.extend(reached)
        for e, info, p in zip(envs, done_info, paths):
            ok = bool(info.get("is_success", False))
            res.successes.append(ok)
            res.ee_paths.append(np.array(p))
            if not ok:
                why = info.get("failure") or "timeout"
                res.failures[why] = res.failures.get(why, 0) + 1
            e.close()
        bar.update(len(seeds))
    bar.close()
    res.success_rate = float(np.mean(res.successes))
    return res


def cumulative_off_track(divergences: list[np.ndarray], successes: list[bool], horizon: int,
                         threshold: float, run: int = 1) -> np.ndarray:
    """Mean number of off-track steps among the first T, for T = 1..horizon: the cost whose growth
    with T the imitation-learning bounds are about (Ross & Bagnell 2010: O(eps T^2) for behavioural
    cloning, O(eps T) for DAgger-style training on the learner's own states).

    A step is off track when the policy's divergence from the expert exceeds `threshold` for at
    least `run` consecutive steps (a lone disagreeing step is noise, not a mistake; with the
    supervisor's own `divergence_steps`, off track means "the supervisor would have acted"). An
    episode that ended in success costs nothing afterwards; one that ended in failure before
    `horizon` stays off track for the rest (it can no longer recover).
    """
    cost = np.zeros((len(divergences), horizon))
    for i, (gaps, ok) in enumerate(zip(divergences, successes)):
        off = off_track_steps(np.asarray(gaps, float) > threshold, run)[:horizon].astype(float)
        cost[i, : len(off)] = off
        if not ok:
            cost[i, len(off):] = 1.0
    return np.cumsum(cost, axis=1).mean(axis=0)


def failure_by_milestone(milestone_steps: list[list[int]], count: int) -> np.ndarray:
    """For k = 1..count, the share of episodes that never reached the task's k-th milestone: the
    failure rate of the task cut off at that sub-goal, i.e. against a growing horizon."""
    reached = np.array([len(m) for m in milestone_steps])
    return np.array([float(np.mean(reached < k)) for k in range(1, count + 1)])


def failure_per_sub_goal(failure_before: np.ndarray) -> np.ndarray:
    """From the share of episodes failing before each sub-goal, the share of those that reached the
    previous sub-goal but not this one: how often each stage fails when it is tried. Compounding
    errors show as the same kind of stage (a second lift, a second place) failing more often when it
    comes later in the episode."""
    f = np.asarray(failure_before, float)
    before = np.concatenate([[0.0], f[:-1]])
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(before < 1.0, (f - before) / (1.0 - before), np.nan)


def expert_milestone_steps(task: str, episodes: int = 20, seed: int = 0) -> list[list[int]]:
    """The steps at which the scripted expert reaches each milestone (the horizon of each sub-goal):
    the expert evaluated like any policy, one action per chunk, so it acts closed-loop every step."""
    from policy_server.expert_policy import ExpertChunkPolicy

    expert = ExpertChunkPolicy(task, chunk_length=1)
    return evaluate(expert, task, episodes, seed=seed, execute_steps=1, progress=False).milestone_steps


def off_track_steps(disagrees: np.ndarray, run: int) -> np.ndarray:
    """The steps that belong to a streak of at least `run` consecutive disagreeing steps."""
    out = np.zeros(len(disagrees), bool)
    start = None
    for t, d in enumerate(list(disagrees) + [False]):
        if d and start is None:
            start = t
        elif not d and start is not None:
            if t - start >= run:
                out[start:t] = True
            start = None
    return out


def first_off_track(divergences: list[np.ndarray], threshold: float, run: int = 1) -> np.ndarray:
    """Per episode, the first step at which the policy has been off track for `run` consecutive steps
    (-1 when it never was)."""
    firsts = []
    for gaps in divergences:
        off = np.asarray(gaps, float) > threshold
        streak, at = 0, -1
        for t, o in enumerate(off):
            streak = streak + 1 if o else 0
            if streak >= run:
                at = t - run + 1
                break
        firsts.append(at)
    return np.array(firsts, int)
