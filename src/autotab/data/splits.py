"""How the training rows are divided: the holdout split, and the cross-validation folds that
train, tune and the clean stage's leakage checks share.

`data.split: random` (the default) splits and folds rows at random, seeded, stratified by class or
keeping each `data.group` together. `data.split: time` is for a model that will score rows from
after its training data: the holdout is the latest rows, and the folds chain forward (each scores a
later block of rows with a model fitted on every earlier one), so no score uses the future.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.model_selection import (
    BaseCrossValidator,
    GroupKFold,
    GroupShuffleSplit,
    KFold,
    StratifiedGroupKFold,
    StratifiedKFold,
    train_test_split,
)

from autotab.config import DataConfig
from autotab.errors import UserError
from autotab.estimators.table_cleaner import infer_kind, parse_dates


def split_rows(
    frame: pd.DataFrame,
    target: str,
    task: str,
    test_size: float,
    seed: int,
    group: str | None = None,
    time_column: str | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A seeded train/holdout split, stratified by class for classification. With a group column,
    rows sharing a group (say, repeated samples of one patient) stay on the same side. With a time
    column, the holdout is the latest rows instead (`split_by_time`)."""
    if time_column is not None:
        return split_by_time(frame, target=target, task=task, test_size=test_size, time_column=time_column)
    try:
        if group is None:
            stratify = frame[target] if task != "regression" else None
            train, test = train_test_split(frame, test_size=test_size, random_state=seed, stratify=stratify)
            return train.reset_index(drop=True), test.reset_index(drop=True)
        groups = frame[group].astype(str)
        if task == "regression":
            splitter = GroupShuffleSplit(n_splits=1, test_size=test_size, random_state=seed)
        else:
            n_splits = max(2, round(1 / test_size))
            splitter = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)
        train_rows, test_rows = next(splitter.split(frame, frame[target], groups))
    except ValueError as error:
        raise UserError(f"cannot split {len(frame)} rows with data.test_size={test_size}: {error}") from None
    return frame.iloc[train_rows].reset_index(drop=True), frame.iloc[test_rows].reset_index(drop=True)


def time_column_of(frame: pd.DataFrame, data: DataConfig) -> str | None:
    """The column a time split orders rows by: `data.time_column`, else the table's only column of
    dates (as the cleaner judges them); None for a random split."""
    if data.split != "time":
        return None
    if data.time_column is not None:
        if data.time_column not in frame.columns:
            columns = ", ".join(frame.columns)
            raise UserError(f"data.time_column: {data.time_column!r} is not a column; columns: {columns}")
        return data.time_column
    dated = [
        name for name in frame.columns
        if name != data.target and not pd.api.types.is_numeric_dtype(frame[name])
        and infer_kind(frame[name], numeric_min_share=1.0) == "datetime"
    ]  # fmt: skip
    if len(dated) != 1:
        found = f"{len(dated)} date columns ({', '.join(dated)})" if dated else "no column of dates"
        raise UserError(f"data.split: time needs the column that orders the rows: the table has {found}; "
                        "name it in data.time_column (a date or a number, such as a year)")  # fmt: skip
    return dated[0]


def time_order(values: pd.Series) -> np.ndarray:
    """Each row's time as a float to sort by (a number as it is, a date in seconds since 1970); -inf where it
    is missing, so that undated rows count as the oldest: always trained on, never scored."""
    if pd.api.types.is_bool_dtype(values) or not pd.api.types.is_numeric_dtype(values):
        seconds = (parse_dates(values) - pd.Timestamp(0, tz="UTC")).dt.total_seconds()
        key = seconds.to_numpy(dtype=float, na_value=np.nan)
    else:
        key = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    return np.where(np.isnan(key), -np.inf, key)


def split_by_time(
    frame: pd.DataFrame, *, target: str, task: str, test_size: float, time_column: str
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The latest `test_size` share of the rows as the holdout: every row at or after the cut time,
    so that each holdout row is newer than every training row (rows sharing a time stay together)."""
    key = time_order(frame[time_column])
    dated = np.sort(key[np.isfinite(key)])
    held_out = round(test_size * len(dated))  # of the dated rows: undated ones are never held out
    if not 1 <= held_out < len(dated):
        raise UserError(f"data.split: time: {len(dated)} rows of {len(frame)} have a {time_column!r}, too few to hold "
                        f"out data.test_size={test_size} of them by time; date more rows")  # fmt: skip
    cut = dated[len(dated) - held_out]
    latest = key >= cut
    if cut == dated[0]:
        raise UserError(f"data.split: time: every dated row of {time_column!r} shares the latest time; "
                        "there is no past to train on")  # fmt: skip
    train, test = frame[~latest].reset_index(drop=True), frame[latest].reset_index(drop=True)
    if task != "regression":
        since = f"the {len(test)} latest rows (from {time_column} {frame[time_column][latest].iloc[0]})"
        if test[target].nunique() < 2:
            raise UserError(f"data.split: time: {since} hold only the class {test[target].iloc[0]!r}, so the "
                            "holdout cannot be scored; raise data.test_size")  # fmt: skip
        new = sorted(set(map(str, test[target].unique())) - set(map(str, train[target].unique())))
        if new or train[target].nunique() < 2:
            raise UserError(f"data.split: time: the training rows lack classes that {since} hold "
                            f"({', '.join(new) or 'all but one'}): a model cannot learn what it never saw; "
                            "use data.split: random, or lower data.test_size")  # fmt: skip
    return train, test


class ForwardChaining(BaseCrossValidator):
    """Expanding-window folds in time order (scikit-learn's `TimeSeriesSplit`, on a time column):
    the rows are cut by time into `n_splits + 1` blocks of about equal size, never splitting rows of
    one time, and fold k scores block k + 1 with a model fitted on blocks 0..k. The oldest block is
    never scored, so out-of-fold predictions cover the later rows only (`scored_rows`); it grows
    until it holds two target values, so that no fold fits a classifier on one class. The time is
    read from the column itself, so any subset of the rows (a screening sample) gets its own folds."""

    def __init__(self, n_splits: int = 5, time_column: str | None = None, classes: bool = False):
        self.n_splits = n_splits
        self.time_column = time_column
        self.classes = classes  # a classification target: every scored block must hold two classes

    def get_n_splits(self, X=None, y=None, groups=None) -> int:
        return self.n_splits

    def split(self, X, y=None, groups=None):
        key = time_order(X[self.time_column])
        order = np.argsort(key, kind="stable")
        ordered, n = key[order], len(key)
        first = round(n / (self.n_splits + 1))  # where the first scored block starts, in time order
        labels = None if y is None else np.asarray(y)
        if labels is not None:
            codes = pd.factorize(labels[order])[0]
            second = int(np.argmax(codes != codes[0]))  # the oldest row of another target value (0: none)
            first = max(first, int(np.searchsorted(ordered, ordered[second], side="right")))
        later = n - first
        starts = [ordered[min(first + round(i * later / self.n_splits), n - 1)] for i in range(self.n_splits)]
        for start, end in zip(starts, [*starts[1:], np.inf], strict=True):
            train_rows, test_rows = np.flatnonzero(key < start), np.flatnonzero((key >= start) & (key < end))
            one_class = (
                self.classes
                and labels is not None
                and (len(np.unique(labels[test_rows])) < 2 or len(np.unique(labels[train_rows])) < 2)
            )
            if not len(train_rows) or not len(test_rows) or one_class:
                raise UserError(
                    f"cannot chain {self.n_splits} folds forward in time on {len(key)} rows with "
                    f"{len(np.unique(ordered))} distinct times of {self.time_column!r} (undated rows count as "
                    "the oldest; each block of a classifier's folds must hold two classes); lower train.folds"
                )
            yield train_rows, test_rows

    def _iter_test_indices(self, X=None, y=None, groups=None):  # split() is overridden: not used
        raise NotImplementedError


def make_folds(
    task: str, n_folds: int, seed: int, grouped: bool = False, time_column: str | None = None
) -> BaseCrossValidator:
    """The same seeded folds for every candidate and trial: stratified for classification, and
    keeping each group in one fold when the data has a group column; forward-chaining in time with a
    time column."""
    if time_column is not None:
        return ForwardChaining(n_folds, time_column, classes=task != "regression")
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
    counts = y.value_counts()
    if counts.min() < n_folds:
        rare = ", ".join(f"{label!r} ({n})" for label, n in counts.items() if n < n_folds)
        raise UserError(
            f"train.folds={n_folds} needs at least {n_folds} training rows per class; "
            f"too few: {rare}. Lower train.folds or add data"
        )


def fold_of_each_row(folds: BaseCrossValidator, y: pd.Series, groups: pd.Series | None = None) -> np.ndarray:
    """The fold each row is scored in (its index in `folds.split`)."""
    fold = np.empty(len(y), dtype=np.int64)
    for index, (_, scored) in enumerate(folds.split(np.zeros((len(y), 1)), y, groups)):
        fold[scored] = index
    return fold


def scored_rows(splits: list[tuple[np.ndarray, np.ndarray]], n_rows: int) -> np.ndarray:
    """The rows some fold scores, in row order: every row for K-fold CV; forward-chaining folds never
    score the oldest block. Out-of-fold predictions hold these rows, in this order."""
    scored = np.sort(np.concatenate([test_rows for _, test_rows in splits]))
    return np.arange(n_rows) if len(scored) == n_rows else scored
