"""How the training rows are divided: the holdout split, and the cross-validation folds that
train, tune and the clean stage's leakage checks share."""

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

from autotab.errors import UserError


def split_rows(
    frame: pd.DataFrame, target: str, task: str, test_size: float, seed: int, group: str | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A seeded train/holdout split, stratified by class for classification. With a group column,
    rows sharing a group (say, repeated samples of one patient) stay on the same side."""
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
