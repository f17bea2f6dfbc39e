"""The round loop: round 0 = demonstrations; round r >= 1 = supervised rollouts with the policy of
round r-1, then retraining on everything recorded in rounds 0..r. Each round is a folder; a round
with an ``eval.json`` is finished, so an interrupted run resumes at the first unfinished round."""

from __future__ import annotations

import dataclasses
import json
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from hgdagger.loop.config import LoopConfig
from hgdagger.loop.sessions import demonstrations, summarise, supervised_rollouts
from hgdagger.loop.supervision import audit, audit_as_if, replay_alone, supervisor_for_round, supervisor_for_run
from recorder import run_folder


@dataclass
class RoundResult:
    round: int
    success_rate: float
    eval_episodes: int
    eval_successes: int
    interventions_per_episode: float
    human_step_share: float
    labels_so_far: int  # expert-labelled (human-sourced) steps in rounds 0..r
    train_seconds: float
    episodes_recorded: int
    # The supervisor against the policy alone on the same seeds (hgdagger.loop.supervision); None in
    # round 0, and where no rollout was won (false alarms) or lost (misses) alone.
    false_alarm_rate: float | None = None
    miss_rate: float | None = None
    # Per evaluation episode, how many of the task's sub-goals it reached (sim.task_milestones).
    milestones_reached: list[int] | None = None
    # Behavioural cloning at this round's label count (hgdagger.loop.bc_arm.result), where it was run.
    bc: dict | None = None

    @classmethod
    def load(cls, path: Path) -> "RoundResult":
        raw = json.loads(path.read_text())
        return cls(**{k: raw[k] for k in cls.__dataclass_fields__ if k in raw})


def record_round(cfg: LoopConfig, run: Path, r: int, server: str | None, progress,
                 as_if: dict[str, tuple[float, int]] | None = None) -> dict:
    """Run this round's episodes through the runtime, writing them into round_<r>/data. as_if: other
    supervisor settings (name: threshold, steps) whose audit on the same replays is reported beside."""
    from hgdagger.common.record_queue import RecordQueue
    from recorder.thread_writer import QueueWriter

    records = RecordQueue(maxsize=100_000)
    writer = QueueWriter(records, run_folder.data_dir(run, r), round_index=r)
    try:
        if r == 0:
            seeds = [cfg.seed * 100_000 + i for i in range(cfg.demos)]
            stats = demonstrations(cfg, records, seeds, progress)
        else:
            seeds = [cfg.seed * 100_000 + 1_000 * r + i for i in range(cfg.rollouts_per_round)]
            stats = supervised_rollouts(cfg, server, records, seeds, progress)
    finally:
        writer.close()
    if writer.error:
        raise RuntimeError(f"recording round {r} failed: {writer.error}")
    summary = summarise(stats, cfg.include) | {"record_drops": records.dropped}
    if r > 0:  # the same seeds with no supervisor: were its takeovers needed?
        alone, gaps = replay_alone(run_folder.checkpoint_path(run, r - 1), cfg.task, seeds, cfg.execute_steps,
                                   cfg.supervisor)
        summary["supervisor"] = audit([s.takeovers > 0 for s in stats], alone).as_dict() | {
            "divergence_ratio": cfg.supervisor.divergence_ratio, "divergence_steps": cfg.supervisor.divergence_steps,
            "as_if": {name: {"divergence_ratio": t, "divergence_steps": n} | audit_as_if(gaps, alone, t, n).as_dict()
                      for name, (t, n) in (as_if or {}).items()}}
    run_folder.sessions_path(run, r).write_text(json.dumps(summary, indent=1))
    return summary


def train_round(cfg: LoopConfig, run: Path, r: int, progress: bool, out: Path | None = None,
                log=lambda _: None) -> tuple[Path, float]:
    """Train round r's checkpoint on rounds 0..r through hgd-train's own path and settings
    (`round_recipe.plan_round`: fine-tuning round r-1's unless from_scratch). `out`: train into this
    folder instead of the round's own (for ablations; the round is untouched)."""
    from policy_server import round_training
    from policy_server.round_recipe import plan_round
    from recorder.selection import describe

    plan = plan_round(run, r, cfg.to_dict())
    prepared = round_training.prepare_round(run, r, plan)
    if prepared.left_out:  # a scripted demonstration that failed, say: the loop trains without it, and says so
        log(f"round {r}: training on {prepared.episodes} episodes, "
            + describe((w.reason for w in prepared.left_out), "--set 'include=[...]' naming {} to use them"))
    # A training stopped by Ctrl-C or SIGTERM saved its step: go on from there (an hour of pixels, say).
    step = round_training.interrupted_step(run, r, plan, prepared) if out is None else None
    if step is not None:
        log(f"round {r}: resuming its training at step {step} of {plan.config.steps} (stopped there earlier)")
    start = time.perf_counter()
    result = round_training.train_round(run, r, plan, prepared, resume=step is not None, progress=progress, out=out)
    return result.checkpoint, time.perf_counter() - start


def evaluate_round(cfg: LoopConfig, checkpoint: Path, progress: bool) -> tuple[int, int, list[int]]:
    """Autonomous success of a checkpoint (no supervisor, fixed evaluation seeds): wins, episodes, and
    per episode how many of the task's sub-goals it reached."""
    from policy_server.checkpoint import load_policy
    from sim.evaluation import evaluate

    policy = load_policy(checkpoint)
    result = evaluate(policy, cfg.task, cfg.eval_episodes, seed=900_000 + cfg.seed * 1_000,
                      execute_steps=cfg.execute_steps, progress=progress)
    return sum(result.successes), result.episodes, [len(steps) for steps in result.milestone_steps]


class PolicyServerProcess:
    """hgd-serve in its own process, as a lab runs it; new checkpoints are hot-reloaded, not restarted.
    Its output goes to `log` (a file, so a chatty server can never block on a full pipe)."""

    def __init__(self, checkpoint: Path, endpoint: str, log: Path, start_timeout_s: float = 120.0):
        self.endpoint = endpoint
        self.log = log
        start = log.stat().st_size if log.exists() else 0
        with open(log, "ab") as out:
            # --no-realtime: the loop's sessions run in lock step as fast as the machine allows, so a
            # real-time server would hold a core from everything else (training beside it included).
            self.proc = subprocess.Popen([sys.executable, "-m", "hgdagger.cli.serve", "--checkpoint", str(checkpoint),
                                          "--endpoint", endpoint, "--log-level", "WARNING", "--no-realtime"],
                                         stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + start_timeout_s
        while True:
            said = log.read_bytes()[start:].decode(errors="replace")
            if "serving" in said:
                return
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.close()
                raise RuntimeError(f"the policy server did not start (see {log}): {said.strip()[-2000:]}")
            time.sleep(0.05)

    def reload(self, checkpoint: Path) -> None:
        from policy_server.client import ClientConfig, PolicyClient

        client = PolicyClient(ClientConfig(endpoint=self.endpoint))
        try:
            reply = client.reload(str(checkpoint), timeout_s=120)
        finally:
            client.close()
        if not reply.ok:
            raise RuntimeError(f"the policy server refused {checkpoint}: {reply.message}")

    def close(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        if self.endpoint.startswith("ipc://"):
            Path(self.endpoint[len("ipc://"):]).unlink(missing_ok=True)  # the socket file ZeroMQ leaves behind


def discard_interrupted_recording(run: Path, r: int, log) -> None:
    """A round whose recording was cut off starts its recording over: the recorder numbers new
    episodes after the ones already there, so keeping them would train on duplicates of the same
    seeds. They are regenerated exactly (same seeds, same server noise)."""
    data = run_folder.data_dir(run, r)
    partial = sorted(data.glob("*.hdf5")) if data.exists() else []
    if partial:
        log(f"round {r}: discarding {len(partial)} episodes of an interrupted recording (re-recorded from the same seeds)")
        shutil.rmtree(data)


def _also_to_file(log, path: Path):
    """`log`, and every line also appended, time-stamped, to the run's own log file."""
    def both(line: str) -> None:
        log(line)
        with open(path, "a") as f:
            f.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {line}\n")

    return both


def _share(rate: float | None) -> str:
    return "-" if rate is None else f"{100 * rate:.0f}%"


def run_loop(cfg: LoopConfig, run: Path, progress: bool = True, log=print, plugins: list[str] | tuple[str, ...] = ()
             ) -> list[RoundResult]:
    """Run (or resume) the whole loop; returns one result per round (with behavioural cloning at its
    label count beside it when cfg.compare_bc). plugins: what the behavioural-cloning runs import."""
    from tqdm import tqdm

    from hgdagger.loop import bc_arm

    run.mkdir(parents=True, exist_ok=True)
    cfg.save(run_folder.config_path(run))
    log = _also_to_file(log, run_folder.log_path(run, "loop"))
    results: list[RoundResult] = []
    server: PolicyServerProcess | None = None
    bc = bc_arm.BehaviouralCloningArm(cfg, run, plugins, log) if cfg.compare_bc else None
    settings = cfg  # with the supervisor's threshold calibrated for this task (rollouts only)
    try:
        for r in range(cfg.rounds + 1):
            done = run_folder.eval_path(run, r)
            if done.exists():
                results.append(RoundResult.load(done))
                log(f"round {r}: finished earlier, {results[-1].success_rate:.2f} success (resuming after it)")
                if bc and r > 0:
                    bc.start(r)
                continue
            episodes = cfg.demos if r == 0 else cfg.rollouts_per_round
            what = "demonstrations" if r == 0 else "supervised rollouts"
            recorded = run_folder.sessions_path(run, r)
            if recorded.exists():  # interrupted after recording: its episodes are complete, train on them
                sessions = json.loads(recorded.read_text())
                log(f"round {r}: {sessions['episodes']} {what} recorded earlier (resuming at training)")
            else:
                discard_interrupted_recording(run, r, log)
                if r > 0:  # rollouts need the previous round's policy served
                    if settings is cfg:
                        settings = dataclasses.replace(cfg, supervisor=supervisor_for_run(
                            cfg.supervisor, cfg.task, run, cfg.seed, cfg.control_hz, log))
                    previous = run_folder.checkpoint_path(run, r - 1)
                    if server is None:
                        server = PolicyServerProcess(previous, run_folder.server_socket(run), run_folder.log_path(run, "server"))
                    else:
                        server.reload(previous)
                this_round = settings if r == 0 else dataclasses.replace(settings, supervisor=supervisor_for_round(
                    cfg.supervisor, settings.supervisor, cfg.task, run, r, cfg.seed, cfg.execute_steps, log))
                # The same replays judged as the configured and the expert-calibrated supervisor would have:
                # false alarms and misses before and after each calibration, on the same policy and seeds.
                as_if = {"configured": (cfg.supervisor.divergence_ratio, cfg.supervisor.divergence_steps),
                         "expert_calibrated": (settings.supervisor.divergence_ratio, settings.supervisor.divergence_steps),
                         "this_round": (this_round.supervisor.divergence_ratio, this_round.supervisor.divergence_steps)}
                with tqdm(total=episodes, desc=f"round {r}: {what}", disable=not progress) as bar:
                    sessions = record_round(this_round, run, r, server.endpoint if server else None, bar,
                                            as_if if r > 0 else None)
            if bc and r > 0:  # its label count is known now: it trains beside this round's training
                bc.start(r)
            checkpoint, seconds = train_round(cfg, run, r, progress, log=log)
            wins, total, reached = evaluate_round(cfg, checkpoint, progress)
            audited = sessions.get("supervisor", {})
            result = RoundResult(r, wins / total, total, wins, sessions["interventions_per_episode"],
                                 sessions["human_step_share"], run_folder.labels_so_far(run, r), seconds, sessions["episodes"],
                                 audited.get("false_alarm_rate"), audited.get("miss_rate"), reached)
            run_folder.write_json(done, result.__dict__ | {"sessions": sessions})
            results.append(result)
            recorded_what = (f"{result.episodes_recorded} demonstrations" if r == 0 else
                             f"{result.interventions_per_episode:.1f} interventions/episode, "
                             f"{100 * result.human_step_share:.0f}% human steps, false alarms "
                             f"{_share(result.false_alarm_rate)}, misses {_share(result.miss_rate)}")
            log(f"round {r}: success {result.success_rate:.2f} ({wins}/{total}), {recorded_what}, "
                f"{result.labels_so_far} labels so far")
        if bc:
            bc.wait()
            for result in results[1:]:
                result.bc = bc_arm.result(run, result.round)
    finally:
        if server is not None:
            server.close()
        if bc:
            bc.close()
    return results
