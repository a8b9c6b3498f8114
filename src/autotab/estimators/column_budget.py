"""A column budget: on a table wider than `max_columns` encoded features, keep that many.

Every family's cost grows with the number of columns, some steeply (CatBoost's symmetric trees
score every column at every level; an MLP's first layer, KNN's distances). A 500-row table with
2,000 measured columns gives no family more to learn from than its few hundred most related
columns, yet costs the slowest ones many minutes per fold. The budget ranks the columns by their
univariate F statistic against the target (ANOVA F for classes, the regression F otherwise), as
`SelectKBest` does, on the training rows it is fitted on (inside each fold, so no leakage), and
keeps the best `max_columns`. A table within the budget passes through untouched, so the step
costs nothing on ordinary tables. Univariate: it is cheap (milliseconds on 500 x 2,000, where a
boosted model's importances take seconds per fit, and the step is fitted once per fold of every
candidate and trial) at the price of missing a column that matters only together with another.

A table with more encoded columns than training rows (p > n: omics, sensors, text counts) keeps at
most n / ln(n) of them when `sure_screening` is on: the screening size of Sure Independence Screening
(Fan & Lv 2008, J. R. Stat. Soc. B 70(5)), which keeps the truly related columns with probability
tending to one under its conditions. 320 training rows keep 55 columns; 4,000 rows, 482. On so few
rows the columns past that size are mostly noise that every fold and trial pays for (on 500 x 2,000,
tune's trials cost up to 100 s each at 500 columns).
"""

from __future__ import annotations

import math
import warnings

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.feature_selection import SelectorMixin, f_classif, f_regression
from sklearn.utils.validation import check_is_fitted, validate_data

# The F statistics are computed on this many columns at a time (see `ColumnBudget.statistic`).
SCORED_COLUMNS = 64


class ColumnBudget(SelectorMixin, BaseEstimator):
    def __init__(self, max_columns: int | None = None, task: str = "binary", sure_screening: bool = False) -> None:
        self.max_columns = max_columns
        self.task = task
        self.sure_screening = sure_screening

    def limit(self, n_rows: int, n_columns: int) -> int | None:
        """How many columns a fit on this many rows keeps at most (None: no limit)."""
        limit = self.max_columns
        if self.sure_screening and n_columns > n_rows:
            screened = max(1, int(n_rows / math.log(n_rows))) if n_rows > 1 else 1
            limit = screened if limit is None else min(limit, screened)
        return limit

    def fit(self, X, y):
        X, y = validate_data(self, X, y, dtype=np.float64, ensure_all_finite="allow-nan", y_numeric=False)
        n_rows, n_columns = X.shape
        self.support_ = np.ones(n_columns, dtype=bool)
        limit = self.limit(n_rows, n_columns)
        if limit is None or n_columns <= limit:
            return self
        statistic = self.statistic(X, y)
        # A constant column's F is NaN: last. Ties keep the columns' order (a stable sort), so the
        # choice is the same on every machine.
        statistic = np.where(np.isfinite(statistic), statistic, -np.inf)
        best = np.argsort(-statistic, kind="stable")[:limit]
        self.support_ = np.zeros(n_columns, dtype=bool)
        self.support_[best] = True
        return self

    def statistic(self, X: np.ndarray, y) -> np.ndarray:
        """Each column's F statistic, SCORED_COLUMNS columns at a time: scikit-learn's F tests copy
        the matrix several times over (per class, as floats, squared), 1.1 GB on 80,000 x 500.
        A column's F depends on that column alone; only its last bits (1e-15 relative) depend on
        how many columns the sums run over, and the block is fixed, so the ranking is too."""
        score = f_regression if self.task == "regression" else f_classif
        blocks = []
        for start in range(0, X.shape[1], SCORED_COLUMNS):
            with np.errstate(divide="ignore", invalid="ignore"), warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)  # "Features ... are constant": handled in fit
                blocks.append(score(np.nan_to_num(X[:, start : start + SCORED_COLUMNS]), y)[0])
        return np.concatenate(blocks)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True  # ranked as zeros; the recipe imputes before this step anyway
        return tags

    def transform(self, X):
        check_is_fitted(self, "support_")
        if self.support_.all():  # within the budget: nothing to select, and no copy to make per call
            if len(getattr(X, "shape", ())) != 2 or X.shape[1] != self.n_features_in_:
                # Not an array of the fitted width: scikit-learn's checks (and errors), and an array back.
                return validate_data(self, X, reset=False, ensure_all_finite="allow-nan")
            return X
        return super().transform(X)

    def _get_support_mask(self) -> np.ndarray:
        check_is_fitted(self, "support_")
        return self.support_
