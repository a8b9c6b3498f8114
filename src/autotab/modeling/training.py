"""Cross-validation: the folds, the metrics per task, and the scored whole Pipeline.

One fold loop serves the leaderboard and every tuning trial, so both see the same folds and the
same metric code as evaluate, and it keeps the out-of-fold predictions for ensembling.
"""

from __future__ import annotations

import copy
import time
import warnings
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import joblib
import numpy as np
import pandas as pd
from joblib import Parallel, delayed
from sklearn.base import BaseEstimator, clone
from sklearn.dummy import DummyClassifier, DummyRegressor
from sklearn.exceptions import ConvergenceWarning
from sklearn.frozen import FrozenEstimator
from sklearn.model_selection import BaseCrossValidator
from sklearn.pipeline import Pipeline

from autotab.data.splits import scored_rows
from autotab.metrics import TASK_METRICS, classification_metrics, regression_metrics
from autotab.modeling.budget import NO_DEADLINE, Deadline


def baseline_oof(
    X: pd.DataFrame, y: pd.Series, task: str, folds: BaseCrossValidator, groups: pd.Series | None
) -> np.ndarray:
    """The trivial baseline's out-of-fold predictions on these folds (of the rows they score, as
    `cross_validate_pipeline` keeps them): each training part's class priors (probabilities, one
    column per class) or its mean."""
    baseline = DummyRegressor() if task == "regression" else DummyClassifier(strategy="prior")
    classes = np.unique(y) if task != "regression" else None
    splits = list(folds.split(X, y, groups))
    scored = scored_rows(splits, len(y))
    oof = np.zeros((len(scored), len(classes))) if classes is not None else np.zeros(len(scored))
    for train_rows, test_rows in splits:
        model = clone(baseline).fit(X.iloc[train_rows], y.iloc[train_rows])
        oof[np.searchsorted(scored, test_rows)] = predictions_of(model, X.iloc[test_rows], classes)
    return oof


def predictions_of(model: BaseEstimator, X: pd.DataFrame, classes: np.ndarray | None) -> np.ndarray:
    """A fitted model's predictions of X: values, or class probabilities in the columns of all of
    y's `classes` (the rows a model was fitted on may lack one)."""
    if classes is None:
        return model.predict(X)
    prediction = np.zeros((len(X), len(classes)))
    prediction[:, np.searchsorted(classes, model.classes_)] = model.predict_proba(X)
    return prediction


def reseeded(folds: BaseCrossValidator, seed: int) -> BaseCrossValidator:
    """The same kind of folds (stratified, grouped) shuffled with another seed: a fresh split."""
    fresh = copy.deepcopy(folds)
    fresh.random_state = seed
    return fresh


def whole_pipeline(preprocessor: Pipeline, estimator: BaseEstimator) -> Pipeline:
    """An unfitted clone of the preprocessing recipe followed by the model."""
    return Pipeline([*clone(preprocessor).steps, ("model", clone(estimator))])


@dataclass
class CrossValidation:
    summary: dict[str, dict[str, float]]  # metric -> mean and std over folds
    fold_scores: list[dict[str, float]]  # every metric on each fold
    # Out-of-fold class probabilities (rows x classes) or predictions (rows), of the rows the folds
    # score (`splits.scored_rows`): every row, but for forward-chaining folds.
    oof: np.ndarray
    classes: np.ndarray | None
    fit_seconds: float
    predict_seconds: float
    # The positions in the table of the rows it was cross-validated on, when a budgeted leaderboard
    # ranked on a sample of them (`leaderboard.rank`); None: every row.
    rows: np.ndarray | None = None


@dataclass
class FoldResult:
    prediction: np.ndarray  # the held-out rows' class probabilities (rows x classes) or predictions
    scores: dict[str, float]  # every metric of the task on the held-out rows
    fit_seconds: float
    predict_seconds: float


# The clean step fitted on a fold's training rows, by the rows' content and the step's settings:
# every candidate and trial on the same folds would fit the very same cleaner, and on a wide table
# that fit is most of a fast model's fold (a logistic regression on 320 x 2,000: 1.8 of 2.3 s).
# Each process keeps its own (a worker serves many trials), the most recent few.
_FITTED_CLEAN: OrderedDict[str, BaseEstimator] = OrderedDict()
FITTED_CLEAN_KEPT = 32


def with_fitted_clean(pipeline: Pipeline, X_train: pd.DataFrame) -> Pipeline:
    """`pipeline` with its first step, the cleaner, already fitted on `X_train` (and frozen): the
    same fitted cleaner a fit of the whole pipeline would make, made once per fold's rows."""
    name, step = pipeline.steps[0]
    if name != "clean":
        return pipeline
    try:  # the values, the names and the dtypes (a bool column hashes as its 0/1 integers)
        content = pd.util.hash_pandas_object(X_train, index=False).to_numpy()
    except TypeError:  # unhashable cells (lists): fitted as usual, not kept
        return pipeline
    dtypes = [str(dtype) for dtype in X_train.dtypes]
    key = joblib.hash((type(step).__name__, step.get_params(), list(X_train.columns), dtypes, content))
    fitted = _FITTED_CLEAN.pop(key, None)
    _FITTED_CLEAN[key] = fitted = clone(step).fit(X_train) if fitted is None else fitted
    while len(_FITTED_CLEAN) > FITTED_CLEAN_KEPT:
        _FITTED_CLEAN.popitem(last=False)
    return Pipeline([(name, FrozenEstimator(fitted)), *pipeline.steps[1:]])


def fit_and_score_fold(
    pipeline: Pipeline,
    X: pd.DataFrame,
    y: pd.Series,
    task: str,
    classes: np.ndarray | None,
    train_rows: np.ndarray,
    test_rows: np.ndarray,
    positive: Any = None,
) -> FoldResult:
    """Fit a clone on one fold's training rows and score its held-out rows with evaluate's metric
    code. `classes` are all of y's classes (a fold may lack one): probabilities align to them."""
    start = time.perf_counter()
    X_train = X.iloc[train_rows]
    model = with_fitted_clean(clone(pipeline), X_train)
    # A fit stopped at max_iter is scored as it is, so the score tells its story. The warning, once
    # per fold, would bury the stage's output; here it is silenced in whatever process fits the fold
    # (joblib's and the backends' workers do not inherit the stage's warning filters).
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        # A column constant on a fold's rows (a date's year, a rare level's indicator) has no F
        # statistic: univariate selection ranks it last, and its two warnings per fold would too.
        for category in (UserWarning, RuntimeWarning):
            warnings.filterwarnings("ignore", category=category, module=r"sklearn\.feature_selection")
        model.fit(X_train, y.iloc[train_rows])
    fit_seconds = time.perf_counter() - start
    start = time.perf_counter()
    y_test = y.iloc[test_rows]
    prediction = predictions_of(model, X.iloc[test_rows], classes)
    predict_seconds = time.perf_counter() - start
    if classes is None:
        return FoldResult(prediction, regression_metrics(y_test, prediction), fit_seconds, predict_seconds)
    scores = classification_metrics(y_test, prediction, classes, positive)
    return FoldResult(prediction, scores, fit_seconds, predict_seconds)


def cross_validate_pipeline(
    pipeline: Pipeline,
    X: pd.DataFrame,
    y: pd.Series,
    task: str,
    folds: BaseCrossValidator,
    groups: pd.Series | None = None,
    positive: Any = None,
    deadline: Deadline = NO_DEADLINE,
    n_jobs: int = 1,
) -> CrossValidation:
    """Fit a clone per fold, score its held-out rows with evaluate's metric code, keep the OOF.

    With `n_jobs` > 1 the folds are fitted side by side in worker processes (the same results).
    With a bounded `deadline` (one fold at a time), after each fold the folds still to run are
    projected from the ones run so far, and `OutOfTime` is raised as soon as they would overrun."""
    classes = np.unique(y) if task != "regression" else None
    splits = list(folds.split(X, y, groups))
    scored = scored_rows(splits, len(y))
    oof = np.zeros((len(scored), len(classes))) if classes is not None else np.zeros(len(scored))
    scores: list[dict[str, float]] = []
    fit_seconds = predict_seconds = 0.0
    if n_jobs > 1 and not deadline.bounded:
        fold_args = (pipeline, X, y, task, classes)
        results = Parallel(n_jobs=n_jobs)(
            delayed(fit_and_score_fold)(*fold_args, train_rows, test_rows, positive) for train_rows, test_rows in splits
        )
    else:
        results = _folds_within(deadline, splits, pipeline, X, y, task, classes, positive)
    for (_, test_rows), fold in zip(splits, results, strict=True):
        oof[np.searchsorted(scored, test_rows)] = fold.prediction
        scores.append(fold.scores)
        fit_seconds += fold.fit_seconds
        predict_seconds += fold.predict_seconds
    summary = {
        metric: {
            "mean": round(float(np.mean([s[metric] for s in scores])), 6),
            "std": round(float(np.std([s[metric] for s in scores])), 6),
        }
        for metric in TASK_METRICS[task]
    }
    return CrossValidation(summary, scores, oof, classes, fit_seconds, predict_seconds)


def _folds_within(deadline: Deadline, splits: list, pipeline, X, y, task, classes, positive) -> Iterator[FoldResult]:
    start = time.monotonic()
    for done, (train_rows, test_rows) in enumerate(splits):
        if deadline.bounded and done:
            per_fold = (time.monotonic() - start) / done
            deadline.check(f"{len(splits) - done} more folds", per_fold * (len(splits) - done))
        yield fit_and_score_fold(pipeline, X, y, task, classes, train_rows, test_rows, positive)


def split_xy(frame: pd.DataFrame, target: str) -> tuple[pd.DataFrame, pd.Series]:
    return frame.drop(columns=[target]), frame[target]


def to_plain(value: Any) -> Any:
    """numpy scalars to Python ones, for JSON."""
    return value.item() if isinstance(value, np.generic) else value
