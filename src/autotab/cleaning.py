"""Cleaning: row-level steps for training data, and `TableCleaner`, the column-level steps.

Row-level steps (rows without a target, exact duplicates) only make sense on labelled training data.
Every column-level step is learned by `TableCleaner.fit` and replayed by `transform`, and the cleaner
is the first step of the Pipeline that is trained, evaluated and served: the service takes records as
they appear in the raw file and cleans them exactly as training did.
"""

from __future__ import annotations

import difflib
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.model_selection import train_test_split
from sklearn.utils.validation import check_is_fitted

from autotab.errors import UserError

TRUE_WORDS = frozenset({"true", "yes", "y", "t"})
FALSE_WORDS = frozenset({"false", "no", "n", "f"})
# Below this many rows a column that is unique per row is no evidence of an id.
MIN_ROWS_FOR_ID = 20


def _is_text(series: pd.Series) -> bool:
    return not (pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series))


def normalise_missing(series: pd.Series, markers: frozenset[str]) -> pd.Series:
    """Strip text and turn missing-value markers (compared case-insensitively) into NaN."""
    if not _is_text(series):
        return series
    text = series.astype(object).where(series.notna(), None)
    stripped = text.map(lambda v: v.strip() if isinstance(v, str) else v)
    is_marker = stripped.map(lambda v: isinstance(v, str) and v.lower() in markers)
    return stripped.where(~is_marker & stripped.notna(), np.nan).astype(object)


def _lower_markers(markers: tuple[str, ...] | list[str]) -> frozenset[str]:
    return frozenset(m.strip().lower() for m in markers)


# --- the target and the rows -------------------------------------------------------------------


def check_target(frame: pd.DataFrame, target: str) -> None:
    if target in frame.columns:
        return
    columns = [str(c) for c in frame.columns]
    nearest = difflib.get_close_matches(target, columns, n=1, cutoff=0.5)
    hint = f"; did you mean {nearest[0]!r}?" if nearest else ""
    raise UserError(
        f"target column {target!r} (data.target) is not in the table; "
        f"its columns are: {', '.join(columns)}{hint}"
    )


def clean_rows(
    frame: pd.DataFrame, target: str, markers: list[str], drop_duplicates: bool
) -> tuple[pd.DataFrame, dict[str, int]]:
    """Drop rows without a target, then exact duplicate rows. Returns the rows and the counts."""
    check_target(frame, target)
    frame = frame.copy()
    frame[target] = normalise_missing(frame[target], _lower_markers(markers))
    if _is_text(frame[target]):
        frame[target] = frame[target].astype(object)
    has_target = frame[target].notna()
    kept = frame[has_target]
    duplicated = kept.duplicated() if drop_duplicates else pd.Series(False, index=kept.index)
    kept = kept[~duplicated].reset_index(drop=True)
    dropped = {"missing_target": int((~has_target).sum()), "duplicate": int(duplicated.sum())}
    if kept.empty:
        raise UserError(f"no rows left after dropping rows without a target {target!r}: {dropped}")
    return kept, dropped


def infer_task(y: pd.Series, configured: str, max_classes: int) -> tuple[str, str]:
    """The task (binary / multiclass / regression) and the reason it was chosen."""
    n_classes = int(y.nunique())
    numeric = pd.api.types.is_numeric_dtype(y) and not pd.api.types.is_bool_dtype(y)
    if configured == "regression":
        if not numeric:
            raise UserError("data.task is regression but the target is not numeric")
        return "regression", "set in data.task"
    if configured in ("binary", "multiclass"):
        expected_ok = n_classes == 2 if configured == "binary" else n_classes >= 3
        if not expected_ok:
            raise UserError(f"data.task is {configured} but the target has {n_classes} classes")
        return configured, "set in data.task"
    if numeric:
        integral = bool(np.all(np.mod(y.to_numpy(dtype=float), 1) == 0))
        if not integral or n_classes > max_classes:
            return "regression", f"numeric target with {n_classes} distinct values"
    if n_classes < 2:
        raise UserError(f"the target has a single class ({y.iloc[0]!r}); a model needs two or more")
    if n_classes == 2:
        return "binary", "target has 2 classes"
    if n_classes <= max_classes:
        return "multiclass", f"target has {n_classes} classes"
    raise UserError(
        f"the target has {n_classes} distinct text labels, more than clean.max_classes="
        f"{max_classes}; set data.task or raise clean.max_classes"
    )


def split_rows(
    frame: pd.DataFrame, target: str, task: str, test_size: float, seed: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A seeded train/holdout split, stratified by class for classification."""
    stratify = None
    if task != "regression":
        counts = frame[target].value_counts()
        rare = counts[counts < 2]
        if not rare.empty:
            raise UserError(
                f"classes with fewer than 2 rows cannot be split: "
                f"{', '.join(map(repr, rare.index.tolist()))}; remove them or merge them"
            )
        stratify = frame[target]
    try:
        train, test = train_test_split(frame, test_size=test_size, random_state=seed, stratify=stratify)
    except ValueError as error:
        raise UserError(f"cannot split {len(frame)} rows with data.test_size={test_size}: {error}") from None
    return train.reset_index(drop=True), test.reset_index(drop=True)


# --- the column-level cleaner ------------------------------------------------------------------


def _kind(series: pd.Series) -> str:
    """numeric, boolean or categorical, judged on the non-missing values."""
    if pd.api.types.is_bool_dtype(series):
        return "boolean"
    if pd.api.types.is_numeric_dtype(series):
        return "numeric"
    values = series.dropna()
    if values.empty:
        return "categorical"
    if pd.to_numeric(values, errors="coerce").notna().all():
        return "numeric"
    words = set(values.astype(str).str.lower())
    if words <= TRUE_WORDS | FALSE_WORDS:
        return "boolean"
    return "categorical"


def _raw_json_types(raw: pd.Series, kind: str) -> list[str]:
    """The JSON types a request may use for this column: those of the raw file's values."""
    if pd.api.types.is_bool_dtype(raw):
        return ["boolean"]
    if pd.api.types.is_integer_dtype(raw):
        return ["integer"]
    if pd.api.types.is_numeric_dtype(raw):
        return ["number"]
    if kind == "numeric":
        return ["number", "string"]
    if kind == "boolean":
        return ["boolean", "string"]
    return ["string"]


class TableCleaner(TransformerMixin, BaseEstimator):
    """Column-level cleaning learned on training rows and replayed on any rows.

    Learns which columns to keep (dropping configured, empty, constant and id-like columns) and what
    each kept column is (numeric, boolean or categorical). `transform` turns missing markers into NaN
    and coerces each column to its kind: numbers and booleans as float, categories as text.
    """

    def __init__(
        self,
        drop: tuple[str, ...] = (),
        missing_markers: tuple[str, ...] = ("", "?", "NA", "N/A", "null", "None", "-"),
        id_unique_ratio: float = 0.95,
    ) -> None:
        self.drop = drop
        self.missing_markers = missing_markers
        self.id_unique_ratio = id_unique_ratio

    def fit(self, X: pd.DataFrame, y: Any = None) -> TableCleaner:
        if not isinstance(X, pd.DataFrame):
            raise TypeError("TableCleaner needs a pandas DataFrame with column names")
        markers = _lower_markers(self.missing_markers)
        self.feature_names_in_ = np.asarray([str(c) for c in X.columns], dtype=object)
        self.n_features_in_ = len(X.columns)
        self.kinds_: dict[str, str] = {}
        self.dropped_: dict[str, str] = {}
        self.fields_: list[dict[str, Any]] = []
        n_rows = len(X)
        for column in X.columns:
            name = str(column)
            values = normalise_missing(X[column], markers)
            kind = _kind(values)
            n_unique = int(values.nunique())
            reason = self._drop_reason(name, values, kind, n_unique, n_rows)
            if reason:
                self.dropped_[name] = reason
            else:
                self.kinds_[name] = kind
            field: dict[str, Any] = {
                "name": name,
                "types": _raw_json_types(X[column], kind),
                "nullable": bool(values.isna().any()),
                "used": reason is None,
            }
            if reason is None and kind == "categorical":
                field["categories"] = sorted(map(str, values.dropna().unique()))
            self.fields_.append(field)
        if not self.kinds_:
            raise UserError(f"every feature column was dropped: {self.dropped_}")
        return self

    def _drop_reason(self, name: str, values: pd.Series, kind: str, n_unique: int, n_rows: int) -> str | None:
        if name in self.drop:
            return "listed in data.drop"
        if values.isna().all():
            return "all values missing"
        if n_unique == 1:
            return "constant"
        if n_rows >= MIN_ROWS_FOR_ID:
            ratio = n_unique / n_rows
            if kind == "categorical" and ratio >= self.id_unique_ratio:
                return f"id-like: {n_unique} distinct values in {n_rows} rows"
            is_integer = pd.api.types.is_integer_dtype(values)
            if kind == "numeric" and is_integer and n_unique == n_rows:
                return f"id-like: a distinct integer in each of {n_rows} rows"
        return None

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        check_is_fitted(self, "kinds_")
        missing = [name for name in self.kinds_ if name not in X.columns]
        if missing:
            raise ValueError(f"missing columns: {', '.join(missing)}")
        markers = _lower_markers(self.missing_markers)
        out = {}
        for name, kind in self.kinds_.items():
            values = normalise_missing(X[name], markers)
            if kind == "numeric":
                out[name] = pd.to_numeric(values, errors="coerce").astype("float64")
            elif kind == "boolean":
                words = values.map(lambda v: str(v).lower() if pd.notna(v) else v)
                out[name] = words.map(
                    lambda w: 1.0 if w in TRUE_WORDS else 0.0 if w in FALSE_WORDS else np.nan
                ).astype("float64")
            else:
                out[name] = values.map(lambda v: str(v) if pd.notna(v) else np.nan).astype(object)
        return pd.DataFrame(out, index=X.index)

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        check_is_fitted(self, "kinds_")
        return np.asarray(list(self.kinds_), dtype=object)

    def input_schema(self) -> list[dict[str, Any]]:
        """The raw columns a prediction request may carry: JSON types, nullability, use."""
        check_is_fitted(self, "kinds_")
        return [dict(field) for field in self.fields_]
