"""Episodes through the real runtime: the demonstrator and the supervisor are human-side inputs to the
same takeover gate a person uses, and every step goes to the recorder."""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np

import sim
from hgdagger.common.observation_sets import observation_set
from hgdagger.common.types import RobotDriver
from hgdagger.loop.config import LoopConfig
from policy_server.client import ClientConfig
from teleop.executor import ExecConfig, Mode
from teleop.fetcher import ChunkFetcher
from teleop.gate import GateConfig, TakeoverGate, TakeoverMode
from teleop.human_side import HumanSide, ScriptedInput
from hgdagger.common.record_queue import RecordQueue
from teleop.runtime import RobotRuntime, RuntimeConfig


@dataclass
class EpisodeStats:
    seed: int
    label: str
    steps: int
    human_steps: int
    takeovers: int
    kind: str = "rollout"  # demo | rollout


def _driver(cfg: LoopConfig) -> RobotDriver:
    """The task's sim arm, rendering the cameras the run's policy sees."""
    seen = observation_set(cfg.observations)
    return sim.make_driver(cfg.task, seed=cfg.seed, control_hz=cfg.control_hz, cameras=seen.cameras,
                           image_size=seen.image_size)


def _runtime(cfg: LoopConfig, driver: RobotDriver, fetcher, human: HumanSide, records: RecordQueue) -> RobotRuntime:
    exec_cfg = ExecConfig(mode=Mode.SYNC, execute_steps=cfg.execute_steps)
    # Latency 0: every chunk is answered before its step's command, as in evaluation (sim.evaluation), so a
    # supervised rollout runs the controller the round's success is measured with.
    runtime_cfg = RuntimeConfig(execution=exec_cfg, lockstep=True, realtime=False, lockstep_latency_steps=0)
    return RobotRuntime(driver, fetcher, runtime_cfg, records, human)


def _episodes(runtime: RobotRuntime, driver: RobotDriver, cfg: LoopConfig, seeds: list[int], kind: str,
              progress) -> list[EpisodeStats]:
    stats = []
    for seed in seeds:
        driver.reset(seed)
        report = runtime.run_episode(driver.max_steps, task=cfg.task, kind=kind, seed=seed, operator="sim",
                                     env_args=json.dumps({"type": "hgd_sim", "task": cfg.task, "seed": seed}))
        stats.append(EpisodeStats(seed, report.label, report.steps, report.human_steps, report.takeovers, kind))
        progress.update(1)
    return stats


def demonstrations(cfg: LoopConfig, records: RecordQueue, seeds: list[int], progress) -> list[EpisodeStats]:
    """The scripted expert drives every step, through the gate, with no policy attached."""
    driver = _driver(cfg)  # first: the expert reads its action box
    gate = TakeoverGate(GateConfig(mode=TakeoverMode.DEADMAN, start_in_human=True))
    human = HumanSide(gate, ScriptedInput(expert=sim.make_expert(cfg.task, control_hz=cfg.control_hz), always=True))
    runtime = _runtime(cfg, driver, None, human, records)
    runtime.start()
    try:
        return _episodes(runtime, driver, cfg, seeds, "demo", progress)
    finally:
        runtime.close()
        driver.close()


def supervised_rollouts(cfg: LoopConfig, server_endpoint: str, records: RecordQueue, seeds: list[int],
                        progress) -> list[EpisodeStats]:
    """The served policy drives; the simulated supervisor takes over through the gate when needed."""
    driver = _driver(cfg)  # first: the supervisor reads its action box
    supervisor = sim.make_supervisor(cfg.task, cfg.supervisor, cfg.control_hz)
    human = HumanSide(TakeoverGate(GateConfig(mode=TakeoverMode.DEADMAN)), ScriptedInput(supervisor=supervisor))
    fetcher = ChunkFetcher(ClientConfig(endpoint=server_endpoint, request_timeout_s=30.0))
    runtime = _runtime(cfg, driver, fetcher, human, records)
    runtime.start(connect_timeout_s=60)
    try:
        return _episodes(runtime, driver, cfg, seeds, "rollout", progress)
    finally:
        runtime.close()
        driver.close()


def summarise(stats: list[EpisodeStats], include: tuple[str, ...] | list[str] = ()) -> dict:
    """A round's sessions in numbers. ``labels``: the expert-labelled steps of the episodes that are
    training data (`recorder.selection`: a failed demonstration is recorded, labelled failure, and
    neither trained on nor counted, unless ``include`` names it)."""
    from recorder.selection import left_out_because

    steps = sum(s.steps for s in stats)
    human = sum(s.human_steps for s in stats)
    used = [s for s in stats if left_out_because(s.kind, s.label, include) is None]
    return {
        "episodes": len(stats),
        "episodes_used": len(used),
        "labels": sum(s.human_steps for s in used),
        "interventions_per_episode": float(np.mean([s.takeovers for s in stats])) if stats else 0.0,
        "human_step_share": human / steps if steps else 0.0,
        "human_steps": human,
        "steps": steps,
        "success_with_supervisor": float(np.mean([s.label == "success" for s in stats])) if stats else 0.0,
    }
