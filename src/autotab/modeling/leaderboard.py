"""The leaderboard: every candidate family, with its default hyperparameters, cross-validated on
the same folds; ranked by the primary metric. A candidate that fails is recorded and left out.

With a time budget, candidates run in the order given (cheap first), one per worker process, and
one that would not finish in time is stopped and listed as skipped for the budget.

On a table with more rows than `screen_rows`, the leaderboard is one round of successive halving
(Jamieson & Talwalkar 2016; FLAML and AutoGluon likewise grow the sample before the expensive fits):
every candidate is first cross-validated on a seeded sample of that many rows, and only the best
`screen_keep` share of them (at least `MIN_KEPT`) on all rows. The others are listed as screened out,
with their score on the sample.

With a time budget, the kept candidates go from the screening sample to the largest seeded sample
(up to every row) whose time, projected from the screening round, fits in what is left, if that is
at least `MIN_GROWTH` times the screening sample. On a table too large for the budget, the ranking
(and the search and the selection after it, in tune) is then on a seeded sample, and the final
refit takes every row that fits in the budget (`search.refit`)."""

from __future__ import annotations

import math
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd
from joblib import Parallel, delayed
from sklearn.base import BaseEstimator
from sklearn.model_selection import BaseCrossValidator, train_test_split
from sklearn.pipeline import Pipeline
from threadpoolctl import threadpool_limits

from autotab.errors import UserError
from autotab.metrics import TASK_METRICS, maximisable
from autotab.modeling.budget import NO_DEADLINE, Deadline, OutOfTime, stop_pool, worker_pool
from autotab.modeling.training import CrossValidation, cross_validate_pipeline, whole_pipeline


@dataclass(frozen=True)
class Skipped:
    """A candidate left out for the time budget, and why."""

    reason: str


@dataclass(frozen=True)
class Screened:
    """A candidate left out after the screening round on a sample of the rows, and why."""

    reason: str


# The screening round keeps at least this many candidates (when that many passed it): the ensemble
# and the search choose among the full-row leaderboard, and need a few families to choose from.
MIN_KEPT = 3
# A budgeted leaderboard climbs from the screening sample only to a sample at least this many times
# larger: a smaller one would spend the rest of the share on a ranking the screening round all but
# gave, time the search can use. One climb, to the largest sample the time affords: fixed rungs
# (Hyperband's, 4x each) left up to three quarters of the share unused on a table between two of
# them, and the rows a choice is made on are what a budget should buy (README, One budget).
MIN_GROWTH = 2
ALMOST_EVERY_ROW = 0.9
# A sample's projected time is this much more than linear in its rows (a tree sorts its rows).
PROJECTION_MARGIN = 1.25
# Told of each candidate as it finishes: its name, its outcome, the round (the screening round or
# all rows), and how many of the round's candidates have finished, of how many.
Progress = Callable[[str, Any, str, int, int], None]


def _silent(name: str, result: Any, round_name: str, done: int, total: int) -> None:
    pass


def _evaluate(name: str, pipeline: Pipeline, **kwargs: Any) -> tuple[str, CrossValidation | Skipped | str]:
    try:
        return name, cross_validate_pipeline(pipeline, **kwargs)
    except OutOfTime as error:
        return name, Skipped(f"skipped for the budget: {error}")
    except Exception as error:  # a candidate that cannot handle the data is left out, not fatal
        first_line = (str(error).strip().splitlines() or [""])[0]
        return name, f"{type(error).__name__}: {first_line}"[:300]


def _evaluate_in_worker(name: str, pipeline: Pipeline, threads: int, **kwargs: Any):
    # Each worker fits with the threads it is given, so workers x threads never exceed the cores
    # (and the budget's fallback, in this process, as many as a worker).
    with threadpool_limits(threads):
        return _evaluate(name, pipeline, **kwargs)


def _within_deadline(
    pipelines: dict[str, Pipeline],
    deadline: Deadline,
    pool: ProcessPoolExecutor,
    threads: int,
    keep_pool: bool = False,
    on_result: Callable[[str, Any], None] = lambda name, result: None,
    **kwargs: Any,
) -> dict[str, CrossValidation | Skipped | str]:
    """Every candidate as one task on the pool's processes, in the given order; at the deadline the
    pool is stopped (running fits killed) and what did not finish is skipped. With `keep_pool`, a
    pool whose tasks all finished in time stays up for another round. `on_result` hears of each
    candidate as it finishes."""
    results: dict[str, CrossValidation | Skipped | str] = {}
    pending: set = set()
    try:
        futures = {
            pool.submit(_evaluate_in_worker, name, pipeline, threads, deadline=deadline, **kwargs): name
            for name, pipeline in pipelines.items()
        }
        pending = set(futures)
        while pending and deadline.left() > 0:
            done, pending = wait(pending, timeout=deadline.left(), return_when=FIRST_COMPLETED)
            for future in done:
                name, result = future.result()
                results[name] = result
                on_result(name, result)
    finally:
        if pending or not keep_pool:
            stop_pool(pool)
    for name in pipelines:
        results.setdefault(name, Skipped("skipped for the budget: not finished when the train share ran out"))
    return {name: results[name] for name in pipelines}


def rank(
    candidates: dict[str, BaseEstimator],
    preprocessor: Pipeline,
    X: pd.DataFrame,
    y: pd.Series,
    task: str,
    folds: BaseCrossValidator,
    metric: str,
    groups: pd.Series | None = None,
    positive: Any = None,
    n_jobs: int = 1,
    deadline: Deadline = NO_DEADLINE,
    pool: ProcessPoolExecutor | None = None,
    threads: int = 1,
    screen_rows: int | None = None,
    screen_keep: float = 0.33,
    seed: int = 0,
    progress: Progress = _silent,
) -> tuple[pd.DataFrame, dict[str, CrossValidation]]:
    """The leaderboard table (best first; failures, skips and screened-out candidates last) and each
    successful candidate's CV on all rows. `progress` hears of each candidate as it finishes.

    With a bounded `deadline`, the `pool`'s worker processes (`threads` threads each) run the
    candidates, and the pool is stopped at the deadline. With more rows than `screen_rows`, a
    screening round on a `seed`ed sample of that many rows comes first (module docstring)."""
    pipelines = {name: whole_pipeline(preprocessor, estimator) for name, estimator in candidates.items()}
    data = {"X": X, "y": y, "task": task, "folds": folds, "groups": groups, "positive": positive}
    if deadline.bounded:
        pool = pool or worker_pool(n_jobs)

    def run(chosen: dict[str, Pipeline], round_name: str, keep_pool: bool = False, **rows: Any) -> dict:
        finished = 0

        def heard(name: str, result: Any) -> None:
            nonlocal finished
            finished += 1
            progress(name, result, round_name, finished, len(chosen))

        if deadline.bounded:
            return _within_deadline(chosen, deadline, pool, threads, keep_pool, on_result=heard, **(data | rows))
        jobs = (delayed(_evaluate)(name, pipeline, **(data | rows)) for name, pipeline in chosen.items())
        results = {}
        for name, result in Parallel(n_jobs=n_jobs, return_as="generator_unordered")(jobs):
            results[name] = result
            heard(name, result)
        return {name: results[name] for name in chosen}  # in the given order, whatever finished first

    def rows_of(sample: np.ndarray) -> dict[str, Any]:
        return {"X": X.iloc[sample], "y": y.iloc[sample], "groups": None if groups is None else groups.iloc[sample]}

    screened: dict[str, Screened | Skipped | str] = {}
    first: dict = {}
    if screen_rows is not None and len(y) > screen_rows and len(pipelines) > MIN_KEPT:
        sample = screening_sample(y, groups, task=task, rows=screen_rows, seed=seed)
        first = run(pipelines, f"screening on {len(sample)} rows", keep_pool=True, **rows_of(sample))
        screened = screen(first, metric=metric, keep=screen_keep, rows=len(sample))
        pipelines = {name: pipeline for name, pipeline in pipelines.items() if name not in screened}
        first = {name: replace(first[name], rows=sample) for name in pipelines}
    results: dict = {}
    if deadline.bounded and first and pipelines:
        results = climb(first, pipelines, run, rows_of, deadline, pool, y=y, groups=groups, task=task, seed=seed)
    elif pipelines and deadline.left() > 0:
        results = run(pipelines, "all rows")
    elif deadline.bounded:  # the screening round used the time up (and stopped the pool), or left no one
        stop_pool(pool)
        results = {
            name: Skipped("skipped for the budget: the screening round used the train share") for name in pipelines
        }
    results = {name: (screened | results)[name] for name in candidates}
    fallback = next((name for name in candidates if isinstance(results[name], Skipped)), None)
    if deadline.bounded and fallback and not any(isinstance(r, CrossValidation) for r in results.values()):
        # A budget too small for any candidate on every row: the first one skipped for it, in the
        # configured order (cheap first), is cross-validated anyway, past the budget: a budgeted run
        # still ends with a served model (the train stage reports the time it spent).
        fallback_pipeline = whole_pipeline(preprocessor, candidates[fallback])
        results[fallback] = _evaluate_in_worker(fallback, fallback_pipeline, threads, **data)[1]
    passed = {name: r for name, r in results.items() if isinstance(r, CrossValidation)}
    if not passed:
        errors = "; ".join(f"{name}: {getattr(error, 'reason', error)}" for name, error in results.items())
        raise UserError(f"every candidate model failed: {errors}")
    rows = []
    for name, result in results.items():
        row: dict[str, Any] = {"model": name}
        if isinstance(result, CrossValidation):
            for m in TASK_METRICS[task]:
                row[f"{m}_mean"], row[f"{m}_std"] = result.summary[m]["mean"], result.summary[m]["std"]
            row["status"], row["error"] = "ok", ""
        elif isinstance(result, Skipped):
            row["status"], row["error"] = "skipped", result.reason
        elif isinstance(result, Screened):
            row["status"], row["error"] = "screened", result.reason
        else:
            row["status"], row["error"] = "failed", result
        rows.append(row)
    table = pd.DataFrame(rows)
    order = table[f"{metric}_mean"].map(lambda v: -maximisable(v, metric) if pd.notna(v) else np.inf)
    table = table.assign(_order=order).sort_values(["_order", "model"], kind="stable").drop(columns="_order")
    table.insert(0, "rank", range(1, len(table) + 1))
    table["rank"] = table["rank"].where(table["status"] == "ok").astype("Int64")
    return table.reset_index(drop=True), passed


def climb_rows(done: int, rows: int, *, seconds: float, left: float) -> int | None:
    """How many of `rows` rows the kept candidates can be ranked on in `left` seconds, projected
    linearly from `seconds` on the `done` rows of the screening sample: every row, or the largest
    sample that fits, if that is `MIN_GROWTH` times the screening sample (else None), short of
    `ALMOST_EVERY_ROW` of them: a stratified sample needs rows left out."""
    size = rows if seconds <= 0 else int(done * left / seconds)
    if size >= rows:
        return rows
    if size < MIN_GROWTH * done:
        return None
    return min(size, int(ALMOST_EVERY_ROW * rows))


def makespan(seconds: list[float], workers: int) -> float:
    """How long tasks of these durations take on `workers`, each started, in order, on the worker
    that frees up first (as the pool hands them out)."""
    free = [0.0] * max(workers, 1)
    for duration in seconds:
        free[free.index(min(free))] += duration
    return max(free)


def climb(
    ranked: dict[str, CrossValidation],
    pipelines: dict[str, Pipeline],
    run: Callable[..., dict],
    rows_of: Callable[[np.ndarray], dict[str, Any]],
    deadline: Deadline,
    pool: ProcessPoolExecutor,
    *,
    y: pd.Series,
    groups: pd.Series | None,
    task: str,
    seed: int,
) -> dict[str, CrossValidation | str]:
    """The kept candidates' results on the largest sample of rows whose time fits in what is left
    (`climb_rows`), from their screening results (`ranked`, each with its `rows`): that sample's
    time is projected linearly in rows from the screening round, scheduled on the pool's workers,
    with a margin (`PROJECTION_MARGIN`: a tree's fit grows a little faster than its rows). If it
    does not finish in time, or every candidate fails on it, the screening results stand. Every
    row gives results with `rows` None. The pool is stopped on return."""
    workers = getattr(pool, "_max_workers", 1)  # ProcessPoolExecutor's worker count, stable since 3.2
    done = len(next(iter(ranked.values())).rows)
    seconds = [result.fit_seconds + result.predict_seconds for result in ranked.values()]
    try:
        size = climb_rows(done, len(y), seconds=PROJECTION_MARGIN * makespan(seconds, workers), left=deadline.left())
        if size is None:
            return dict(ranked)
        sample = None if size >= len(y) else screening_sample(y, groups, task=task, rows=size, seed=seed)
        if sample is not None and len(sample) >= len(y):  # whole groups that add up to every row
            sample = None
        # Every row: the table as it is, not a copy of it.
        rows = {} if sample is None else rows_of(sample)
        got = run(pipelines, "all rows" if sample is None else f"{len(sample)} rows", keep_pool=True, **rows)
        unfinished = any(isinstance(result, Skipped) for result in got.values())
        if unfinished or not any(isinstance(result, CrossValidation) for result in got.values()):
            return dict(ranked)  # not finished in time, or failed on more rows: the screening round ranks them
        return {name: replace(r, rows=sample) if isinstance(r, CrossValidation) else r for name, r in got.items()}
    finally:
        stop_pool(pool)


def screening_sample(y: pd.Series, groups: pd.Series | None, *, task: str, rows: int, seed: int) -> np.ndarray:
    """Positions of a seeded sample of about `rows` rows: stratified by class, or whole groups."""
    positions = np.arange(len(y))
    if groups is not None:  # whole groups, in a seeded order, until the sample has enough rows
        order = np.random.default_rng(seed).permutation(pd.unique(groups))
        sizes = groups.value_counts().reindex(order).to_numpy()
        chosen = set(order[: int(np.searchsorted(np.cumsum(sizes), rows)) + 1])
        return positions[groups.isin(chosen).to_numpy()]
    stratify = y if task != "regression" and y.value_counts().min() >= 2 else None
    sample, _ = train_test_split(positions, train_size=rows, stratify=stratify, random_state=seed)
    return np.sort(sample)


def screen(
    first: dict[str, CrossValidation | Skipped | str], *, metric: str, keep: float, rows: int
) -> dict[str, Screened | Skipped | str]:
    """The candidates the screening round leaves out: failed or skipped there, or outside the best
    `keep` share of those that passed (at least `MIN_KEPT`)."""
    passed = {name: r for name, r in first.items() if isinstance(r, CrossValidation)}
    out: dict[str, Screened | Skipped | str] = {n: r for n, r in first.items() if n not in passed}
    score = {name: maximisable(r.summary[metric]["mean"], metric) for name, r in passed.items()}
    ranked = sorted(passed, key=lambda name: (-score[name], name))
    kept = ranked[: max(MIN_KEPT, math.ceil(keep * len(ranked)))]
    if not kept:
        return out
    bar = passed[kept[-1]].summary[metric]["mean"]
    for name in ranked[len(kept) :]:
        mean = passed[name].summary[metric]["mean"]
        out[name] = Screened(f"screened out on {rows} rows: {metric} {mean:.4f} (the kept reached {bar:.4f})")
    return out


def markdown(table: pd.DataFrame, task: str, metric: str) -> str:
    """The leaderboard as a Markdown table: each metric as mean ± std, the primary one first."""
    metrics = [metric] + [m for m in TASK_METRICS[task] if m != metric]
    rows = []
    for row in table.to_dict("records"):
        cells = {"rank": "" if pd.isna(row["rank"]) else str(int(row["rank"])), "model": row["model"]}
        for m in metrics:
            mean = row.get(f"{m}_mean")
            cells[f"{m}{' (primary)' if m == metric else ''}"] = (
                "" if pd.isna(mean) else f"{mean:.4f} ± {row[f'{m}_std']:.4f}"
            )
        # Skipped and screened-out candidates show their recorded reason.
        cells["status"] = {"ok": "ok", "failed": f"failed: {row['error']}"}.get(row["status"], row["error"])
        rows.append(cells)
    # Cells are text already: no number parsing, so "0.9928 ± 0.0040" and ranks print as written.
    return pd.DataFrame(rows).to_markdown(index=False, disable_numparse=True) + "\n"


def oof_frame(results: dict[str, CrossValidation], y: pd.Series) -> pd.DataFrame:
    """Out-of-fold predictions of every candidate, for ensembling: one column per candidate (and
    class), beside the target."""
    columns: dict[str, Any] = {"target": y.to_numpy()}
    for name, result in results.items():
        if result.classes is None:
            columns[name] = result.oof
        else:
            for index, label in enumerate(result.classes):
                columns[f"{name}__{label}"] = result.oof[:, index]
    return pd.DataFrame(columns).round(8)
