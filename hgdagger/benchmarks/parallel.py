"""Running a benchmark's per-seed work in parallel processes (each seed trains its own policies)."""

from __future__ import annotations

import signal
import sys
import traceback
from typing import Any, Callable

from hgdagger.common.termination import TERMINATED, unwind_on_sigterm


class SeedFailed(RuntimeError):
    """A seed's work raised in its worker process; the message carries the worker's traceback."""


def map_seeds(run_seed: Callable[[Any, int], dict], args: Any, seeds: list[int], jobs: int) -> list[dict]:
    """`run_seed(args, seed)` for every seed, in order; `jobs` > 1 spreads them over spawned processes
    (spawn, not fork: torch and MuJoCo state must not be shared), one process per seed, at most `jobs`
    at a time. Stopped (Ctrl-C, SIGTERM), the workers are stopped too and unwind: nothing is left
    running on the run folders, a training under way saves its step, and a rerun resumes. A seed that
    fails lets the others finish (each keeps its result for the rerun) before its error is raised."""
    previous = unwind_on_sigterm()
    try:
        if jobs <= 1:
            return [run_seed(args, s) for s in seeds]
        return _in_processes(run_seed, args, seeds, jobs)
    except KeyboardInterrupt:  # Ctrl-C: a person's choice, not a crash
        print("\ninterrupted: what was finished is kept in the run folders (a training under way saved its "
              "step); rerun the same command to resume", file=sys.stderr)
        raise SystemExit(130) from None
    finally:
        signal.signal(signal.SIGTERM, previous)


def _worker(run_seed: Callable[[Any, int], dict], args: Any, seed: int, conn: Any) -> None:
    """One seed in its own process; SIGTERM unwinds it like Ctrl-C (its `finally` blocks stop the
    policy server it started; a training under way saves first: `policy_server.interrupt`)."""
    unwind_on_sigterm()
    try:
        conn.send(("ok", run_seed(args, seed)))
    except (KeyboardInterrupt, SystemExit):
        sys.exit(TERMINATED)
    except BaseException:
        conn.send(("error", traceback.format_exc()))
    finally:
        conn.close()


def _in_processes(run_seed: Callable[[Any, int], dict], args: Any, seeds: list[int], jobs: int) -> list[dict]:
    import multiprocessing as mp
    from multiprocessing.connection import wait

    ctx = mp.get_context("spawn")
    todo, running, results, failures = list(enumerate(seeds)), {}, {}, []
    try:
        while todo or running:
            while todo and len(running) < jobs:
                i, seed = todo.pop(0)
                receive, send = ctx.Pipe(duplex=False)
                proc = ctx.Process(target=_worker, args=(run_seed, args, seed, send), name=f"seed {seed}")
                proc.start()
                send.close()  # (the parent's copy: the worker's end closing is then seen as end of file)
                running[receive] = (i, seed, proc)
            for conn in wait(list(running)):
                i, seed, proc = running.pop(conn)
                try:
                    kind, value = conn.recv()
                except EOFError:  # it died without a word (killed, out of memory)
                    kind, value = "error", "the worker process ended without a result"
                conn.close()
                proc.join()
                if kind == "ok":
                    results[i] = value
                else:
                    failures.append(f"seed {seed}:\n{value}")
    except BaseException:
        for _, _, proc in running.values():
            if proc.is_alive():
                proc.terminate()  # SIGTERM: each unwinds, saving a training under way
        for _, _, proc in running.values():
            proc.join(timeout=60)
            if proc.is_alive():
                proc.kill()
        raise
    if failures:
        raise SeedFailed("\n".join(failures))
    return [results[i] for i in range(len(seeds))]
