"""Behavioural cloning at equal labels, beside each HG-DAgger round: the comparison the project's
claim is about (Ross et al., AISTATS 2011; Kelly et al., ICRA 2019).

Once round r's sessions are recorded, the loop knows how many expert-labelled steps HG-DAgger has
spent. Behavioural cloning gets as many, as full scripted demonstrations (round 0's seeds and then
more: as many labels when the expert wins them all; one it fails is recorded but carries none), trains
as long as round r's policy did, and is evaluated on the same episodes. Each such policy is a run of
its own, made by hgd-loop itself with no supervised rounds, in ``<run>/bc/at_round_<r>/`` (train it
by hand, inspect it, replay it as any run). It runs in a process of its own beside the loop's next
steps, so on two or more cores it costs little wall time;
its numbers do not depend on that (its own seed, its own fixed thread count), and an interrupted one
resumes where it stopped, like the loop.
"""

from __future__ import annotations

import dataclasses
import json
import math
import subprocess
import sys
from pathlib import Path

from hgdagger.loop.config import LoopConfig
from recorder import run_folder


def folder(run: Path, r: int) -> Path:
    """Where behavioural cloning at round r's label count lives."""
    return Path(run) / "bc" / f"at_round_{r}"


def settings(cfg: LoopConfig, r: int, labels_target: int, demo_labels: int, demos_used: int | None = None) -> LoopConfig:
    """Behavioural cloning with `labels_target` expert labels as full demonstrations (at least as many when
    the expert wins every new one; each it fails carries none), and as many gradient steps as went into
    round r's policy: its round 0 training plus every fine-tuning round up to r, or, when every round
    retrains from scratch, one round's training. demos_used: how many of round 0's demonstrations
    carried `demo_labels`."""
    per_demo = demo_labels / max(1, demos_used if demos_used is not None else cfg.demos)
    extra = max(0, math.ceil((labels_target - demo_labels) / max(per_demo, 1e-9)))
    steps = cfg.train_steps if cfg.from_scratch else cfg.train_steps + r * cfg.finetune_steps
    return dataclasses.replace(cfg, demos=cfg.demos + extra, rounds=0, train_steps=steps, compare_bc=False)


def finished(run: Path, r: int) -> bool:
    """Whether behavioural cloning at round r's labels has been evaluated."""
    return run_folder.eval_path(folder(run, r), 0).exists()


def result(run: Path, r: int) -> dict | None:
    """Behavioural cloning at round r's labels, as its run's round-0 evaluation recorded it (None until it has)."""
    path = run_folder.eval_path(folder(run, r), 0)
    if not path.exists():
        return None
    raw = json.loads(path.read_text())
    keep = ("success_rate", "eval_successes", "eval_episodes", "labels_so_far", "episodes_recorded", "milestones_reached")
    return {k: raw[k] for k in keep if k in raw}


class BehaviouralCloningArm:
    """Runs behavioural cloning at each round's label count, one process at a time, beside the loop."""

    def __init__(self, cfg: LoopConfig, run: Path, plugins: list[str] | tuple[str, ...] = (), log=print):
        self.cfg, self.run, self.plugins, self.log = cfg, Path(run), list(plugins), log
        self.proc: subprocess.Popen | None = None
        self.round: int | None = None

    def start(self, r: int) -> None:
        """Behavioural cloning at round r's label count (round r's sessions must be recorded); waits for
        the one started before it first, so that it never runs two beside the loop."""
        if finished(self.run, r):
            return
        self.wait()
        round0 = json.loads(run_folder.sessions_path(self.run, 0).read_text())
        labels = run_folder.labels_so_far(self.run, r)
        bc = settings(self.cfg, r, labels, run_folder.labels_so_far(self.run, 0), round0.get("episodes_used"))
        out = folder(self.run, r)
        out.mkdir(parents=True, exist_ok=True)
        bc.save(run_folder.config_path(out))  # hgd-loop resumes a folder holding its own settings
        command = [sys.executable, "-m", "hgdagger.cli.loop", "--out", str(out), "--config",
                   str(run_folder.config_path(out)), "--quiet"]
        for plugin in self.plugins:
            command += ["--plugin", plugin]
        with open(self.output(r), "ab") as said:
            self.proc = subprocess.Popen(command, stdout=said, stderr=subprocess.STDOUT)  # (the loop's thread count too)
        self.round = r
        self.log(f"round {r}: behavioural cloning on as many labels ({labels}, as {bc.demos} demonstrations, "
                 f"{bc.train_steps} training steps) runs beside the loop -> {out}")

    def output(self, r: int) -> Path:
        return folder(self.run, r) / "output.log"

    def wait(self) -> None:
        """Wait for the running one; RuntimeError, naming its output, if it failed."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.log(f"round {self.round}: waiting for behavioural cloning at its labels to finish "
                     f"(what it says: {self.output(self.round)})")
        code, r = self.proc.wait(), self.round
        self.proc = self.round = None
        if code != 0:
            tail = self.output(r).read_text(errors="replace").strip().splitlines()[-1:] if self.output(r).exists() else []
            raise RuntimeError(f"behavioural cloning at round {r} failed (exit {code}): {' '.join(tail)} "
                               f"(all it said: {self.output(r)}; rerun to resume)")
        done = result(self.run, r)
        self.log(f"round {r}: behavioural cloning at equal labels: success {done['success_rate']:.2f} "
                 f"({done['eval_successes']}/{done['eval_episodes']}), {done['labels_so_far']} labels")

    def close(self) -> None:
        """Stop a running one (an interrupted loop): its run resumes when the loop is rerun."""
        if self.proc is None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc = self.round = None
