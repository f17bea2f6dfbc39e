"""How well the loop's simulated supervisor does its job, per task and per round.

Calibration: before the first supervised round, the expert drives a few episodes of its own and the
supervisor's divergence between its consecutive actions is measured; the threshold is the larger of
the configured one and a high quantile of that, over as many steps in a row as the supervisor waits
before acting (`sim.supervisor.calibrated_ratio`), so what it acts on is a mistake, not the
expert's own jitter. Saved as the run's ``supervisor.json``, with that threshold for every run
length the policy calibration may choose (its floors).

That threshold still sets off a supervisor on a policy that wins on its own (a high-gain expert's
action flips with a centimetre of error; a policy that cuts a corner the expert would not disagrees
for a few steps and wins): so before each supervised round the previous round's policy also runs a
few dozen episodes alone, watched, and the run length and threshold become those that set off at
most the target share of its won episodes while missing the fewest lost ones
(`sim.supervisor.calibrate_on_policy`); saved as the round's ``supervisor.json``.

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

from sim.supervisor import SupervisorConfig, calibrate_on_policy, calibrated_ratio, trigger_levels

CALIBRATION_SEED = 700_000  # expert episodes apart from demonstrations, rollouts and evaluation
POLICY_CALIBRATION_SEED = 600_000  # + 1_000 * loop seed + 100 * round: the policy alone, watched


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
    floors = {str(run): calibrated_ratio(gaps, config.calibration_quantile, config.divergence_ratio, run)
              for run in run_lengths(config)}
    return {"divergence_ratio": ratio, "configured": config.divergence_ratio, "calibrated": True,
            "quantile": config.calibration_quantile, "expert_steps": int(sum(len(g) for g in gaps)),
            "expert_quantile_value": expert_value, "floors": floors}


def run_lengths(config: SupervisorConfig) -> list[int]:
    """The run lengths (consecutive disagreeing steps before acting) the policy calibration may choose."""
    return sorted({max(1, int(m) * config.divergence_steps) for m in config.calibration_run_multiples} or
                  {config.divergence_steps})


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


def policy_divergence(checkpoint: Path, task: str, config: SupervisorConfig, episodes: int, seed: int,
                      execute_steps: int) -> tuple[list[np.ndarray], list[bool]]:
    """The checkpoint's policy alone on `episodes` seeds from `seed`, watched: per episode, each
    step's divergence from the expert, and whether it won. Sampling noise seeded by `seed`."""
    import torch

    from policy_server.checkpoint import load_policy
    from sim.evaluation import evaluate

    policy = load_policy(checkpoint)
    torch.manual_seed(seed)
    ev = evaluate(policy, task, episodes, seed=seed, execute_steps=execute_steps, progress=False, watch=True,
                  supervisor_config=config)
    return ev.divergences, ev.successes


def calibrate_round(config: SupervisorConfig, floors: dict[int, float], gaps: list[np.ndarray],
                    won: list[bool]) -> dict:
    """A round's supervisor setting from its policy's watched episodes alone (`calibrate_on_policy`);
    the run-level one (``calibrated`` false) with fewer than calibration_min_wins won episodes."""
    wins = int(sum(won))
    base = {"episodes": len(won), "wins": wins, "target_false_alarm_rate": config.target_false_alarm_rate}
    if wins < config.calibration_min_wins:
        return base | {"calibrated": False, "divergence_ratio": config.divergence_ratio,
                       "divergence_steps": config.divergence_steps,
                       "why": f"{wins} won episodes alone, fewer than {config.calibration_min_wins}"}
    chosen, candidates = calibrate_on_policy([g for g, w in zip(gaps, won) if w], [g for g, w in zip(gaps, won) if not w],
                                             floors, config.target_false_alarm_rate)
    return base | {"calibrated": True, "divergence_ratio": chosen.ratio, "divergence_steps": chosen.run,
                   "false_alarm_rate": chosen.false_alarm_rate, "miss_rate": chosen.miss_rate,
                   "candidates": [dataclasses.asdict(c) for c in candidates]}


def supervisor_for_round(config: SupervisorConfig, run_level: SupervisorConfig, task: str, run: Path, r: int,
                         seed: int, execute_steps: int, log=lambda _: None) -> SupervisorConfig:
    """Round r's supervisor: `run_level` (the expert-calibrated one) recalibrated on round r-1's policy
    alone; read from ``round_<r>/supervisor.json``, else measured and saved there."""
    from recorder import run_folder

    if config.policy_calibration_episodes <= 0:
        return run_level
    path = run_folder.round_dir(run, r) / "supervisor.json"
    if path.exists():
        saved = json.loads(path.read_text())
    else:
        gaps, won = policy_divergence(run_folder.checkpoint_path(run, r - 1), task, run_level,
                                      config.policy_calibration_episodes,
                                      POLICY_CALIBRATION_SEED + 1_000 * seed + 100 * r, execute_steps)
        floors = json.loads((Path(run) / "supervisor.json").read_text()).get("floors", {})
        floors = {run_len: float(floors.get(str(run_len), run_level.divergence_ratio)) for run_len in run_lengths(config)}
        saved = calibrate_round(run_level, floors, gaps, won)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(saved, indent=1))
        if saved["calibrated"]:
            miss = "-" if saved["miss_rate"] is None else f"{100 * saved['miss_rate']:.0f}%"
            log(f"round {r}: supervisor acts after {saved['divergence_steps']} steps above {saved['divergence_ratio']:.2f} "
                f"(round {r - 1}'s policy alone, {saved['episodes']} episodes, {saved['wins']} won: false alarms "
                f"{100 * saved['false_alarm_rate']:.0f}%, misses {miss} there)")
        else:
            log(f"round {r}: supervisor threshold {saved['divergence_ratio']:.2f} over {saved['divergence_steps']} steps "
                f"({saved['why']})")
    return dataclasses.replace(run_level, divergence_ratio=float(saved["divergence_ratio"]),
                               divergence_steps=int(saved["divergence_steps"]))


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


def replay_alone(checkpoint: Path, task: str, seeds: Sequence[int], execute_steps: int,
                 config: SupervisorConfig = SupervisorConfig()) -> tuple[list[bool], list[np.ndarray]]:
    """Whether the checkpoint's policy wins each seed with no supervisor (seeds must be consecutive),
    and per seed each step's divergence from the expert (a supervisor watching, never acting). Its
    sampling noise is seeded by the first seed: a resumed run replays the same."""
    if list(seeds) != list(range(seeds[0], seeds[0] + len(seeds))):
        raise ValueError("replay_alone needs consecutive seeds")
    gaps, won = policy_divergence(checkpoint, task, config, len(seeds), seeds[0], execute_steps)
    return won, gaps


def audit_as_if(gaps: Sequence[np.ndarray], alone_won: Sequence[bool], ratio: float, steps: int) -> Audit:
    """The audit a supervisor acting after `steps` steps in a row above `ratio` would have had on
    these replays: before its first takeover a rollout is the policy alone, so it would have taken
    over exactly the replays whose trigger level (`trigger_levels`) is above its threshold."""
    return audit(list(trigger_levels(gaps, steps) > ratio), alone_won)
