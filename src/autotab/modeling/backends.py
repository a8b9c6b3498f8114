"""Where tuning trials run: local worker processes, a private Dask cluster on 127.0.0.1, or an
existing Dask scheduler. Every backend gives the same thing, `submit(family, params, features,
fold)` returning a `concurrent.futures.Future` of one fold's score, so one ask/tell loop
(`tuning.run_study`) serves them all; the problem (training rows, folds, recipe) reaches each
worker once, not once per trial.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

import joblib
from threadpoolctl import threadpool_limits

from autotab.config import BackendConfig, ModelConfig
from autotab.errors import UserError
from autotab.modeling.budget import stop_pool, worker_pool

ADDRESS_VARIABLE = "AUTOTAB_DASK_ADDRESS"
SubmitFold = Callable[[str, dict[str, Any], dict[str, Any], int], Future]


def fold_score(problem, family: ModelConfig, params: dict, features: dict, fold: int) -> float:
    # One BLAS/OpenMP thread per worker: workers are the parallelism, and nested threads
    # oversubscribe the cores (measured here: many times slower).
    with threadpool_limits(1):
        return problem.fold_score(family, params, features, fold)


_worker_problem = None


def _receive_problem(problem) -> None:
    global _worker_problem
    _worker_problem = problem


def _worker_fold_score(family: ModelConfig, params: dict, features: dict, fold: int) -> float:
    return fold_score(_worker_problem, family, params, features, fold)


_loaded_from: str | None = None


def _forked_fold_score(problem_file: str, family: ModelConfig, params: dict, features: dict, fold: int) -> float:
    # A worker forked before the problem existed reads it once from the file the driver wrote.
    global _loaded_from
    if _loaded_from != problem_file:
        _receive_problem(joblib.load(problem_file))
        _loaded_from = problem_file
    return _worker_fold_score(family, params, features, fold)


def scheduler_address(backend: BackendConfig) -> str:
    address = os.environ.get(ADDRESS_VARIABLE) or backend.address
    if not address:
        raise UserError(
            f"backend=dask needs the scheduler's address: set {ADDRESS_VARIABLE}=tcp://HOST:8786 "
            "(or backend.address), or use backend=dask_local for a private cluster on this machine"
        )
    return address


@contextlib.contextmanager
def trial_runner(
    backend: BackendConfig,
    problem,
    families: dict[str, ModelConfig],
    pool: ProcessPoolExecutor | None = None,
    workers: int | None = None,
) -> Iterator[SubmitFold]:
    """Start the backend's workers, hand them the problem, and yield `submit`; stop them after.

    The local backend starts `workers` processes (default: `backend.parallelism`), or uses a
    `pool` already started (forked, see `budget.worker_pool`), whose workers read the problem
    from a file."""
    if backend.name == "local":
        scratch = tempfile.TemporaryDirectory(prefix="autotab-problem-") if pool is not None else None
        if scratch is not None:
            problem_file = f"{scratch.name}/problem.joblib"
            joblib.dump(problem, problem_file)
            task, task_args = _forked_fold_score, (problem_file,)
        else:
            pool = worker_pool(workers or backend.parallelism, initializer=_receive_problem, initargs=(problem,))
            task, task_args = _worker_fold_score, ()
        try:

            def submit(family: str, params: dict, features: dict, fold: int) -> Future:
                try:
                    return pool.submit(task, *task_args, families[family], params, features, fold)
                except BrokenProcessPool:
                    raise UserError(
                        "backend=local: a worker process died (out of memory?); lower backend.parallelism, "
                        "or run the trials where there is more memory (backend=dask)"
                    ) from None

            yield submit
        finally:  # a fit still running (a trial stopped at the deadline, an interrupt) is killed
            stop_pool(pool)
            if scratch is not None:
                scratch.cleanup()
        return

    with dask_client(backend) as client:
        try:
            scattered = {"problem": client.scatter(problem, broadcast=True)}
        except TimeoutError:
            raise UserError(f"backend={backend.name}: the Dask scheduler has no workers; start some") from None
        # A task lost with its worker is rescheduled by Dask (up to its allowed-failures); a task that
        # raises is not rerun: it fails its trial, as on the local backend.
        executor = client.get_executor(pure=False)

        def submit(family: str, params: dict, features: dict, fold: int):
            if scattered["problem"].status != "finished":
                # Lost with the worker that held it (another cluster's memory manager may keep one
                # replica only): the tasks that needed it fail their trials; later ones get it again.
                scattered["problem"] = client.scatter(problem, broadcast=True)
            return executor.submit(fold_score, scattered["problem"], families[family], params, features, fold)

        yield submit


@contextlib.contextmanager
def dask_client(backend: BackendConfig) -> Iterator:
    """A `distributed.Client` of the backend's cluster: a private `LocalCluster` on 127.0.0.1 with
    `backend.parallelism` single-threaded worker processes (dask_local, stopped after), or the
    existing scheduler at `scheduler_address` (dask)."""
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise UserError(
            f"backend={backend.name} needs Dask, an optional dependency: pip install 'autotab[dask]' "
            "(make setup installs it), or run with backend=local"
        ) from None

    with contextlib.ExitStack() as stack:
        if backend.name == "dask_local":
            import dask

            # Dask's active memory manager drops the replicas of broadcast data down to one, so a
            # killed worker could take the only copy of the table with it; the local cluster is ours.
            stack.enter_context(dask.config.set({"distributed.scheduler.active-memory-manager.start": False}))
            scratch = stack.enter_context(tempfile.TemporaryDirectory(prefix="autotab-dask-"))
            cluster = stack.enter_context(
                LocalCluster(
                    n_workers=backend.parallelism,
                    threads_per_worker=1,
                    processes=True,
                    host="127.0.0.1",
                    dashboard_address=None,
                    local_directory=scratch,
                )
            )
            client = stack.enter_context(Client(cluster))
            # Every worker up before the data is broadcast: a worker that joins later gets no replica,
            # and the data is lost if the one that has it dies (seen on a busy machine: every later
            # trial failed with CancelledError).
            client.wait_for_workers(backend.parallelism, timeout=120)
        else:
            address = scheduler_address(backend)
            try:
                client = stack.enter_context(Client(address, timeout="10s"))
            except (OSError, ValueError) as error:  # refused, timed out, or not an address at all
                raise UserError(f"backend=dask: cannot reach the Dask scheduler at {address}: {error}") from None
        yield client
