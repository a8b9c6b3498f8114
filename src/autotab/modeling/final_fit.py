"""The served model: the evaluated recipe fitted again on the training and holdout rows together.

Once `evaluate` has scored the recipe fitted on the training split, the rows it held out are worth
more as training data: with the default 20% holdout the served model learns from a quarter more
rows, as FLAML's `retrain_full` and AutoGluon's `refit_full` use all of theirs. Everything the run
chose stays as evaluated (family, hyperparameters, features, ensemble weights, decision threshold);
only what a fit learns from rows is learnt again, from more of them. The holdout score is then the
same recipe's on fewer rows: on average a little worse than the served model's, not on every table
(bench/results/final_fit.md)."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
from sklearn.base import BaseEstimator, clone


@dataclass(frozen=True)
class FinalFit:
    """Which rows the served model is fitted on, and why (one line for the card and the stage)."""

    on_holdout_too: bool
    rows: int
    why: str


def plan(fit_rows: str, *, tuning: dict, train_rows: int, holdout_rows: int) -> FinalFit:
    """`fit_rows` (package.fit_rows): `all`, or `train` to serve the evaluated model itself.
    A model tune fitted on a sample (budget_s) or on a Dask cluster (train.distributed_fit) is served
    as it is: a refit on every row is what its budget or its cluster was there to avoid."""
    if fit_rows == "train":
        return FinalFit(False, train_rows, "the evaluated model itself (package.fit_rows: train)")
    if tuning.get("refit_rows", train_rows) < train_rows:
        return FinalFit(False, tuning["refit_rows"], "the evaluated model itself: budget_s fitted it on a sample")
    if "distributed_fit" in tuning:
        return FinalFit(False, train_rows, "the evaluated model itself, fitted on the Dask cluster")
    rows = train_rows + holdout_rows
    return FinalFit(True, rows, f"the evaluated recipe refit on all {rows:,} training and holdout rows")


def refit_on_all_rows(model: BaseEstimator, X: pd.DataFrame, y: pd.Series) -> BaseEstimator:
    """A fresh copy of `model` (its parameters: every choice of the run, seeds included) fitted on X, y."""
    return clone(model).fit(X, y)
