"""How many CPU threads a process's torch uses, and the OpenMP, MKL and OpenBLAS pools of the
processes it starts: chosen from the cores this process may run on and how many busy processes the
command runs side by side, never left to the libraries.

Why: torch's default is one thread per core, and its OpenMP threads wait for each other at every
operation. When another process holds one of those cores, every operation waits for it: beside two
busy processes on 2 cores, a training step of the default 1 M-parameter policy took 1.02-1.07 s with
2 threads and 0.10-0.12 s with 1, and a served chunk 65-70 ms instead of 3 (issue 19). A process
with fewer threads than there are free cores never falls off that cliff, and the policies here are
small enough that more threads buy little. So the default leaves room for one more busy process
than the command starts (on a lab machine: the runtime, the recorder, another job) and takes at
most MAX_DEFAULT threads:

    threads = clamp(cores // (processes + 1), 1, MAX_DEFAULT)

Precedence: ``--threads N``, then OMP_NUM_THREADS from the environment (a person's choice, or a
parent command's plan for it: hgd-loop sets it for the hgd-serve it starts), then the default.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from dataclasses import dataclass

# Variables the thread pools of child processes read when they start (torch's OpenMP and MKL,
# numpy's OpenBLAS). This process's own numpy pool is already sized when a command parses its
# flags; numpy's small arrays here never use more than one of its threads anyway.
THREAD_ENV = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")
MAX_DEFAULT = 4  # the default never takes more: the policies' matrices are too small to gain from more

log = logging.getLogger("hgd.threads")


@dataclass(frozen=True)
class ThreadChoice:
    """The intra-op thread count of one process, and where it came from (for the log line)."""

    threads: int
    cores: int  # cores this process may run on
    processes: int  # busy processes the command runs side by side, this one included
    source: str  # "--threads", "OMP_NUM_THREADS", "settings" or "default"

    def describe(self) -> str:
        """'1 torch thread (default: 2 cores, 2 busy processes + 1 other)' — one line, for the log."""
        plural = "s" if self.threads != 1 else ""
        if self.source == "default":
            why = (f"default for {self.cores} core{'s' * (self.cores != 1)} and {self.processes} busy "
                   f"process{'es' * (self.processes != 1)} of this command + 1 other; --threads N to change")
        else:
            why = f"{self.source}; {self.cores} cores here"
        return f"{self.threads} torch thread{plural} ({why})"


def available_cores() -> int:
    """The cores this process may run on (its CPU affinity: a container's or taskset's share), not the machine's."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # not Linux
        return max(1, os.cpu_count() or 1)


def default_threads(cores: int, processes: int = 1) -> int:
    """Room for one more busy process than the command starts, at most MAX_DEFAULT, at least 1."""
    return max(1, min(MAX_DEFAULT, cores // (max(1, processes) + 1)))


def _from_environment() -> int | None:
    raw = os.environ.get("OMP_NUM_THREADS", "").strip()
    return int(raw) if raw.isdigit() and int(raw) > 0 else None


def choose(requested: int | None = None, processes: int = 1, settings: int | None = None) -> ThreadChoice:
    """The thread count for this process: ``requested`` (--threads), else OMP_NUM_THREADS, else
    ``settings`` (a saved config's own count, when positive), else the default for ``processes``."""
    cores = available_cores()
    for value, source in ((requested, "--threads"), (_from_environment(), "OMP_NUM_THREADS"),
                          (settings if settings and settings > 0 else None, "settings")):
        if value is not None:
            return ThreadChoice(int(value), cores, processes, source)
    return ThreadChoice(default_threads(cores, processes), cores, processes, "default")


def child_env(threads: int, base: dict[str, str] | None = None) -> dict[str, str]:
    """An environment for a child process whose thread pools start at ``threads``."""
    return {**(os.environ if base is None else base), **{name: str(threads) for name in THREAD_ENV}}


def apply(choice: ThreadChoice, prog: str, say=None) -> ThreadChoice:
    """Use ``choice`` in this process (torch, when it is imported or importable) and in every child
    it starts from now on; say so in one line (``say``: a print-like function; default the log)."""
    os.environ.update(child_env(choice.threads, {}))
    try:
        import torch
    except ModuleNotFoundError:  # a robot-side install: only the children's pools to size
        torch = None
    if torch is not None:
        if torch.get_num_threads() != choice.threads:
            torch.set_num_threads(choice.threads)
        choice = dataclasses.replace(choice, threads=torch.get_num_threads())  # what torch uses, read back
    (say or log.info)(f"{prog}: {choice.describe()}")
    return choice

