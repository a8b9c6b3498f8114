"""The metrics: every metric's name, direction and computation, in one place.

The leaderboard, each tuning trial, the selection rules, ensembling, evaluate (its holdout metrics
and permutation importance) and the comparison report all score through this module, so
`train.metric` means the same thing everywhere. Each metric is scikit-learn's own function (binary
ROC AUC computed as the same statistic by ranks, `binary_roc_auc`, and log loss as the same mean,
`log_loss`); the binary-only ones score the positive class's probability."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import rankdata
from sklearn import metrics as skm

from autotab.errors import UserError

LARGER_IS_BETTER = {
    "roc_auc": True, "pr_auc": True, "accuracy": True, "balanced_accuracy": True, "f1_macro": True,
    "r2": True, "log_loss": False, "brier": False, "rmse": False, "mae": False,
}  # fmt: skip
PERFECT = {
    "roc_auc": 1.0, "pr_auc": 1.0, "accuracy": 1.0, "balanced_accuracy": 1.0, "f1_macro": 1.0,
    "r2": 1.0, "log_loss": 0.0, "brier": 0.0, "rmse": 0.0, "mae": 0.0,
}  # fmt: skip
TASK_METRICS = {
    "binary": ["roc_auc", "log_loss", "accuracy", "balanced_accuracy", "f1_macro", "pr_auc", "brier"],
    "multiclass": ["log_loss", "accuracy", "balanced_accuracy", "f1_macro", "roc_auc"],
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


def maximisable(value: float, metric: str) -> float:
    """A metric value signed so that larger is better (and back: the map is its own inverse)."""
    return value if LARGER_IS_BETTER[metric] else -value


def skill(score: float, baseline: float, metric: str) -> float:
    """The share of the gap between the trivial baseline's score and a perfect one that `score`
    closes: 0 is the baseline, 1 perfect, below 0 worse than the baseline. One scale for every
    metric (for log loss it is McFadden's pseudo-R²; for RMSE, one minus the ratio of the errors)."""
    gap = PERFECT[metric] - baseline
    if gap == 0:  # the baseline is already perfect (a constant target): nothing to close
        return 0.0
    return (score - baseline) / gap


def _round(values: dict[str, float]) -> dict[str, float]:
    return {name: round(float(v), 6) for name, v in values.items()}


def _positive(y_true: pd.Series, proba: np.ndarray, classes: np.ndarray, positive: object):
    return (y_true.to_numpy() == positive).astype(int), proba[:, list(classes).index(positive)]


def binary_roc_auc(y_true: np.ndarray, score: np.ndarray) -> float:
    """scikit-learn's `roc_auc_score` for 0/1 labels, computed as the Mann-Whitney U statistic over
    average ranks: the same value (ties count one half either way; the rank sums are exact, where
    the trapezoid accumulates rounding), at a twentieth of the cost on a 400-row fold. A run scores
    thousands of them (each paired bootstrap resample, each ensemble round): 27 s of a 90 s tune on a
    wide table. A single class or a non-finite score goes to scikit-learn, for its answers (NaN with
    a warning; an error)."""
    positive = np.asarray(y_true) == 1
    n_positive = int(positive.sum())
    n_negative = len(positive) - n_positive
    score = np.asarray(score, dtype=np.float64)
    if n_positive == 0 or n_negative == 0 or not np.isfinite(score).all():
        return float(skm.roc_auc_score(y_true, score))
    ranks_sum = float(rankdata(score)[positive].sum())
    return (ranks_sum - n_positive * (n_positive + 1) / 2) / (n_positive * n_negative)


def log_loss(y_true: Any, proba: np.ndarray, classes: np.ndarray) -> float:
    """scikit-learn's `log_loss(y_true, proba, labels=classes)`, the same float: the mean over rows
    of minus the log of the true class's probability, clipped to [eps, 1 - eps] (the columns in the
    classes' sorted order, as scikit-learn reads them), at a fifteenth of the cost on 300 rows. A
    multiclass run scores thousands (each paired bootstrap resample, each calibration and ensemble
    round): a three-class search on 150 rows took 45 s with scikit-learn's, 13 s with this one.
    Anything scikit-learn would refuse or warn about (a label not among the classes, probabilities
    outside [0, 1], not float64, rows that do not sum to one) goes to scikit-learn, for its answer."""
    labels = np.unique(np.asarray(classes, dtype=object))
    proba = np.asarray(proba)
    y = np.asarray(y_true, dtype=object)
    if proba.dtype != np.float64 or proba.ndim != 2 or proba.shape != (len(y), len(labels)) or len(labels) < 2:
        return float(skm.log_loss(y_true, proba, labels=classes))
    try:
        column = np.searchsorted(labels, y)
    except TypeError:  # a label that does not compare with the classes (None among strings)
        return float(skm.log_loss(y_true, proba, labels=classes))
    known = column < len(labels)
    known[known] = labels[column[known]] == y[known]
    eps = np.finfo(np.float64).eps
    if (
        not known.all()
        or proba.min() < 0
        or proba.max() > 1
        or not np.allclose(proba.sum(axis=1), 1, rtol=eps**0.5, atol=0)
    ):
        return float(skm.log_loss(y_true, proba, labels=classes))
    return float(np.average(-np.log(np.clip(proba[np.arange(len(y)), column], eps, 1 - eps))))


# Each classification metric from (true labels, class probabilities, classes, positive class,
# predicted labels). The binary-only ones score the positive class's probability.
CLASSIFICATION_SCORERS: dict[str, Callable[..., float]] = {
    "accuracy": lambda y, proba, classes, positive, predicted: skm.accuracy_score(y, predicted),
    "balanced_accuracy": lambda y, proba, classes, positive, predicted: skm.balanced_accuracy_score(y, predicted),
    "f1_macro": lambda y, proba, classes, positive, predicted: skm.f1_score(y, predicted, average="macro"),
    "log_loss": lambda y, proba, classes, positive, predicted: log_loss(y, proba, classes),
    "roc_auc": lambda y, proba, classes, positive, predicted: (
        binary_roc_auc(*_positive(y, proba, classes, positive))
        if len(classes) == 2
        else skm.roc_auc_score(y, proba, multi_class="ovr", labels=classes)
    ),
    "pr_auc": lambda y, proba, classes, positive, predicted: skm.average_precision_score(
        *_positive(y, proba, classes, positive)
    ),
    "brier": lambda y, proba, classes, positive, predicted: skm.brier_score_loss(
        *_positive(y, proba, classes, positive)
    ),
}
BINARY_ONLY = ("pr_auc", "brier")
LABEL_METRICS = ("accuracy", "balanced_accuracy", "f1_macro")  # scored on labels, not probabilities
# Metrics that score the probabilities themselves; the others rank rows or count labels, which a
# temperature does not change for a binary classifier (`autotab.estimators.calibration`).
PROBABILISTIC = ("log_loss", "brier")
REGRESSION_SCORERS: dict[str, Callable[..., float]] = {
    "rmse": skm.root_mean_squared_error,
    "mae": skm.mean_absolute_error,
    "r2": skm.r2_score,
}


def classification_metric(
    name: str, y_true: pd.Series, proba: np.ndarray, classes: np.ndarray, positive: object | None, predicted: Any = None
) -> float:
    """One classification metric, exactly as `classification_metrics` computes it (for loops that
    score many candidates on one metric, such as ensemble selection)."""
    if predicted is None and name in LABEL_METRICS:
        predicted = classes[np.argmax(proba, axis=1)]
    return round(float(CLASSIFICATION_SCORERS[name](y_true, proba, classes, positive, predicted)), 6)


def classification_metrics(
    y_true: pd.Series, proba: np.ndarray, classes: np.ndarray, positive: object | None, predicted: Any = None
) -> dict[str, float]:
    """Every classification metric; labels are `predicted` if given (a tuned threshold), else argmax."""
    if predicted is None:
        predicted = classes[np.argmax(proba, axis=1)]
    names = [name for name in CLASSIFICATION_SCORERS if len(classes) == 2 or name not in BINARY_ONLY]
    return {name: classification_metric(name, y_true, proba, classes, positive, predicted) for name in names}


def regression_metrics(y_true: pd.Series, predicted: np.ndarray) -> dict[str, float]:
    return _round({name: scorer(y_true, predicted) for name, scorer in REGRESSION_SCORERS.items()})


def oof_score(prediction: np.ndarray, y: pd.Series, task: str, metric: str, classes, positive) -> float:
    """The metric on all out-of-fold rows at once, signed so that larger is better."""
    if task == "regression":
        value = round(float(REGRESSION_SCORERS[metric](y, prediction)), 6)
    else:
        value = classification_metric(metric, y, prediction, classes, positive)
    return maximisable(value, metric)


def holdout_scorer(metric: str, task: str, positive: Any = None) -> Callable[[Any, pd.DataFrame, pd.Series], float]:
    """A scorer for scikit-learn's `scoring=` (permutation importance): `metric` on a fitted model's
    predictions of some rows, exactly as evaluate scores the holdout (labels from the model's own
    `predict`, so a tuned decision threshold counts), signed so that larger is better."""

    def score(model: Any, X: pd.DataFrame, y: pd.Series) -> float:
        if task == "regression":
            return maximisable(round(float(REGRESSION_SCORERS[metric](y, model.predict(X))), 6), metric)
        predicted = model.predict(X) if metric in LABEL_METRICS else None
        value = classification_metric(metric, y, model.predict_proba(X), model.classes_, positive, predicted)
        return maximisable(value, metric)

    return score


def positive_class(classes: np.ndarray, configured: str | None) -> object:
    """The class whose probability is scored: the configured label, else the last in order."""
    if configured is None:
        return classes[-1]
    matches = [c for c in classes if str(c) == configured]
    if not matches:
        raise UserError(f"data.positive_label {configured!r} is not a class; classes: {', '.join(map(str, classes))}")
    return matches[0]


def recorded_positive(classes: Any, label: str | None) -> object | None:
    """The binary positive class the data contract recorded (`label`, a string), as the class value
    itself (None for other tasks)."""
    return next((c for c in classes if str(c) == label), None) if label is not None else None


def best_threshold(y_true: pd.Series, p_positive: np.ndarray, positive: object) -> float:
    """The probability cut that maximises F1 of the positive class on out-of-fold predictions
    (the lowest such cut on ties, so the choice is deterministic)."""
    is_positive = y_true.to_numpy() == positive
    precision, recall, thresholds = skm.precision_recall_curve(is_positive, p_positive)
    f1 = np.divide(
        2 * precision * recall, precision + recall, out=np.zeros_like(precision), where=precision + recall > 0
    )
    return round(float(thresholds[int(np.argmax(f1[:-1]))]), 6)
