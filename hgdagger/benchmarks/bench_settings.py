"""hgd-bench-settings: one loop setting against another, so that speed is not bought with quality.

For every value of the varied setting and every seed, the loop runs as `hgd-loop` would (its own run
folder, resumable), and its last round's evaluation is the success. The first value is the
baseline: each other value's difference from it comes with Newcombe's interval over the pooled
episodes. Beside success: the seconds spent training, and the latency of the served chunk at batch 1
on one CPU thread, timed in one process with the values' checkpoints taking turns (so a busy moment
of a shared machine lands on all of them alike).

    hgd-bench-settings --task reach --vary width=256,192 --seeds 0 1 2 --jobs 3
    hgd-bench-settings --task pick_place --preset manipulation --set rounds=0 --vary width=256,192 --jobs 3
    hgd-bench-settings --task reach --vary train_steps=4000,2000 --name reach_short

Prints a table, writes benchmarks/results/settings_<name>.json (name: the task and the setting).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from hgdagger.benchmarks.parallel import map_seeds
from hgdagger.common.settings import setting_value
from hgdagger.common.stats import difference_interval, print_table, spread, wilson_interval


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    from hgdagger.cli.arguments import add_threads_argument
    from hgdagger.loop.config import PRESETS

    p = argparse.ArgumentParser(prog="hgd-bench-settings", description=__doc__.split("\n\n")[0],
                                epilog="examples:\n" + __doc__.split("\n\n")[2],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--vary", required=True, metavar="KEY=V1,V2",
                   help="the loop setting to compare and its values, the baseline first (JSON values)")
    p.add_argument("--task", default="reach", help="sim task (or a plugged-in one: --plugin) (default: reach)")
    p.add_argument("--plugin", action="append", default=[], metavar="MODULE",
                   help="import MODULE first, in every worker too: it registers another gymnasium task")
    p.add_argument("--preset", choices=sorted(PRESETS), default="default", help="loop settings to start from")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override one loop setting for every value (JSON value), e.g. rounds=0")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="loop seeds (default: 0 1 2)")
    p.add_argument("--jobs", type=int, default=1, help="loops run in parallel processes")
    add_threads_argument(p, "each of the --jobs processes (the latency is always timed on one)")
    p.add_argument("--calls", type=int, default=300, help="timed chunks per value (0: no latency)")
    p.add_argument("--name", default=None, help="what the results are called (default: TASK_KEY)")
    p.add_argument("--runs", default="runs/bench_settings",
                   help="run folders (resumable: rerun the same command to continue)")
    p.add_argument("--out", default="benchmarks/results", help="folder for the JSON")
    return p.parse_args(argv)


def parse_vary(text: str) -> tuple[str, list]:
    """'width=256,192' -> ('width', [256, 192]); each value JSON if it parses, else a string."""
    key, sep, values = text.partition("=")
    items = [v for v in values.split(",")] if sep else []
    if not key or len(items) < 2 or any(not v for v in items):
        raise ValueError(f"--vary {text!r}: expected KEY=V1,V2 (two values or more, the baseline first)")
    parsed = [setting_value(v) for v in items]
    if len({json.dumps(v) for v in parsed}) != len(parsed):
        raise ValueError(f"--vary {text!r}: a value is given twice")
    return key, parsed


def loop_config(args: argparse.Namespace, value, seed: int):
    """The loop's settings for one value and seed: the preset, then --set, then the varied key."""
    from hgdagger.benchmarks import bench_dagger

    key, _ = parse_vary(args.vary)
    merged = argparse.Namespace(preset=args.preset, task=args.task, set=[*args.set, f"{key}={json.dumps(value)}"])
    return bench_dagger.loop_config(merged, seed)


def result_name(args: argparse.Namespace) -> str:
    return args.name or f"{args.task}_{parse_vary(args.vary)[0]}"


def value_folder(args: argparse.Namespace, value) -> Path:
    key, _ = parse_vary(args.vary)
    return Path(args.runs) / result_name(args) / f"{key}={json.dumps(value)}"


def run_unit(args: argparse.Namespace, unit: tuple) -> dict:
    """One loop: (value, seed). Its own process with --jobs > 1."""
    import torch

    from hgdagger.loop.round_loop import run_loop
    from recorder import run_folder
    from sim.plugin import load_plugins

    value, seed = unit
    load_plugins(args.plugin)  # a spawned worker starts without its parent's registrations
    torch.set_num_threads(args.threads)
    quiet = args.jobs > 1
    cfg = loop_config(args, value, seed)
    run = value_folder(args, value) / f"seed{seed}"
    results = run_loop(cfg, run, progress=not quiet, log=(lambda *_: None) if quiet else print)
    last = results[-1]
    print(f"{parse_vary(args.vary)[0]}={json.dumps(value)} seed {seed}: success {last.success_rate:.2f} "
          f"({last.eval_successes}/{last.eval_episodes})", flush=True)
    return {"value": value, "seed": seed, "success": last.success_rate, "successes": last.eval_successes,
            "episodes": last.eval_episodes, "train_seconds": sum(r.train_seconds for r in results),
            "per_round": [r.success_rate for r in results],
            "checkpoint": str(run_folder.checkpoint_path(run, last.round))}


def chunk_latency(checkpoints: list[str], calls: int) -> tuple[list[dict], str]:
    """Milliseconds of one chunk at batch 1 on one thread for each checkpoint, the checkpoints taking
    turns call by call, from a thread under SCHED_FIFO where the OS permits (as `hgd-serve` serves a
    chunk; a busy machine then slows both alike instead of landing on whichever was running); and the
    scheduler it ran under, in words."""
    import threading

    from hgdagger.common.realtime import try_realtime

    out: list = []
    timer = threading.Thread(target=lambda: out.append((try_realtime(40), _timed_in_turns(checkpoints, calls))))
    timer.start()
    timer.join()
    scheduler, times = out[0]
    return times, scheduler


def _timed_in_turns(checkpoints: list[str], calls: int) -> list[dict]:
    import torch

    from policy_server.checkpoint import load_policy

    torch.set_num_threads(1)
    torch.manual_seed(0)
    policies = [load_policy(c, device="cpu") for c in checkpoints]
    rng = np.random.default_rng(0)
    observations = [{k: rng.standard_normal(tuple(s)).astype(np.float32) if len(s) == 1
                     else rng.integers(0, 256, tuple(s), dtype=np.uint8)
                     for k, s in p.info.observation_shapes.items()} for p in policies]
    times: list[list[float]] = [[] for _ in policies]
    for i in range(calls + 20):
        for k, (policy, obs) in enumerate(zip(policies, observations)):
            t = time.perf_counter()
            policy.predict(obs)
            if i >= 20:
                times[k].append((time.perf_counter() - t) * 1e3)
    return [spread(t) for t in times]


def summarise(args: argparse.Namespace, units: list[dict]) -> list[dict]:
    _, values = parse_vary(args.vary)
    rows = []
    for value in values:
        mine = [u for u in units if u["value"] == value]
        wins, trials = sum(u["successes"] for u in mine), sum(u["episodes"] for u in mine)
        rates = [u["success"] for u in mine]
        rows.append({"value": value, "seeds": [u["seed"] for u in mine], "per_seed": rates,
                     "mean": float(np.mean(rates)), "std": float(np.std(rates, ddof=1)) if len(rates) > 1 else 0.0,
                     "successes": wins, "episodes": trials, "pooled_ci95": list(wilson_interval(wins, trials)),
                     "train_seconds_mean": float(np.mean([u["train_seconds"] for u in mine]))})
    base = rows[0]
    for row in rows[1:]:
        row["difference"] = row["successes"] / row["episodes"] - base["successes"] / base["episodes"]
        row["difference_ci95"] = list(difference_interval(row["successes"], row["episodes"],
                                                          base["successes"], base["episodes"]))
    return rows


def run(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    key, values = parse_vary(args.vary)
    started = time.time()
    from hgdagger.common import threads

    jobs = max(1, min(args.jobs, len(values) * len(args.seeds)))
    args.threads = threads.apply(threads.choose(args.threads, processes=jobs), "hgd-bench-settings", say=print).threads
    units = map_seeds(run_unit, args, [(v, s) for v in values for s in args.seeds], args.jobs)
    rows = summarise(args, units)
    if args.calls > 0:  # the first seed's checkpoint of every value, side by side
        first = [next(u["checkpoint"] for u in units if u["value"] == r["value"]) for r in rows]
        latencies, scheduler = chunk_latency(first, args.calls)
        for row, lat in zip(rows, latencies):
            row["chunk_ms"], row["chunk_timed_under"] = lat, scheduler
    print(f"\n{args.task}, preset {args.preset}{' ' + ' '.join(args.set) if args.set else ''}: {key} over "
          f"{len(args.seeds)} seeds x {rows[0]['episodes'] // max(1, len(args.seeds))} evaluation episodes "
          f"({time.time() - started:.0f} s)")
    table = []
    for row in rows:
        diff = (f"{row['difference']:+.2f} [{row['difference_ci95'][0]:+.2f}, {row['difference_ci95'][1]:+.2f}]"
                if "difference" in row else "(baseline)")
        lat = row.get("chunk_ms")
        table.append([json.dumps(row["value"]), f"{row['mean']:.2f} ± {row['std']:.2f}",
                      f"[{row['pooled_ci95'][0]:.2f}, {row['pooled_ci95'][1]:.2f}]",
                      " / ".join(f"{r:.2f}" for r in row["per_seed"]), diff, f"{row['train_seconds_mean']:.0f}",
                      f"{lat['median']:.2f} ({lat['p10']:.2f}-{lat['p90']:.2f})" if lat else "-"])
    print_table([key, "success mean ± sd", "pooled 95% CI", "per seed", "vs baseline [95% CI]", "train s",
                 "chunk ms p50 (p10-p90)"], table)
    if rows[0].get("chunk_timed_under"):
        print(f"(chunks: batch 1, one thread, the first seed's checkpoints in turns, {rows[0]['chunk_timed_under']})")
    out = Path(args.out) / f"settings_{result_name(args)}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    report = {"task": args.task, "args": vars(args), "key": key, "rows": rows, "units": units}
    out.write_text(json.dumps(report, indent=1))
    print(f"wrote {out}")
    return report


def main(argv: list[str] | None = None) -> int:
    from hgdagger.benchmarks.bench_dagger import task_problem
    from hgdagger.cli.arguments import fail

    args = parse_args(argv)
    if args.jobs < 1 or args.calls < 0:
        return fail("--jobs needs at least 1 and --calls at least 0")

    def check_settings() -> None:  # every value's settings, before any loop starts
        for value in parse_vary(args.vary)[1]:
            loop_config(args, value, args.seeds[0])

    problem = task_problem(args.task, args.plugin, check_settings)
    if problem:
        return fail(problem)
    run(argv)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
