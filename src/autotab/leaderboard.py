"""The leaderboard: every candidate family, with its default hyperparameters, cross-validated on
the same folds; ranked by the primary metric. A candidate that fails is recorded and skipped."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from joblib import Parallel, delayed
from sklearn.base import BaseEstimator
from sklearn.model_selection import BaseCrossValidator
from sklearn.pipeline import Pipeline

from autotab.errors import UserError
from autotab.training import (
    TASK_METRICS,
    CrossValidation,
    cross_validate_pipeline,
    maximisable,
    whole_pipeline,
)


def _evaluate(name: str, pipeline: Pipeline, **kwargs: Any) -> tuple[str, CrossValidation | str]:
    try:
        return name, cross_validate_pipeline(pipeline, **kwargs)
    except Exception as error:  # a candidate that cannot handle the data is skipped, not fatal
        first_line = (str(error).strip().splitlines() or [""])[0]
        return name, f"{type(error).__name__}: {first_line}"[:300]


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
) -> tuple[pd.DataFrame, dict[str, CrossValidation]]:
    """The leaderboard table (best first, failures last) and each successful candidate's CV."""
    jobs = (
        delayed(_evaluate)(
            name, whole_pipeline(preprocessor, estimator),
            X=X, y=y, task=task, folds=folds, groups=groups, positive=positive,
        )
        for name, estimator in candidates.items()
    )  # fmt: skip
    results = dict(Parallel(n_jobs=n_jobs)(jobs))
    passed = {name: r for name, r in results.items() if isinstance(r, CrossValidation)}
    if not passed:
        errors = "; ".join(f"{name}: {error}" for name, error in results.items())
        raise UserError(f"every candidate model failed: {errors}")
    rows = []
    for name, result in results.items():
        row: dict[str, Any] = {"model": name}
        if isinstance(result, CrossValidation):
            for m in TASK_METRICS[task]:
                row[f"{m}_mean"], row[f"{m}_std"] = result.summary[m]["mean"], result.summary[m]["std"]
            row["status"], row["error"] = "ok", ""
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
        cells.append(row["status"] if row["status"] == "ok" else f"failed: {row['error']}")
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
