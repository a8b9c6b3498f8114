"""Row-level cleaning of labelled training data, the target and task, and the clean report.

Row-level steps (rows without a valid target, exact duplicates, outlier rows) only make sense on
training data; column-level steps are `autotab.estimators.table_cleaner.TableCleaner`, part of the served Pipeline.
"""

from __future__ import annotations

import difflib
import math
from typing import Any

import numpy as np
import pandas as pd

from autotab.config import CleanConfig, DataConfig
from autotab.errors import UserError
from autotab.estimators.table_cleaner import (
    SPACES,
    TEXT,
    TableCleaner,
    is_text,
    lower_markers,
    normalise_missing,
    parse_numbers,
)


def check_target(frame: pd.DataFrame, target: str) -> None:
    if target in frame.columns:
        return
    columns = [str(c) for c in frame.columns]
    nearest = difflib.get_close_matches(target, columns, n=1, cutoff=0.5)
    hint = f"; did you mean {nearest[0]!r}?" if nearest else ""
    if len(columns) == 1:
        hint += "; the file was read as a single column: is data.delimiter right?"
    raise UserError(
        f"target column {target!r} (data.target) is not in the table; its columns are: {', '.join(columns)}{hint}"
    )


def normalise_labels(labels: pd.Series) -> pd.Series:
    """Class labels with stray spaces removed, and spellings that differ only by case merged
    into the most frequent one (`Benign`, `benign ` -> `benign` when `benign` is commoner)."""
    text = labels.astype(TEXT).str.strip().str.replace(SPACES, " ", regex=True)
    folded = text.str.lower()
    counts = pd.DataFrame({"text": text, "folded": folded}).value_counts()
    canonical: dict[str, str] = {}
    for (spelling, key), _ in counts.items():  # most frequent first
        canonical.setdefault(key, spelling)
    return folded.map(canonical).astype(object).where(text.notna(), np.nan)


def clean_rows(
    frame: pd.DataFrame, target: str, task: str, markers: list[str], drop_duplicates: bool
) -> tuple[pd.DataFrame, dict[str, int]]:
    """Drop rows without a target, with an invalid one, then exact duplicates. Returns the counts.

    A target that reads as numbers (or must, for regression) becomes numeric (integers stay
    integers); otherwise it is a text label, normalised by `normalise_labels`.
    """
    check_target(frame, target)
    # A shallow copy: the caller's frame keeps its target (copy-on-write), and a table of millions
    # of rows is not copied whole here (at most the kept rows are, once, below).
    frame = frame.copy(deep=False)
    raw_target = normalise_missing(frame[target], lower_markers(markers))
    has_target = raw_target.notna()
    # True / False are labels whatever the file: a Parquet bool column (or a CSV's TRUE / FALSE, which
    # pandas reads as bools) would otherwise become 0 / 1 when no value is missing, and False / True when one is.
    boolean = pd.api.types.infer_dtype(raw_target[has_target], skipna=True) == "boolean"
    numbers = parse_numbers(raw_target)  # read once: a target of millions of rows, perhaps
    reads_as_numbers = not boolean and (not is_text(raw_target) or numbers[has_target].notna().all())
    if task == "regression" or reads_as_numbers:
        values = numbers.mask(np.isinf(numbers))  # an infinite target is invalid: no metric can score it
        valid = values.notna()
        frame[target] = values
    else:
        valid = has_target
        frame[target] = normalise_labels(raw_target)
    # Duplicates judged on every row: a row without a valid target never equals one with it, so
    # among the valid rows they are the same, and the kept rows are taken in one copy.
    duplicated = (frame.duplicated() & valid) if drop_duplicates else pd.Series(False, index=frame.index)
    keep = valid & ~duplicated
    kept = (frame if keep.all() else frame[keep]).reset_index(drop=True)
    if task == "regression" or reads_as_numbers:
        numbers = kept[target].astype("float64")
        kept = kept.assign(**{target: numbers.astype("int64") if (numbers % 1 == 0).all() else numbers})
    dropped = {
        "missing_target": int((~has_target).sum()),
        "invalid_target": int((has_target & ~valid).sum()),
        "duplicate": int(duplicated.sum()),
    }
    if kept.empty:
        raise UserError(f"no rows left after dropping rows without a valid target {target!r}: {dropped}")
    return kept, dropped


def is_numeric_target(y: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(y.infer_objects()) and not pd.api.types.is_bool_dtype(y)


def infer_task(y: pd.Series, configured: str, max_classes: int) -> tuple[str, str]:
    """The task (binary / multiclass / regression) and the reason it was chosen."""
    n_classes = int(y.nunique())
    numeric = is_numeric_target(y)
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
        return "binary", "the target has 2 classes"
    if n_classes <= max_classes:
        return "multiclass", f"the target has {n_classes} classes"
    raise UserError(
        f"the target has {n_classes} distinct text labels, more than clean.max_classes="
        f"{max_classes}; set data.task or raise clean.max_classes"
    )


def min_class_rows(clean: CleanConfig, *, test_size: float, n_folds: int) -> tuple[int, str]:
    """The fewest rows a class needs (`clean.min_class_count`), and the setting that says so.

    auto: the fewest that still leave `n_folds` training rows after a stratified holdout takes its
    `test_size` share (rounded up), one for each training fold to hold out: 7 for 5 folds and 20%.
    A class with fewer cannot be cross-validated. Any higher bar drops classes a model can learn,
    and a dropped class costs every one of its records the whole log loss of a zero probability."""
    if clean.min_class_count != "auto":
        return clean.min_class_count, f"clean.min_class_count={clean.min_class_count} rows"
    rows = max(n_folds, 2)
    while rows - math.ceil(rows * test_size) < n_folds:
        rows += 1
    return rows, f"{rows} rows (clean.min_class_count: auto, for train.folds={n_folds}, data.test_size={test_size:g})"


def drop_rare_classes(
    y: pd.Series, *, min_count: int, policy: str, setting: str | None = None
) -> tuple[pd.Series, dict[str, int]]:
    """Which rows to keep, and the classes with fewer than `min_count` rows, by label with their counts.

    Too few rows of a class to stratify the holdout by and reach every training fold. With `policy`
    drop (clean.rare_classes), their rows are dropped and the model never predicts them, as
    AutoGluon's `label_count_threshold` does; with error, the run stops naming them. Fewer than two
    classes left is an error either way. `setting` names the bar in messages (`min_class_rows`)."""
    setting = setting or f"clean.min_class_count={min_count} rows"
    counts = y.value_counts()
    rare = counts[counts < min_count]
    if rare.empty:
        return pd.Series(True, index=y.index), {}
    listed = ", ".join(f"{label!r} ({n} {'row' if n == 1 else 'rows'})" for label, n in rare.head(10).items())
    if len(rare) > 10:
        listed += f" and {len(rare) - 10} more"
    kept = len(counts) - len(rare)
    if policy == "error" or kept < 2:
        left = "" if policy == "error" else f"; dropping them would leave {kept} class{'' if kept == 1 else 'es'}"
        raise UserError(
            f"classes with fewer than {setting}: {listed}{left}; "
            "remove or merge them, or lower clean.min_class_count (at least train.folds)"
        )
    return ~y.isin(rare.index), {str(label): int(n) for label, n in rare.items()}


def task_and_classes(
    rows: pd.DataFrame, *, data: DataConfig, clean: CleanConfig, n_folds: int
) -> tuple[pd.DataFrame, str, str, dict[str, int]]:
    """The rows kept, the task and why, and the rare classes dropped (`drop_rare_classes`). The task
    is inferred again on the kept rows: three classes, one of them rare, leave a binary task (and
    `data.task: binary` is checked on the kept rows too). A text target is classes whatever their
    number: its rare ones go before `clean.max_classes` counts them, so a long tail of rare labels
    does not stop a table that has few enough real classes."""
    y = rows[data.target]
    # A single class: infer_task says so, whatever the task.
    if data.task == "regression" or (data.task == "auto" and is_numeric_target(y)) or y.nunique() < 2:
        task, reason = infer_task(y, data.task, clean.max_classes)
        if task == "regression":
            return rows, task, reason, {}
    min_count, setting = min_class_rows(clean, test_size=data.test_size, n_folds=n_folds)
    keep, dropped = drop_rare_classes(y, min_count=min_count, policy=clean.rare_classes, setting=setting)
    if dropped:
        rows = rows[keep].reset_index(drop=True)
    task, reason = infer_task(rows[data.target], data.task, clean.max_classes)
    if dropped:
        reason += f", after dropping {len(dropped)} rare one{'' if len(dropped) == 1 else 's'}"
    return rows, task, reason, dropped


def cleaner_recipe(data: DataConfig, clean: CleanConfig) -> TableCleaner:
    return TableCleaner(
        drop=tuple(dict.fromkeys([*data.drop, *([data.group] if data.group else [])])),
        missing_markers=tuple(clean.missing_markers),
        numeric_min_share=clean.numeric_min_share,
        case_fold=clean.case_fold,
        date_parts=tuple(clean.date_parts),
        drop_constant=clean.drop_constant,
        id_unique_ratio=clean.id_unique_ratio,
        max_missing_ratio=clean.max_missing_ratio,
        free_text_unique_ratio=clean.free_text_unique_ratio,
        free_text_min_unique=clean.free_text_min_unique,
        free_text_min_words=clean.free_text_min_words,
        clip_quantiles=tuple(clean.clip_quantiles) if clean.outliers == "clip" else None,
    )


def outlier_rows(cleaned: pd.DataFrame, contamination: float, seed: int) -> np.ndarray:
    """A mask of the training rows an IsolationForest on the numeric columns calls outliers."""
    from sklearn.ensemble import IsolationForest

    numeric = cleaned.select_dtypes("number")
    if numeric.empty:
        return np.zeros(len(cleaned), dtype=bool)
    filled = numeric.fillna(numeric.median()).fillna(0.0)
    forest = IsolationForest(contamination=contamination, random_state=seed)
    return forest.fit_predict(filled.to_numpy()) == -1


# Cells cleaned at a time for the column report (at most REPORT_CHUNK_ROWS rows): cleaning is row by
# row, so counts over chunks add up to the whole table's, and a large table is never held cleaned
# twice (1M rows x 20 columns: 900 MB more at once, the clean stage's peak; 80,000 rows x 500
# columns were one chunk of 100,000 rows before the chunk was bounded by cells).
REPORT_CHUNK_CELLS = 8_000_000
REPORT_CHUNK_ROWS = 100_000


def column_report(cleaner: TableCleaner, *frames: pd.DataFrame) -> dict[str, dict[str, Any]]:
    """Per kept raw column, over the rows of all `frames` (the splits of one table; other columns
    are ignored): missing cells as read, markers turned missing, values that could not be read as
    the column's kind (now missing), and missing cells after cleaning."""
    markers = lower_markers(cleaner.missing_markers)
    counts = {name: np.zeros(3, dtype=np.int64) for name in cleaner.kinds_}  # as read, after markers, after
    rows = min(REPORT_CHUNK_ROWS, max(1, REPORT_CHUNK_CELLS // max(1, len(cleaner.kinds_))))
    chunks = (frame.iloc[start : start + rows] for frame in frames for start in range(0, len(frame), rows))
    for chunk in chunks:
        cleaned = cleaner.transform(chunk)
        columns = list(cleaned.columns)  # listed once: a name lookup per column of a 2,000-column table
        exact = set(columns)
        for name in cleaner.kinds_:
            safe = cleaner.names_[name]
            after = cleaned[safe if safe in exact else next(c for c in columns if c.startswith(f"{safe}_"))]
            counts[name] += [chunk[name].isna().sum(), normalise_missing(chunk[name], markers).isna().sum(),
                             after.isna().sum()]  # fmt: skip
    report: dict[str, dict[str, Any]] = {}
    for name, kind in cleaner.kinds_.items():
        as_read, normalised, after = (int(count) for count in counts[name])
        report[name] = {
            "cleaned_name": cleaner.names_[name],
            "kind": kind,
            "missing_as_read": as_read,
            "markers_to_missing": normalised - as_read,
            "unreadable_to_missing": after - normalised,
            "missing_after": after,
        }
    return report
