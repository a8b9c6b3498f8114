"""Cross-validation: the folds, the metrics per task and the scored whole Pipeline."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, clone
from sklearn.model_selection import (
    BaseCrossValidator,
    GroupKFold,
    KFold,
    StratifiedGroupKFold,
    StratifiedKFold,
    cross_validate,
)
from sklearn.pipeline import Pipeline

from autotab.errors import UserError

# User-facing metric name -> (scikit-learn scorer, larger is better for the user-facing value).
METRICS: dict[str, tuple[str, bool]] = {
    "roc_auc": ("roc_auc_ovr", True),
    "log_loss": ("neg_log_loss", False),
    "accuracy": ("accuracy", True),
    "f1_macro": ("f1_macro", True),
    "rmse": ("neg_root_mean_squared_error", False),
    "mae": ("neg_mean_absolute_error", False),
    "r2": ("r2", True),
}
TASK_METRICS = {
    "binary": ["roc_auc", "log_loss", "accuracy", "f1_macro"],
    "multiclass": ["log_loss", "accuracy", "f1_macro", "roc_auc"],
    "regression": ["rmse", "mae", "r2"],
}


def primary_metric(task: str, configured: str) -> str:
    if configured == "auto":
        return TASK_METRICS[task][0]
    if configured not in TASK_METRICS[task]:
        raise UserError(
            f"train.metric: {configured!r} does not apply to a {task} task; "
            f"use one of: auto, {', '.join(TASK_METRICS[task])}"
        )
    return configured


def make_folds(task: str, n_folds: int, seed: int, grouped: bool = False) -> BaseCrossValidator:
    """The same seeded folds for every candidate and trial: stratified for classification, and
    keeping each group in one fold when the data has a group column."""
    if grouped:
        if task == "regression":
            return GroupKFold(n_splits=n_folds, shuffle=True, random_state=seed)
        return StratifiedGroupKFold(n_splits=n_folds, shuffle=True, random_state=seed)
    if task == "regression":
        return KFold(n_splits=n_folds, shuffle=True, random_state=seed)
    return StratifiedKFold(n_splits=n_folds, shuffle=True, random_state=seed)


def check_folds(y: pd.Series, task: str, n_folds: int) -> None:
    if task == "regression":
        if len(y) < n_folds:
            raise UserError(f"train.folds={n_folds} is more than the {len(y)} training rows")
        return
    smallest = y.value_counts()
    if smallest.min() < n_folds:
        rare = ", ".join(f"{label!r} ({n})" for label, n in smallest.items() if n < n_folds)
        raise UserError(
            f"train.folds={n_folds} needs at least {n_folds} training rows per class; "
            f"too few: {rare}. Lower train.folds or add data"
        )


def whole_pipeline(preprocessor: Pipeline, estimator: BaseEstimator) -> Pipeline:
    """An unfitted clone of the preprocessing recipe followed by the model."""
    steps = clone(preprocessor).steps
    return Pipeline([*steps, ("model", clone(estimator))])


def cross_validate_pipeline(
    pipeline: Pipeline,
    X: pd.DataFrame,
    y: pd.Series,
    task: str,
    folds: BaseCrossValidator,
    n_jobs: int = 1,
    metrics: list[str] | None = None,
    groups: pd.Series | None = None,
) -> dict[str, dict[str, float]]:
    """Mean and standard deviation over folds of each metric, in user-facing sign."""
    metrics = metrics or TASK_METRICS[task]
    scoring = {name: METRICS[name][0] for name in metrics}
    result = cross_validate(
        pipeline, X, y, groups=groups, cv=folds, scoring=scoring, n_jobs=n_jobs, error_score="raise"
    )
    summary: dict[str, dict[str, float]] = {}
    for name in metrics:
        scores = np.asarray(result[f"test_{name}"], dtype=float)
        if not METRICS[name][1]:
            scores = -scores
        summary[name] = {
            "mean": round(float(scores.mean()), 6),
            "std": round(float(scores.std()), 6),
        }
    return summary


def maximisable(value: float, metric: str) -> float:
    """A metric value signed so that larger is better (and back: the map is its own inverse)."""
    return value if METRICS[metric][1] else -value


def split_xy(frame: pd.DataFrame, target: str) -> tuple[pd.DataFrame, pd.Series]:
    return frame.drop(columns=[target]), frame[target]


def to_plain(value: Any) -> Any:
    """numpy scalars to Python ones, for JSON."""
    return value.item() if isinstance(value, np.generic) else value
