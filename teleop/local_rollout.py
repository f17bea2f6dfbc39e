"""Policy episodes run in-process through the runtime's own execution path: per robot a
`ChunkExecutor` (which action runs at each step, when to ask for the next chunk) and a
`CommandShaper` (hold, ramp-in, safety filter), the same objects `RobotRuntime.tick` uses, with the
policy called directly instead of over ZeroMQ. Many robots step in lockstep so that every
replanning step is one batched policy call: this is how a checkpoint is evaluated over fifty
episodes in seconds, and it executes actions exactly as a served policy would (a test runs the same
policy through `RobotRuntime` and through this, and compares the actions sent).

What differs from a served rollout is time alone. With ``latency_steps=0`` (evaluation) a request is
answered before the step it was made at executes (inference takes no control steps), so a chunk
starts at the observation it was computed from and nothing of the previous chunk is frozen while
it is computed. With ``latency_steps=1`` it is the runtime's lockstep timing exactly: the request
goes out after the step's command and its chunk is applied at the next step.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np

from hgdagger.common.types import ChunkPolicy, Observation, RobotDriver, Source
from teleop.command_shaper import CommandShaper
from teleop.executor import ChunkExecutor, ExecConfig, Mode
from teleop.safety import SafetyLimits


@dataclass
class StepView:
    """One executed step, for whoever watches (evaluation metrics): the observation the step was
    decided on, the policy's planned action (None: held), what was sent, and the driver's info after it."""

    robot: int
    step: int
    obs: Observation
    planned: np.ndarray | None
    sent: np.ndarray
    source: Source
    info: dict = field(default_factory=dict)


@dataclass
class RolloutResult:
    steps: list[int]  # per robot, steps run
    infos: list[dict]  # per robot, the driver's info at the end of its episode
    sent: list[list[np.ndarray]] | None = None  # per robot, every command sent (keep_actions=True)


def run_policy_episodes(policy: ChunkPolicy, drivers: Sequence[RobotDriver], execution: ExecConfig,
                        max_steps: int, velocity_scale: float = 1.0, resume_ramp_steps: int = 10,
                        on_step: Callable[[StepView], None] | None = None, keep_actions: bool = False,
                        latency_steps: int = 0) -> RolloutResult:
    """Run one episode on each of `drivers` (already reset) until each reports it done or `max_steps`.

    The observation of every robot that wants a chunk at a step goes into one batched
    `policy.predict_chunks` call, in robot order."""
    if latency_steps not in (0, 1):
        raise ValueError(f"latency_steps must be 0 (evaluation) or 1 (the runtime's lockstep timing), got {latency_steps}")
    n = len(drivers)
    info = policy.info
    executors = [ChunkExecutor(execution, info.chunk_length, info.action_dim) for _ in drivers]
    shapers = [CommandShaper(SafetyLimits.from_spec(d.spec, velocity_scale=velocity_scale), resume_ramp_steps)
               for d in drivers]
    alive = np.ones(n, bool)
    steps = [0] * n
    infos: list[dict] = [{} for _ in drivers]
    sent_log: list[list[np.ndarray]] | None = [[] for _ in drivers] if keep_actions else None
    ids = itertools.count()
    pending: list[tuple[int, np.ndarray, int]] = []  # latency 1: (robot, chunk, observation step) for the next step

    def ask(k: int, live: np.ndarray, obs: dict[int, Observation]) -> None:
        """One batched policy call for every robot whose executor wants a chunk at step k."""
        asking = [int(i) for i in live if executors[i].wants_request(k)]
        if not asking:
            return
        requests = [executors[i].request(k) for i in asking]
        batch = {key: np.stack([obs[i][key] for i in asking]) for key in obs[asking[0]]}
        prefix = frozen = None
        if execution.mode == Mode.RTC and any(p is not None for p, _ in requests):
            h, a = info.chunk_length, info.action_dim
            prefix = np.stack([p if p is not None else np.full((h, a), np.nan) for p, _ in requests]).astype(np.float32)
            frozen = (np.zeros(len(asking), np.int64) if latency_steps == 0
                      else np.array([f for _, f in requests], np.int64))
        chunks = policy.predict_chunks(batch, prefix=prefix, frozen_steps=frozen)
        for i, chunk in zip(asking, chunks):
            if latency_steps == 0:
                executors[i].on_chunk(chunk, obs_step=k, step=k, chunk_id=next(ids))
            else:
                pending.append((i, chunk, k))

    for k in range(max_steps):
        if not alive.any():
            break
        live = np.flatnonzero(alive)
        obs = {int(i): drivers[i].observe() for i in live}
        if latency_steps == 0:
            ask(k, live, obs)
        else:
            for i, chunk, obs_step in pending:
                executors[i].on_chunk(chunk, obs_step=obs_step, step=k, chunk_id=next(ids))
            pending.clear()
        for i in live:
            driver, shaper = drivers[i], shapers[i]
            shaper.begin(driver, obs[i])
            planned = executors[i].plan(k).action
            shaped = shaper.shape(Source.POLICY if planned is not None else Source.HOLD, planned)
            sent = np.asarray(driver.command(shaped.command), np.float64)
            shaper.sent(sent)
            steps[i] = k + 1
            if sent_log is not None:
                sent_log[i].append(sent)
            if on_step is not None:
                on_step(StepView(int(i), k, obs[i], planned, sent, shaped.source, dict(getattr(driver, "info", {}))))
            if driver.terminated or driver.truncated:
                alive[i] = False
                infos[i] = dict(getattr(driver, "info", {}))
        if latency_steps == 1:
            ask(k, np.flatnonzero(alive), obs)
    for i in np.flatnonzero(alive):
        infos[i] = dict(getattr(drivers[i], "info", {}))
    return RolloutResult(steps, infos, sent_log)
