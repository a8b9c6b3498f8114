"""Each group of a cleaned frame's columns through its own Pipeline, the outputs side by side.

What `sklearn.compose.ColumnTransformer` does for autotab's recipe, at a fraction of its cost per
call. The ColumnTransformer selects each group by name with pandas indexing, re-checks the frame's
columns and runs every group through joblib's machinery on every call: about 1 ms whatever the
number of rows, a third of a single-record prediction. Here each group's columns become one NumPy
array, column by column, and its Pipeline sees only arrays. Outputs and feature names are the
ColumnTransformer's (`verbose_feature_names_out=True`, columns nobody selects dropped); a test holds
the two to the same numbers.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin, clone
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder
from sklearn.utils.validation import check_is_fitted

from autotab.estimators.frames import column_values

Selector = Callable[[pd.DataFrame], list[str]]


# Past this many columns, one pandas selection costs less than reading them one by one.
MANY_COLUMNS = 64
# A dense one-hot encoding is made this many rows at a time (see `OneHotLater`).
ONE_HOT_ROWS = 65_536


def group_array(frame: pd.DataFrame, columns: list[str]) -> np.ndarray:
    """The columns as one 2-D array, as `frame[columns].to_numpy()` gives it without pandas' indexing.
    Many float columns (a wide table's measurements) are copied as one block, in the same layout."""
    if len(columns) > MANY_COLUMNS:
        block = frame[columns]
        if all(dtype == np.float64 for dtype in block.dtypes):
            return np.ascontiguousarray(block.to_numpy(dtype=np.float64))
    return np.column_stack([np.asarray(column_values(frame, column)) for column in columns])


class OneHotLater:
    """A fitted dense `OneHotEncoder` and its input, encoded into the stacked array ONE_HOT_ROWS rows
    at a time (`write_into`) instead of as a whole: the encoder builds a sparse matrix before the
    dense one, about 500 MB more than its output for 670,000 rows of 13 columns, and the output
    would then be copied beside the other groups'. Exact: a OneHotEncoder's fit_transform is fit then
    transform (scikit-learn's TransformerMixin), and its transform sets 0s and 1s row by row."""

    def __init__(self, encoder: OneHotEncoder, X: np.ndarray) -> None:
        self.encoder, self.X = encoder, X
        self.shape = (len(X), len(encoder.get_feature_names_out()))
        self.dtype = np.dtype(encoder.dtype)

    def write_into(self, out: np.ndarray) -> None:
        for start in range(0, len(self.X), ONE_HOT_ROWS):
            out[start : start + ONE_HOT_ROWS] = self.encoder.transform(self.X[start : start + ONE_HOT_ROWS])


def encoded(group: Pipeline, X: np.ndarray, y=None, fit: bool = False) -> np.ndarray | OneHotLater:
    """`group.fit_transform(X, y)` if `fit`, else `group.transform(X)`; for a group that ends in a
    dense OneHotEncoder, on more than ONE_HOT_ROWS rows, that encoding to come (`OneHotLater`)."""
    encoder = group.steps[-1][1]
    if not isinstance(encoder, OneHotEncoder) or encoder.sparse_output or len(X) <= ONE_HOT_ROWS:
        return group.fit_transform(X, y) if fit else group.transform(X)
    if len(group) > 1:  # the steps before the encoder (a slice of a Pipeline shares its steps)
        X = group[:-1].fit_transform(X, y) if fit else group[:-1].transform(X)
    if fit:
        encoder.fit(X, y)
    return OneHotLater(encoder, X)


class ColumnGroups(TransformerMixin, BaseEstimator):
    """`groups` is a list of (name, unfitted Pipeline, selector): a selector gets the frame seen in
    `fit` and names the columns of its group (e.g. `make_column_selector(dtype_include="number")`).
    A group that selects no column is left out.

    `max_expansion` bounds how many features a group may make per column it reads: past it, `fit`
    fails with a message naming the group, instead of handing the model a matrix nobody asked for
    (an encoder that writes a column per target value per feature turned 78 columns into 27,848)."""

    def __init__(self, groups: list[tuple[str, Pipeline, Selector]], max_expansion: float | None = None) -> None:
        self.groups = groups
        self.max_expansion = max_expansion

    def fit(self, X: pd.DataFrame, y=None) -> ColumnGroups:
        self.fit_transform(X, y)
        return self

    def fit_transform(self, X: pd.DataFrame, y=None) -> np.ndarray:
        # Each group's own fit_transform, as the ColumnTransformer calls it: TargetEncoder cross-fits there.
        if not isinstance(X, pd.DataFrame):
            raise TypeError(f"ColumnGroups selects columns by name and needs a DataFrame, not {type(X).__name__}")
        self.feature_names_in_ = np.asarray(X.columns, dtype=object)
        self.n_features_in_ = len(self.feature_names_in_)
        self.fitted_groups_: list[tuple[str, Pipeline, list[str]]] = []
        outputs = []
        for name, steps, selector in self.groups:
            columns = list(selector(X))
            if not columns:
                continue
            fitted = clone(steps)
            outputs.append(encoded(fitted, group_array(X, columns), y, fit=True))
            self._check_width(name, len(columns), outputs[-1].shape[1])
            self.fitted_groups_.append((name, fitted, columns))
        return self._stacked(outputs, len(X))

    def transform(self, X: pd.DataFrame) -> np.ndarray:
        check_is_fitted(self, "fitted_groups_")
        missing = [c for _, _, columns in self.fitted_groups_ for c in columns if c not in X.columns]
        if missing:
            raise ValueError(f"columns are missing: {', '.join(map(str, missing))}")
        outputs = [encoded(fitted, group_array(X, columns)) for _, fitted, columns in self.fitted_groups_]
        return self._stacked(outputs, len(X))

    def _check_width(self, name: str, n_columns: int, n_features: int) -> None:
        if self.max_expansion is not None and n_features > self.max_expansion * n_columns:
            raise ValueError(
                f"the {name} columns ({n_columns}) became {n_features} features, more than max_expansion="
                f"{self.max_expansion:g} times as many; cap the levels (one_hot_max_categories), choose another "
                "categorical_encoder, or raise features.max_expansion"
            )

    @staticmethod
    def _stacked(outputs: list[np.ndarray | OneHotLater], rows: int) -> np.ndarray:
        """`np.hstack` of the groups' outputs, emptying `outputs` as it goes: each array is let go once
        copied, and one-hot encodings are written straight in, block by block."""
        if not outputs:
            return np.empty((rows, 0))
        if len(outputs) == 1 and isinstance(outputs[0], np.ndarray):
            return outputs.pop()
        stacked = np.empty((rows, sum(o.shape[1] for o in outputs)), dtype=np.result_type(*(o.dtype for o in outputs)))
        start = 0
        while outputs:
            group = outputs.pop(0)
            columns = stacked[:, start : start + group.shape[1]]
            if isinstance(group, OneHotLater):
                group.write_into(columns)
            else:
                columns[...] = group
            start += group.shape[1]
            del group, columns
        return stacked

    @property
    def named_transformers_(self) -> dict[str, Pipeline]:
        return {name: fitted for name, fitted, _ in self.fitted_groups_}

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        check_is_fitted(self, "fitted_groups_")
        names = [
            f"{name}__{feature}"
            for name, fitted, columns in self.fitted_groups_
            for feature in fitted.get_feature_names_out(np.asarray(columns, dtype=object))
        ]
        return np.asarray(names, dtype=object)
