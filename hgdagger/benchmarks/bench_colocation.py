"""hgd-bench-colocation: the policy and training on a shared CPU, quiet and beside busy processes.

In a lab without a GPU box the policy server, the runtime, the recorder and often a training job
share one machine. Side by side in one run, each in a fresh process (colocation_work.py):
- a chunk of the default state policy at batch 1 (ms, as hgd-serve computes it),
- a training step of the same model at batch 256 (ms; steps/s),
each with torch's own thread count (one per core) and with the count hgd-serve / hgd-train choose
(hgdagger.common.threads), the chunk also from a real-time thread as hgd-serve serves it (SCHED_FIFO,
hgdagger.common.realtime, where permitted), on a quiet machine and beside --load busy processes (a stand-in of the
runtime's and the recorder's shape: each holds a core). Goal (issue 19): loaded <= 2x quiet.
With --loop PRESET, also the wall time of hgd-loop --preset PRESET quiet and beside --loop-load busy
processes, with the default threads and with one thread per core.
Prints a table and writes benchmarks/results/colocation.json.

    hgd-bench-colocation                      # 2 busy processes, 200 chunks, 20 training steps per cell
    hgd-bench-colocation --loop quick --loop-load 1
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from hgdagger.cli.arguments import nonnegative_int, positive_int
from hgdagger.common import threads
from hgdagger.common.stats import print_table, spread
from hgdagger.cli.arguments import add_threads_argument

# The command each workload stands for: its busy processes, as that command counts them.
COMMAND_PROCESSES = {"chunk": 2, "train": 1}  # hgd-serve (server + a runtime beside it), hgd-train
REALTIME = "chosen, real-time"  # the chosen threads, from a thread under SCHED_FIFO as hgd-serve serves
MODES = {"chunk": ("torch default", "chosen", REALTIME), "train": ("torch default", "chosen")}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="hgd-bench-colocation", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog=__doc__.split("\n\n", 1)[1])
    p.add_argument("--load", type=positive_int, default=2, help="busy processes beside the workloads (default: 2)")
    p.add_argument("--chunks", type=positive_int, default=200, help="chunks timed per cell (default: 200)")
    p.add_argument("--train-steps", type=positive_int, default=20, help="training steps timed per cell (default: 20)")
    add_threads_argument(p, "here the count the workloads run with in the 'chosen' rows (default: what hgd-serve "
                         "and hgd-train would choose)")
    p.add_argument("--loop", default=None, metavar="PRESET", help="also time hgd-loop --preset PRESET (e.g. quick)")
    p.add_argument("--loop-load", type=nonnegative_int, default=1, help="busy processes beside hgd-loop (default: 1)")
    p.add_argument("--out", type=Path, default=Path("benchmarks/results/colocation.json"),
                   help="results JSON (default: %(default)s)")
    return p.parse_args(argv)


def busy_processes(n: int) -> list[subprocess.Popen]:
    """n processes that each hold a core at normal priority."""
    return [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(n)]


def stop(procs: list[subprocess.Popen]) -> None:
    for p in procs:
        p.kill()
    for p in procs:
        p.wait()


def thread_env(count: int | None) -> dict[str, str]:
    """The environment of a workload: ``count`` threads, or None for torch's own default (no variables)."""
    if count is not None:
        return threads.child_env(count)
    return {k: v for k, v in os.environ.items() if k not in threads.THREAD_ENV}


def run_work(work: str, n: int, count: int | None, realtime: bool = False) -> dict:
    """One workload in a fresh process; its milliseconds, the thread count torch ran with and whether
    it ran real-time."""
    spec = json.dumps({"work": work, "n": n, "realtime": realtime})
    out = subprocess.run([sys.executable, "-m", "hgdagger.benchmarks.colocation_work", spec], env=thread_env(count),
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def time_loop(preset: str, count: int | None) -> float:
    """Wall seconds of hgd-loop --preset PRESET into a fresh folder."""
    with tempfile.TemporaryDirectory() as d:
        extra = [] if count is None else ["--threads", str(count)]
        t = time.perf_counter()
        subprocess.run([sys.executable, "-m", "hgdagger.cli.loop", "--preset", preset, "--out", f"{d}/run", "--quiet",
                        *extra], env=thread_env(None), check=True, stdout=subprocess.DEVNULL)
        return time.perf_counter() - t


def run(argv: list[str] | None = None) -> dict:
    """Run the benchmark; return the report it writes."""
    args = parse_args(argv)
    cores = threads.available_cores()
    counts = {w: args.threads or threads.default_threads(cores, p) for w, p in COMMAND_PROCESSES.items()}
    print(f"hgd-bench-colocation: {cores} cores, {args.load} busy processes in the loaded runs; threads chosen: "
          f"chunk {counts['chunk']}, train {counts['train']} (torch's own: {cores})")
    cells: dict[tuple[str, str, int], dict] = {}
    for load in (0, args.load):  # every pair of rows below saw the same machine state
        hogs = busy_processes(load)
        try:
            time.sleep(0.5 if load else 0)
            for work, n in (("chunk", args.chunks), ("train", args.train_steps)):
                for mode in MODES[work]:
                    count = None if mode == "torch default" else counts[work]
                    r = run_work(work, n, count, realtime=mode == REALTIME)
                    if mode == REALTIME and not r["realtime"]:
                        print(f"  (SCHED_FIFO refused here: the '{REALTIME}' row runs under the normal scheduler)")
                    cell = cells[(work, mode, load)] = {"threads": r["threads"], "realtime": r["realtime"],
                                                        **spread(r["ms"])}
                    print(f"  {work}, {mode} ({r['threads']}), {load} busy: {cell['median']:.2f} ms", flush=True)
        finally:
            stop(hogs)
    rows = []
    for work in ("chunk", "train"):
        for mode in MODES[work]:
            quiet, loaded = cells[(work, mode, 0)], cells[(work, mode, args.load)]
            rows.append({"work": work, "mode": mode, "threads": quiet["threads"], "realtime": quiet["realtime"],
                         "quiet_ms": quiet,
                         "loaded_ms": loaded, "loaded_over_quiet": loaded["median"] / quiet["median"]})
    report = {"cores": cores, "load": args.load, "cpu": platform.processor() or platform.machine(),
              "args": {k: str(v) for k, v in vars(args).items()}, "rows": rows}
    if args.loop:
        report["loop"] = loop_rows(args, cores)
    print_report(report)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1))
    print(f"wrote {args.out}")
    return report


def loop_rows(args: argparse.Namespace, cores: int) -> list[dict]:
    """hgd-loop's wall time, default threads vs one per core, quiet and beside --loop-load busy processes."""
    rows = []
    for label, count in (("default", None), ("one per core", cores)):
        quiet = time_loop(args.loop, count)
        print(f"  hgd-loop, {label} threads, quiet: {quiet:.0f} s", flush=True)
        hogs = busy_processes(args.loop_load)
        try:
            loaded = time_loop(args.loop, count)
        finally:
            stop(hogs)
        print(f"  hgd-loop, {label} threads, beside {args.loop_load} busy: {loaded:.0f} s", flush=True)
        rows.append({"threads": label, "quiet_s": quiet, "loaded_s": loaded, "loaded_over_quiet": loaded / quiet})
    return rows


def print_report(report: dict) -> None:
    def cell(s: dict) -> str:
        return f"{s['median']:.2f} ({s['p10']:.2f}-{s['p90']:.2f})"

    print(f"\nms per call, median (p10-p90); loaded: beside {report['load']} busy processes")
    table = []
    for r in report["rows"]:
        what = "chunk, batch 1" if r["work"] == "chunk" else "train step, batch 256"
        rate = "" if r["work"] == "chunk" else (f"{1e3 / r['quiet_ms']['median']:.1f} -> "
                                                f"{1e3 / r['loaded_ms']['median']:.1f} steps/s")
        ok = "yes" if r["loaded_over_quiet"] <= 2 else "no"
        refused = ", SCHED_FIFO refused" if r["mode"] == REALTIME and not r.get("realtime") else ""
        table.append([what, f"{r['mode']} ({r['threads']}{refused})", cell(r["quiet_ms"]), cell(r["loaded_ms"]),
                      f"{r['loaded_over_quiet']:.1f}x", ok, rate])
    print_table(["workload", "threads", "quiet ms", "loaded ms", "loaded/quiet", "<= 2x", ""], table)
    if "loop" in report:
        print(f"\nhgd-loop --preset {report['args']['loop']} wall time, quiet and beside "
              f"{report['args']['loop_load']} busy processes")
        print_table(["threads", "quiet s", "loaded s", "loaded/quiet"],
                    [[r["threads"], f"{r['quiet_s']:.0f}", f"{r['loaded_s']:.0f}", f"{r['loaded_over_quiet']:.2f}x"]
                     for r in report["loop"]])


def main(argv: list[str] | None = None) -> int:
    run(argv)
    return 0


if __name__ == "__main__":
    sys.exit(main())
