"""The leaderboard: every candidate family, with its default hyperparameters, cross-validated on
the same folds; ranked by the primary metric. A candidate that fails is recorded and left out.

With a time budget, candidates run in the order given (cheap first), one per worker process, and
one that would not finish in time is stopped and listed as skipped for the budget."""

from __future__ import annotations

from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from joblib import Parallel, delayed
from sklearn.base import BaseEstimator
from sklearn.model_selection import BaseCrossValidator
from sklearn.pipeline import Pipeline
from threadpoolctl import threadpool_limits

from autotab.budget import NO_DEADLINE, Deadline, OutOfTime, stop_pool, worker_pool
from autotab.errors import UserError
from autotab.training import (
    TASK_METRICS,
    CrossValidation,
    cross_validate_pipeline,
    maximisable,
    whole_pipeline,
)


@dataclass(frozen=True)
class Skipped:
    """A candidate left out for the time budget, and why."""

    reason: str


def _evaluate(name: str, pipeline: Pipeline, **kwargs: Any) -> tuple[str, CrossValidation | Skipped | str]:
    try:
        return name, cross_validate_pipeline(pipeline, **kwargs)
    except OutOfTime as error:
        return name, Skipped(f"skipped for the budget: {error}")
    except Exception as error:  # a candidate that cannot handle the data is left out, not fatal
        first_line = (str(error).strip().splitlines() or [""])[0]
        return name, f"{type(error).__name__}: {first_line}"[:300]


def _evaluate_in_worker(name: str, pipeline: Pipeline, threads: int, **kwargs: Any):
    # Each worker fits with the threads it is given, so workers x threads never exceed the cores.
    with threadpool_limits(threads):
        return _evaluate(name, pipeline, **kwargs)


def _within_deadline(
    pipelines: dict[str, Pipeline], deadline: Deadline, pool: ProcessPoolExecutor, threads: int, **kwargs: Any
) -> dict[str, CrossValidation | Skipped | str]:
    """Every candidate as one task on the pool's processes, in the given order; at the deadline the
    pool is stopped (running fits killed) and what did not finish is skipped."""
    results: dict[str, CrossValidation | Skipped | str] = {}
    try:
        futures = {
            pool.submit(_evaluate_in_worker, name, pipeline, threads, deadline=deadline, **kwargs): name
            for name, pipeline in pipelines.items()
        }
        pending = set(futures)
        while pending and deadline.left() > 0:
            done, pending = wait(pending, timeout=deadline.left(), return_when=FIRST_COMPLETED)
            for future in done:
                results.update([future.result()])
    finally:
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
) -> tuple[pd.DataFrame, dict[str, CrossValidation]]:
    """The leaderboard table (best first, failures and skips last) and each successful candidate's CV.

    With a bounded `deadline`, the `pool`'s worker processes (`threads` threads each) run the
    candidates, and the pool is stopped at the deadline."""
    pipelines = {name: whole_pipeline(preprocessor, estimator) for name, estimator in candidates.items()}
    data = {"X": X, "y": y, "task": task, "folds": folds, "groups": groups, "positive": positive}
    if deadline.bounded:
        results = _within_deadline(pipelines, deadline, pool or worker_pool(n_jobs), threads, **data)
    else:
        jobs = (delayed(_evaluate)(name, pipeline, **data) for name, pipeline in pipelines.items())
        results = dict(Parallel(n_jobs=n_jobs)(jobs))
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
        else:
            row["status"], row["error"] = "failed", result
        rows.append(row)
    table = pd.DataFrame(rows)
    order = table[f"{metric}_mean"].map(lambda v: -maximisable(v, metric) if pd.notna(v) else np.inf)
    table = table.assign(_order=order).sort_values(["_order", "model"], kind="stable").drop(columns="_order")
    table.insert(0, "rank", range(1, len(table) + 1))
    table["rank"] = table["rank"].where(table["status"] == "ok").astype("Int64")
    return table.reset_index(drop=True), passed


def markdown(table: pd.DataFrame, task: str, metric: str) -> str:
    """The leaderboard as a Markdown table: each metric as mean ± std, the primary one first."""
    metrics = [metric] + [m for m in TASK_METRICS[task] if m != metric]
    header = ["rank", "model", *[f"{m}{' (primary)' if m == metric else ''}" for m in metrics], "status"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in table.itertuples(index=False):
        row = row._asdict()
        cells = ["" if pd.isna(row["rank"]) else str(int(row["rank"])), row["model"]]
        for m in metrics:
            mean = row.get(f"{m}_mean")
            cells.append("" if pd.isna(mean) else f"{mean:.4f} ± {row[f'{m}_std']:.4f}")
        cells.append({"ok": "ok", "skipped": row["error"]}.get(row["status"], f"failed: {row['error']}"))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


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
