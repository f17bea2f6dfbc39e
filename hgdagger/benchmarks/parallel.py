"""Running a benchmark's per-seed work in parallel processes (each seed trains its own policies)."""

from __future__ import annotations

from typing import Any, Callable


def map_seeds(run_seed: Callable[[Any, int], dict], args: Any, seeds: list[int], jobs: int) -> list[dict]:
    """`run_seed(args, seed)` for every seed, in order; `jobs` > 1 spreads them over spawned processes
    (spawn, not fork: torch and MuJoCo state must not be shared)."""
    if jobs <= 1:
        return [run_seed(args, s) for s in seeds]
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(jobs, mp_context=mp.get_context("spawn")) as pool:
        return list(pool.map(run_seed, [args] * len(seeds), seeds))
