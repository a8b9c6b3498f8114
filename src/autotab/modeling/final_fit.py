"""The served model: the evaluated recipe fitted again on the training and holdout rows together.

Once `evaluate` has scored the recipe fitted on the training split, the rows it held out are worth
more as training data: with the default 20% holdout the served model learns from a quarter more
rows, as FLAML's `retrain_full` and AutoGluon's `refit_full` use all of theirs. The run's settings
stay as evaluated (family, hyperparameters, feature recipe, ensemble weights, decision threshold);
what the steps after cleaning learn from rows (encodings, the columns a budget or a selector keeps,
a boosting model's round count, the model itself) is learnt again, from more of them. The cleaner
stays as fitted on the training split: the data contract describes it (the columns used, their
kinds and categories), and the service's request schema and `autotab drift` read the contract. The
holdout score is then the same recipe's on fewer rows: on average a little worse than the served
model's, not on every table (bench/results/final_fit.md)."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
from sklearn.base import BaseEstimator, clone
from sklearn.frozen import FrozenEstimator
from sklearn.model_selection import FixedThresholdClassifier


@dataclass(frozen=True)
class FinalFit:
    """Which rows the served model is fitted on, and why (one line for the card and the stage)."""

    on_holdout_too: bool
    rows: int
    why: str


def plan(fit_rows: str, *, tuning: dict, train_rows: int, holdout_rows: int, outliers: str) -> FinalFit:
    """`fit_rows` (package.fit_rows): `all`, or `train` to serve the evaluated model itself.
    A model tune fitted on a sample (budget_s) or on a Dask cluster (train.distributed_fit) is served
    as it is: a refit on every row is what its budget or its cluster was there to avoid. So is one
    whose training rows had outliers removed (`clean.outliers: isolation_forest`): the holdout rows
    were not, and a refit would bring back the rows that setting keeps out."""
    if fit_rows == "train":
        return FinalFit(False, train_rows, "the evaluated model itself (package.fit_rows: train)")
    if tuning.get("refit_rows", train_rows) < train_rows:
        return FinalFit(False, tuning["refit_rows"], "the evaluated model itself: budget_s fitted it on a sample")
    if "distributed_fit" in tuning:
        return FinalFit(False, train_rows, "the evaluated model itself, fitted on the Dask cluster")
    if outliers == "isolation_forest":
        return FinalFit(False, train_rows, "the evaluated model itself: clean.outliers dropped rows from its training")
    rows = train_rows + holdout_rows
    return FinalFit(True, rows, f"the evaluated recipe refit on all {rows:,} training and holdout rows")


def refit_on_all_rows(model: BaseEstimator, X: pd.DataFrame, y: pd.Series) -> BaseEstimator:
    """A fresh copy of the fitted `model` (its parameters: every setting of the run, seeds included)
    fitted on X, y after the cleaner, which stays the one `model` fitted on the training split."""
    threshold = isinstance(model, FixedThresholdClassifier)  # autotab's binary models (tune)
    fitted_pipeline = model.estimator_ if threshold else model
    (name, cleaner), *_ = fitted_pipeline.steps
    served = clone(model)
    # Frozen: fitting the Pipeline leaves it as it is (its clone is itself), and cleans the rows with it.
    (served.estimator if threshold else served).steps[0] = (name, FrozenEstimator(cleaner))
    served.fit(X, y)
    # Unwrapped again: the same transform, and every reader of the Pipeline finds the cleaner it knows.
    (served.estimator_ if threshold else served).steps[0] = (name, cleaner)
    if threshold:
        served.estimator = model.estimator  # the unfitted recipe, as the evaluated model has it
    return served
