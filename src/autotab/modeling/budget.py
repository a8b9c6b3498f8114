"""The whole-run time budget (`budget_s`): train and tune share one wall-clock allowance.

With a budget, the leaderboard gets `TRAIN_SHARE` of it and tune gets what train left. Work runs in
spawned worker processes, one per core and one thread each, so that a fit still running when time
is up can be stopped: the process is terminated, not waited for. Without a budget none of this is
used, and a run stays deterministic.
"""

from __future__ import annotations

import math
import multiprocessing
import os
import signal
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

# The leaderboard's share, a cap: it stops when every candidate is ranked, and tune has the rest.
# Half, because the leaderboard is where a budget buys the most: the model a budgeted run serves was
# its defaults or a blend of them far more often than a tuned one (README, One budget), and at 30% a
# mid-sized table was ranked on a sample, or lost an expensive family, for want of seconds the
# search then did not need.
TRAIN_SHARE = 0.5


class OutOfTime(Exception):
    """Work that would not finish before the deadline; what it says goes into the records."""


@dataclass(frozen=True)
class Deadline:
    """A point in `time.monotonic()` (one clock for every process on the machine); None: no budget."""

    at: float | None = None

    @classmethod
    def after(cls, seconds: float | None) -> Deadline:
        return cls(None if seconds is None else time.monotonic() + seconds)

    @property
    def bounded(self) -> bool:
        return self.at is not None

    def left(self) -> float:
        return math.inf if self.at is None else self.at - time.monotonic()

    def check(self, what: str, seconds_needed: float) -> None:
        """Raise `OutOfTime` if `seconds_needed` more would overrun."""
        left = self.left()
        if seconds_needed > left:
            raise OutOfTime(f"{what} needs ~{seconds_needed:.0f} s, {max(left, 0):.0f} s of the budget left")


NO_DEADLINE = Deadline()


def cores() -> int:
    """The cores this process may run on (a container's CPU set, not the host's count)."""
    return len(os.sched_getaffinity(0))


def worker_pool(workers: int, initializer=None, initargs: tuple = (), fork: bool = False) -> ProcessPoolExecutor:
    """`workers` worker processes, spawned: a spawned worker imports pandas and scikit-learn, seconds
    before its first task (4 s measured here on an idle machine, 10 s on a busy one).

    With `fork`, the workers are forked now, copies of this process as it is: instant, and safe
    only while it has run nothing that starts threads (reading Parquet, a fit); call it first thing.
    On Linux only: macOS' system libraries start threads of their own (Python spawns there)."""
    context = multiprocessing.get_context("fork" if fork and sys.platform == "linux" else "spawn")
    pool = ProcessPoolExecutor(workers, mp_context=context, initializer=_start_worker, initargs=(initializer, initargs))
    if fork:
        for _ in range(workers):  # the executor forks on submit: now, before this process starts threads
            pool.submit(int)
    return pool


def _start_worker(initializer, initargs: tuple) -> None:
    # Ctrl-C reaches every process of the terminal's group: the driver stops the workers itself
    # (`stop_pool`), and a worker's own KeyboardInterrupt would only print a traceback per process.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if initializer is not None:
        initializer(*initargs)


def stop_pool(pool: ProcessPoolExecutor) -> None:
    """Stop a pool now: queued tasks are cancelled and running ones killed with their process.

    `ProcessPoolExecutor.shutdown` would wait for a running fit, however long it takes; a deadline
    cannot. The executor keeps its processes in `_processes` (stable since Python 3.2)."""
    processes = list((pool._processes or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        if process.is_alive():
            process.terminate()
    for process in processes:
        process.join(timeout=5)
