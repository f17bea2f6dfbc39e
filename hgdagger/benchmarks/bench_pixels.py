"""Policies from pixels against policies from simulator state, from the same demonstrations.

For each seed: record N scripted demonstrations through the loop's runtime and recorder with the
cameras on (round 0 of an `hgd-loop` run with observations=pixels), train and evaluate the pixel
policy (joints, gripper, front and wrist cameras; no object poses) as the loop does, then train a
state policy on the very same episode files and evaluate it on the same episodes (with its own
recipe, and with the pixel policy's steps and batch, which separates what the observation costs
from what the training budget costs). Evidence that
the pixel policy uses its cameras: the same evaluation with its frames blanked (each a uniform
grey) and shuffled (each episode sees another episode's frames at the same step).

`--parts speed` measures, without training: chunk latency with two cameras (batch 1 and 8, one
CPU thread, p50/p99) and training samples/s on one and two threads (each in its own process).

Resumable: every finished stage leaves a JSON in the seed's folder and is reused on a rerun.

    hgd-bench-pixels --task pick_place --demos 60 --seeds 0 1 2 --jobs 2
    hgd-bench-pixels --parts speed
    hgd-bench-pixels --task reach --demos 10 --pixel-steps 300 --state-steps 300 --episodes 10 --seeds 0
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from hgdagger.benchmarks.parallel import map_seeds
from hgdagger.common.observation_sets import is_frame
from hgdagger.common.stats import print_table, spread, wilson_interval

PARTS = ("success", "speed")
WITHHELD = ("blank", "shuffle")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    from hgdagger.cli.arguments import add_threads_argument, positive_int

    p = argparse.ArgumentParser(
        prog="hgd-bench-pixels", description=__doc__.split("\n\n")[0] + " Writes JSON and a PNG.",
        epilog="examples:\n" + __doc__.rstrip().split("\n\n")[-1],
        formatter_class=type("Formatter", (argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter), {}))
    p.add_argument("--parts", nargs="+", choices=PARTS, default=list(PARTS), help="what to measure")
    p.add_argument("--task", default="pick_place", help="sim task")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="seeds (demonstrations, training, evaluation)")
    p.add_argument("--demos", type=positive_int, default=60, help="scripted demonstrations per seed, shared by both policies")
    p.add_argument("--episodes", type=positive_int, default=50, help="evaluation episodes per policy and seed")
    p.add_argument("--pixel-steps", type=positive_int, default=10000,
                   help="training steps of the pixel policy (about 35 min per seed on 1 of 2 cores)")
    p.add_argument("--pixel-batch", type=positive_int, default=64, help="batch size of the pixel policy")
    p.add_argument("--state-steps", type=positive_int, default=12000,
                   help="training steps of the state policy (the loop's manipulation preset)")
    p.add_argument("--state-batch", type=positive_int, default=256, help="batch size of the state policy")
    p.add_argument("--jobs", type=positive_int, default=1, help="seeds run in parallel processes")
    add_threads_argument(p, "each of the --jobs processes")
    p.add_argument("--runs", default="runs/bench_pixels", help="run folders (resumable)")
    p.add_argument("--out", default="benchmarks/results", help="folder for the JSON and the PNG")
    return p.parse_args(argv)


# ------------------------------------------------------------------------------ withheld cameras
class CamerasWithheld:
    """A chunk policy whose camera frames are replaced before it sees them: 'blank' (each frame one
    uniform grey, its own mean colour) or 'shuffle' (in a lockstep batch, episode i sees episode
    i-1's frames of the same step; a batch of one, the last episode left running, gets a blank)."""

    def __init__(self, policy, how: str):
        if how not in WITHHELD:
            raise ValueError(f"how must be one of {WITHHELD}, got {how!r}")
        self.policy, self.how = policy, how
        self.info = policy.info
        self.supports_prefix = getattr(policy, "supports_prefix", False)
        self.cameras = [k for k, s in policy.info.observation_shapes.items() if is_frame(tuple(s))]

    def predict_chunks(self, observations: Mapping[str, np.ndarray], **kw: Any) -> np.ndarray:
        obs = dict(observations)
        for k in self.cameras:
            obs[k] = withhold(np.asarray(obs[k]), self.how)
        return self.policy.predict_chunks(obs, **kw)


def withhold(frames: np.ndarray, how: str) -> np.ndarray:
    """Frames (B, H, W, 3) blanked or rolled by one along the batch (see `CamerasWithheld`)."""
    if how == "shuffle" and len(frames) > 1:
        return np.roll(frames, 1, axis=0)
    grey = frames.reshape(len(frames), -1, 3).mean(1).round().astype(frames.dtype)  # (B, 3)
    return np.broadcast_to(grey[:, None, None, :], frames.shape).copy()


# ------------------------------------------------------------------------------ success
def seed_folder(args: argparse.Namespace, seed: int) -> Path:
    return Path(args.runs) / f"{args.task}_{args.demos}demos" / f"seed_{seed}"


def pixel_loop_config(args: argparse.Namespace, seed: int):
    from hgdagger.loop.config import LoopConfig

    return LoopConfig(task=args.task, seed=seed, demos=args.demos, rounds=0, eval_episodes=args.episodes,
                      observations="pixels", train_steps=args.pixel_steps, batch_size=args.pixel_batch)


def _stage(path: Path, compute) -> dict:
    """A finished stage's JSON, or `compute()` written there."""
    if path.exists():
        return json.loads(path.read_text())
    result = compute()
    path.write_text(json.dumps(result, indent=1))
    return result


def _rate(successes: list[bool]) -> dict:
    wins = int(sum(successes))
    return {"success": wins / len(successes), "successes": wins, "episodes": len(successes)}


def run_seed(args: argparse.Namespace, seed: int) -> dict:
    """Demonstrations, the pixel and the state policy, and the withheld-camera evaluations of one seed."""
    import torch

    from hgdagger.loop.round_loop import evaluate_round, run_loop, train_round
    from policy_server.checkpoint import load_policy
    from recorder import run_folder
    from sim.evaluation import evaluate

    torch.set_num_threads(args.threads)
    folder = seed_folder(args, seed)
    folder.mkdir(parents=True, exist_ok=True)
    quiet = args.jobs > 1
    cfg = pixel_loop_config(args, seed)
    run = folder / "loop"
    started = time.perf_counter()
    rounds = run_loop(cfg, run, progress=not quiet, log=(lambda line: print(f"seed {seed}: {line}", flush=True)))
    pixels = {"success": rounds[0].success_rate, "successes": rounds[0].eval_successes, "episodes": rounds[0].eval_episodes,
              "train_seconds": rounds[0].train_seconds, "samples_per_s": _samples_per_s(run_folder.checkpoints_dir(run, 0))}

    def state(steps: int, batch: int, name: str):
        def compute() -> dict:
            scfg = dataclasses.replace(cfg, observations="state", train_steps=steps, batch_size=batch)
            checkpoint, seconds = train_round(scfg, run, 0, progress=not quiet, out=folder / name)
            wins, total, _ = evaluate_round(scfg, checkpoint, progress=not quiet)
            return {"success": wins / total, "successes": wins, "episodes": total, "train_seconds": seconds,
                    "samples_per_s": _samples_per_s(folder / name)}
        return compute

    def withheld(how: str):
        def compute() -> dict:
            torch.manual_seed(0)
            policy = CamerasWithheld(load_policy(run_folder.checkpoint_path(run, 0), device="cpu"), how)
            ev = evaluate(policy, args.task, args.episodes, seed=900_000 + seed * 1_000, execute_steps=cfg.execute_steps,
                          progress=not quiet)
            return _rate(ev.successes)
        return compute

    out = {"seed": seed, "pixels": pixels,
           "state": _stage(folder / "state.json", state(args.state_steps, args.state_batch, "state")),
           # the state policy with the pixel policy's steps and batch: what the observation costs at equal training
           "state_budget": _stage(folder / "state_budget.json", state(args.pixel_steps, args.pixel_batch, "state_budget"))}
    for how in WITHHELD:
        out[f"pixels_{how}"] = _stage(folder / f"withheld_{how}.json", withheld(how))
    out["labels"] = run_folder.labels_so_far(run, 0)
    print(f"seed {seed}: pixels {pixels['success']:.2f}, state {out['state']['success']:.2f}, blanked "
          f"{out['pixels_blank']['success']:.2f}, shuffled {out['pixels_shuffle']['success']:.2f} "
          f"({time.perf_counter() - started:.0f} s)", flush=True)
    return out


def _samples_per_s(checkpoints: Path) -> float | None:
    """The training's samples/s from its loss log (the median of its rows)."""
    from policy_server.loss_log import read_csv

    path = checkpoints / "loss.csv"
    rates = [r["samples_per_s"] for r in read_csv(path) if r["samples_per_s"] is not None] if path.exists() else []
    return float(np.median(rates)) if rates else None


METHODS = (("pixels", "cameras + joints"), ("state", "simulator state"),
           ("state_budget", "simulator state, pixels' training"), ("pixels_blank", "cameras blanked"),
           ("pixels_shuffle", "cameras shuffled"))


def summarise_success(per_seed: list[dict]) -> dict:
    """Mean, sample sd and a pooled Wilson interval per method over seeds."""
    out = {}
    for key, _ in METHODS:
        rates = np.array([s[key]["success"] for s in per_seed])
        wins = sum(s[key]["successes"] for s in per_seed)
        trials = sum(s[key]["episodes"] for s in per_seed)
        out[key] = {"mean": float(rates.mean()), "sd": float(rates.std(ddof=1)) if len(rates) > 1 else 0.0,
                    "per_seed": rates.tolist(), "pooled_ci95": list(wilson_interval(wins, trials)), "episodes": trials}
    for state in ("state", "state_budget"):
        gap = np.array([s[state]["success"] - s["pixels"]["success"] for s in per_seed])
        out[f"{state}_minus_pixels"] = {"mean": float(gap.mean()), "sd": float(gap.std(ddof=1)) if len(gap) > 1 else 0.0,
                                        "per_seed": gap.tolist()}
    return out


def print_success(summary: dict, args: argparse.Namespace) -> None:
    rows = []
    for key, what in METHODS:
        s = summary[key]
        lo, hi = s["pooled_ci95"]
        rows.append([what, f"{s['mean']:.2f} ± {s['sd']:.2f}", f"[{lo:.2f}, {hi:.2f}]",
                     " / ".join(f"{r:.2f}" for r in s["per_seed"])])
    print(f"\n{args.task} from {args.demos} demonstrations, {len(summary['pixels']['per_seed'])} seeds x "
          f"{args.episodes} episodes (pixels {args.pixel_steps} steps at batch {args.pixel_batch}, state "
          f"{args.state_steps} at {args.state_batch})")
    print_table(["policy sees", "success mean ± sd", "pooled 95% CI", "per seed"], rows)
    for state, what in (("state", "state"), ("state_budget", "state at pixels' training")):
        g = summary[f"{state}_minus_pixels"]
        print(f"{what} - pixels: {100 * g['mean']:.0f} ± {100 * g['sd']:.0f} points (goal: within 10)")


def plot_success(summary: dict, path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 4))
    for i, (key, what) in enumerate(METHODS):
        s = summary[key]
        lo, hi = s["pooled_ci95"]
        ax.bar(i, s["mean"], color=["tab:blue", "tab:gray", "silver", "tab:red", "tab:orange"][i], alpha=0.8)
        ax.errorbar(i, s["mean"], yerr=[[s["mean"] - lo], [hi - s["mean"]]], color="k", capsize=5)
        ax.scatter([i] * len(s["per_seed"]), s["per_seed"], color="k", s=12, zorder=3)
    ax.set_xticks(range(len(METHODS)), [w.replace(", ", ",\n") for _, w in METHODS])
    ax.set_ylabel("success (bars: mean over seeds; dots: seeds; 95% CI)")
    ax.set_ylim(0, 1)
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# ------------------------------------------------------------------------------ speed
def pixel_layout_policy(image_size: tuple[int, int] = (64, 64)):
    """An untrained pixel policy with the pixel set's layout (latency does not depend on the weights)."""
    import torch

    from hgdagger.common.observation_sets import observation_set
    from policy_server.model import ChunkModel, ModelConfig
    from policy_server.normalization import Normalizer, ObsLayout
    from policy_server.policy import FlowPolicy

    seen = observation_set("pixels")
    shapes = {"gripper_pos": (1,), "joint_pos": (7,)} | {k: (*image_size, 3) for k in seen.image_keys}
    layout = ObsLayout(seen.lowdim_keys, seen.image_keys, shapes)
    torch.manual_seed(0)
    model = ChunkModel(ModelConfig(horizon=16, action_dim=8), layout.lowdim_dim, layout.image_keys)
    norm = Normalizer(np.zeros(8, np.float32), np.ones(8, np.float32), np.zeros(8, np.float32), np.ones(8, np.float32))
    return FlowPolicy(model, norm, layout, device="cpu")


def chunk_latency(batches: tuple[int, ...] = (1, 8), repeats: int = 200) -> dict:
    """p50/p99 of predict_chunks with two 64 px cameras on one CPU thread (run in its own process)."""
    import torch

    torch.set_num_threads(1)
    policy = pixel_layout_policy()
    rng = np.random.default_rng(0)
    out = {}
    for b in batches:
        obs = {k: (rng.integers(0, 256, (b, *s), dtype=np.uint8) if len(s) == 3 else rng.standard_normal((b, *s)).astype(np.float32))
               for k, s in policy.info.observation_shapes.items()}
        for _ in range(10):
            policy.predict_chunks(obs)
        times = []
        for _ in range(repeats):
            t = time.perf_counter()
            policy.predict_chunks(obs)
            times.append(time.perf_counter() - t)
        ms = np.array(times) * 1e3
        out[str(b)] = {"p50_ms": float(np.median(ms)), "p99_ms": float(np.percentile(ms, 99)), **spread(ms)}
    return out


def training_rate(threads: int, steps: int = 60, batch: int = 64) -> dict:
    """samples/s of `train` on synthetic 64 px frames of the pixel layout, as its summary reports it."""
    import tempfile

    import torch

    from hgdagger.common.observation_sets import observation_set
    from policy_server.data import ChunkDataset
    from policy_server.loss_log import read_csv
    from policy_server.train import TrainConfig, train

    torch.set_num_threads(threads)
    rng = np.random.default_rng(0)
    n = 2000
    obs = {"gripper_pos": rng.random((n, 1), np.float32), "joint_pos": rng.standard_normal((n, 7)).astype(np.float32)}
    for k in observation_set("pixels").image_keys:
        obs[k] = rng.integers(0, 256, (n, 64, 64, 3), dtype=np.uint8)
    ds = ChunkDataset(obs, rng.standard_normal((n, 16, 8)).astype(np.float32), episode=np.arange(n) // 100)
    cfg = TrainConfig(steps=steps, batch_size=batch, val_fraction=0.0, val_every=10**9, ckpt_every=10**9,
                      log_every=10, num_threads=threads)
    observation_set("pixels").apply(cfg)
    with tempfile.TemporaryDirectory() as folder:
        train(ds, cfg, Path(folder), progress=False)
        rates = [r["samples_per_s"] for r in read_csv(Path(folder) / "loss.csv")][1:]  # (the first rows warm up)
    return {"threads": threads, "batch": batch, **spread(rates)}


def _in_process(call: str) -> dict:
    """One measurement in a fresh process (a process's torch thread count is set once)."""
    code = f"import json; from hgdagger.benchmarks import bench_pixels as b; print(json.dumps({call}))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=1800)
    if done.returncode != 0:
        raise RuntimeError(f"{call} failed: {done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def measure_speed() -> dict:
    latency = _in_process("b.chunk_latency()")
    rates = [_in_process(f"b.training_rate({t})") for t in (1, 2)]
    print("\nchunk latency, two 64x64 cameras + joints, flow policy, one CPU thread (goal: p50 <= 5 ms at batch 1)")
    print_table(["batch", "p50 ms", "p99 ms", "p10-p90 ms"],
                [[b, f"{v['p50_ms']:.2f}", f"{v['p99_ms']:.2f}", f"{v['p10']:.2f}-{v['p90']:.2f}"] for b, v in latency.items()])
    print("\ntraining, batch 64, two 64x64 cameras (samples/s per 10-step window)")
    print_table(["threads", "samples/s median", "p10-p90"],
                [[r["threads"], f"{r['median']:.0f}", f"{r['p10']:.0f}-{r['p90']:.0f}"] for r in rates])
    return {"chunk_latency": latency, "training": rates}


# ------------------------------------------------------------------------------ main
def run(argv: list[str] | None = None) -> dict:
    from hgdagger.common import threads

    args = parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    report: dict = {"task": args.task, "args": vars(args)}
    name = f"pixels_{args.task}"
    path = out / f"{name}.json"
    if path.exists():  # keep the parts measured earlier
        report = json.loads(path.read_text()) | report
    if "success" in args.parts:
        jobs = max(1, min(args.jobs, len(args.seeds)))
        args.threads = threads.apply(threads.choose(args.threads, processes=jobs), "hgd-bench-pixels", say=print).threads
        per_seed = map_seeds(run_seed, args, args.seeds, jobs)
        summary = summarise_success(per_seed)
        print_success(summary, args)
        png = out / f"{name}.png"
        plot_success(summary, png, f"{args.task} from {args.demos} demonstrations: what the policy sees")
        report |= {"per_seed": per_seed, "success": summary, "png": str(png)}
    if "speed" in args.parts:
        report["speed"] = measure_speed()
    path.write_text(json.dumps(report, indent=1))
    print(f"\nwrote {path}")
    return report


def main(argv: list[str] | None = None) -> int:
    run(argv)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
