"""How well the loop's simulated supervisor does its job, per task and per round.

Calibration: before the first supervised round, the expert drives a few episodes of its own and the
supervisor's divergence between its consecutive actions is measured; the threshold is the larger of
the configured one and a high quantile of that, over as many steps in a row as the supervisor waits
before acting (`sim.supervisor.calibrated_ratio`), so what it acts on is a mistake, not the
expert's own jitter. Saved as the run's ``supervisor.json``.

Audit: after a round's supervised rollouts, each rollout's seed is replayed by the same policy with
no supervisor (in-process, the controller evaluation runs). A takeover in a rollout the policy wins
alone is a false alarm; a rollout it loses alone with no takeover is a miss.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from sim.supervisor import SupervisorConfig, calibrated_ratio

CALIBRATION_SEED = 700_000  # expert episodes apart from demonstrations, rollouts and evaluation


def expert_self_divergence(task: str, config: SupervisorConfig, episodes: int, seed: int,
                           control_hz: float = 20.0) -> list[np.ndarray]:
    """Per expert episode, per step: the supervisor's divergence between the expert's action and
    its previous one (both clipped to the action box), at the same observation."""
    import sim

    driver = sim.make_driver(task, seed=seed, control_hz=control_hz)
    supervisor = sim.make_supervisor(task, config, control_hz)
    out: list[np.ndarray] = []
    try:
        for s in range(seed, seed + episodes):
            driver.reset(s)
            supervisor.reset(s)
            previous, gaps = None, []
            for _ in range(driver.max_steps):
                obs = driver.observe()
                action = supervisor.clip(supervisor.expert.act(obs))
                if previous is not None:
                    gaps.append(supervisor.judge(obs, previous, action))
                driver.command(action)
                previous = action
                if driver.terminated or driver.truncated:
                    break
            out.append(np.asarray(gaps, float))
    finally:
        driver.close()
    return out


def calibrate(task: str, config: SupervisorConfig, seed: int = 0, control_hz: float = 20.0) -> dict:
    """The task's supervisor threshold from its expert's own variation (see the module's docstring)."""
    if config.calibration_quantile <= 0 or config.calibration_episodes <= 0:
        return {"divergence_ratio": config.divergence_ratio, "configured": config.divergence_ratio, "calibrated": False}
    gaps = expert_self_divergence(task, config, config.calibration_episodes, CALIBRATION_SEED + 100 * seed, control_hz)
    ratio = calibrated_ratio(gaps, config.calibration_quantile, config.divergence_ratio, config.divergence_steps)
    expert_value = calibrated_ratio(gaps, config.calibration_quantile, 0.0, config.divergence_steps)
    return {"divergence_ratio": ratio, "configured": config.divergence_ratio, "calibrated": True,
            "quantile": config.calibration_quantile, "expert_steps": int(sum(len(g) for g in gaps)),
            "expert_quantile_value": expert_value}


def supervisor_for_run(config: SupervisorConfig, task: str, run: Path, seed: int, control_hz: float,
                       log=lambda _: None) -> SupervisorConfig:
    """The run's calibrated supervisor settings: read from ``supervisor.json``, else calibrated and saved."""
    path = Path(run) / "supervisor.json"
    if path.exists():
        saved = json.loads(path.read_text())
    else:
        saved = calibrate(task, config, seed, control_hz)
        path.write_text(json.dumps(saved, indent=1))
        if saved["calibrated"]:
            log(f"supervisor: divergence threshold {saved['divergence_ratio']:.2f} (configured "
                f"{saved['configured']:.2f}; the expert's own step-to-step divergence, {config.divergence_steps} steps "
                f"in a row, stays under {saved['expert_quantile_value']:.2f} {100 * saved['quantile']:.0f}% of the time)")
    return dataclasses.replace(config, divergence_ratio=float(saved["divergence_ratio"]))


@dataclass
class Audit:
    """A round's supervisor against the policy alone on the same seeds."""

    alone_won: int  # rollouts whose seed the policy wins with no supervisor
    false_alarms: int  # of those, rollouts the supervisor took over
    alone_lost: int
    misses: int  # of those, rollouts the supervisor never took over

    @property
    def false_alarm_rate(self) -> float | None:
        return self.false_alarms / self.alone_won if self.alone_won else None

    @property
    def miss_rate(self) -> float | None:
        return self.misses / self.alone_lost if self.alone_lost else None

    def as_dict(self) -> dict:
        return dataclasses.asdict(self) | {"false_alarm_rate": self.false_alarm_rate, "miss_rate": self.miss_rate}


def audit(took_over: Sequence[bool], alone_won: Sequence[bool]) -> Audit:
    """False alarms and misses from, per rollout, whether the supervisor took over and whether the
    policy won the same seed alone."""
    took, won = np.asarray(took_over, bool), np.asarray(alone_won, bool)
    if took.shape != won.shape:
        raise ValueError(f"{took.size} rollouts but {won.size} replays")
    return Audit(int(won.sum()), int((took & won).sum()), int((~won).sum()), int((~took & ~won).sum()))


def replay_alone(checkpoint: Path, task: str, seeds: Sequence[int], execute_steps: int) -> list[bool]:
    """Whether the checkpoint's policy wins each seed with no supervisor (seeds must be consecutive).
    Its sampling noise is seeded by the first seed: a resumed run replays the same."""
    import torch

    from policy_server.checkpoint import load_policy
    from sim.evaluation import evaluate

    if list(seeds) != list(range(seeds[0], seeds[0] + len(seeds))):
        raise ValueError("replay_alone needs consecutive seeds")
    policy = load_policy(checkpoint)
    torch.manual_seed(seeds[0])
    return evaluate(policy, task, len(seeds), seed=seeds[0], execute_steps=execute_steps, progress=False).successes
