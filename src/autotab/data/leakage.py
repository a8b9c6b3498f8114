"""Leakage checks on the training rows: what a model could learn that will not hold in use.

Three questions, each answered cheaply (linear in the rows, no model fitted) and on the training
split only, with the run's own folds:

- **Does an id-like column predict the target?** Each column the cleaner drops as id-like or
  because `data.drop` lists it, and each kept column named like an id, is scored alone, out of
  fold: each row gets the target mean of the rows that share its value in the other folds (its
  bin, for numbers, to catch ids handed out in the target's order). A predictive column whose
  values repeat is a grouping key (patients tested several times): rows of one subject on both
  sides of a split flatter every score, so `data.group` should name it. One whose values do not
  repeat is a leak in how it was made.
- **Does a kept column alone nearly give the target away?** Every cleaned feature is scored the
  same way. One that reaches `clean.leak_score` (ROC AUC, or R² for a regression) is a probable
  copy of the target, and the run stops unless `clean.allow_leaks` is set.
- **Do rows repeat across the split or the folds?** Exact duplicates of the used columns' values in
  the holdout and the training split (with the target, and without it) and across the folds are
  counted: they inflate the holdout and cross-validated scores.

The scores are cross-fitted target encodings: a row never sees its own target, and a value seen in
no other fold gets the training prior, so a unique id scores as chance. A number is also scored as
itself, a ranking (ROC AUC either way round, or the squared rank correlation), which nothing is
fitted for: exact where the bins blur a copy of the target in other units.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from autotab.config import CleanConfig, DataConfig
from autotab.data.row_cleaning import clean_rows, cleaner_recipe, task_and_classes
from autotab.data.splits import check_folds, fold_of_each_row, make_folds, split_rows, time_column_of
from autotab.estimators.table_cleaner import ID_NAME, TableCleaner, parse_dates
from autotab.metrics import positive_class

# Numbers are cut into this many quantile bins before encoding: enough to follow any monotone or
# bumpy relation, few enough that each bin holds rows from every fold.
NUMERIC_BINS = 32
# Values repeat when the rows per distinct value reach this: a grouping key rather than a row id.
REPEATS = 1.5
# The kept columns are scored on a seeded sample of at most this many training rows.
SCORED_ROWS = 20_000
# Rows repeating across the split: at this share of the holdout, grouping is suggested.
SHARED_ROWS_SUGGEST = 0.05


def _codes(values: pd.Series, binned: bool) -> np.ndarray:
    """Integer codes of a column's values (missing is a value of its own), or of its quantile bins."""
    if binned:
        numbers = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
        finite = numbers[np.isfinite(numbers)]
        if finite.size == 0:
            return np.zeros(len(values), dtype=np.int64)
        edges = np.unique(np.quantile(finite, np.linspace(0, 1, NUMERIC_BINS + 1)[1:-1]))
        codes = np.searchsorted(edges, numbers, side="right")
        return np.where(np.isfinite(numbers), codes, len(edges) + 1).astype(np.int64)
    codes, _ = pd.factorize(values, use_na_sentinel=False)
    return codes.astype(np.int64)


def _cells(codes: np.ndarray, target: np.ndarray, fold: np.ndarray, n_folds: int):
    """Per (fold, code) cell: its rows, its target sums (per class column for classes), and the
    out-of-fold mean target its rows get: the mean over the rows sharing the code in the other
    folds, shrunk toward those folds' prior by one row's weight."""
    n_codes = int(codes.max()) + 1
    cell = fold * n_codes + codes
    counts = np.bincount(cell, minlength=n_folds * n_codes).reshape(n_folds, n_codes)
    sums = np.stack(
        [np.bincount(cell, weights=target[:, k], minlength=n_folds * n_codes) for k in range(target.shape[1])],
        axis=-1,
    ).reshape(n_folds, n_codes, target.shape[1])
    other_counts = counts.sum(axis=0) - counts  # fold f's training part, per code
    other_sums = sums.sum(axis=0) - sums
    prior = other_sums.sum(axis=1) / np.maximum(other_counts.sum(axis=1), 1)[:, None]  # per fold
    means = (other_sums + prior[:, None, :]) / (other_counts + 1)[:, :, None]
    return counts, sums, means


def _auc(score: np.ndarray, positive: np.ndarray, negative: np.ndarray) -> float:
    """ROC AUC as the Mann-Whitney statistic over weighted points (`positive` and `negative`
    counts at each score), ties counted half: scikit-learn's value for rows of weight one, and for
    cells of rows sharing a score, without sorting the rows."""
    order = np.argsort(score, kind="stable")
    score, positive, negative = score[order], positive[order], negative[order]
    starts = np.r_[0, np.flatnonzero(np.diff(score)) + 1]  # runs of one score
    positive, negative = np.add.reduceat(positive, starts), np.add.reduceat(negative, starts)
    below = np.cumsum(negative) - negative
    return float((positive * (below + negative / 2)).sum() / (positive.sum() * negative.sum()))


def _score(codes: np.ndarray, target: np.ndarray, task: str, fold: np.ndarray, n_folds: int) -> float:
    """The out-of-fold ROC AUC (binary; macro one-vs-rest for classes) or R² of the encoded codes."""
    counts, sums, means = _cells(codes, target, fold, n_folds)
    if task == "regression":
        encoded = means[fold, codes, 0]
        residual = ((target[:, 0] - encoded) ** 2).sum()
        total = ((target[:, 0] - target[:, 0].mean()) ** 2).sum()
        return float(1 - residual / total) if total > 0 else 0.0
    filled = counts > 0
    classes = range(1, 2) if task == "binary" else range(target.shape[1])
    scores = [
        _auc(means[..., k][filled], sums[..., k][filled], (counts - sums[..., k])[filled])
        for k in classes if 0 < target[:, k].sum() < len(target)
    ]  # fmt: skip
    return float(np.mean(scores)) if scores else 0.5


def _target_matrix(y: pd.Series, task: str) -> np.ndarray:
    if task == "regression":
        return y.to_numpy(dtype=float)[:, None]
    codes, _ = pd.factorize(y, sort=True)
    return np.eye(codes.max() + 1)[codes]


def _monotone_score(numbers: np.ndarray, target: np.ndarray, task: str) -> float:
    """For a number, the score of the number itself as the prediction, either way round: a binary
    ROC AUC, or a regression's squared rank correlation. Exact where the bins lose the last digits
    (a copy of the target in other units); nothing is fitted, so nothing is learned in-sample."""
    filled = np.where(np.isfinite(numbers), numbers, np.nanmedian(numbers) if np.isfinite(numbers).any() else 0.0)
    if task == "binary":
        if not 0 < target[:, 1].sum() < len(target):
            return 0.5
        auc = _auc(filled, target[:, 1], 1 - target[:, 1])
        return float(max(auc, 1 - auc))
    if task == "regression":
        ranks = pd.DataFrame({"x": filled, "y": target[:, 0]}).rank()
        correlation = ranks["x"].corr(ranks["y"])
        return float(correlation**2) if np.isfinite(correlation) else 0.0
    return 0.5  # several classes: a single order cannot separate them all; the bins answer


def column_score(
    values: pd.Series, target: np.ndarray, task: str, fold: np.ndarray, codes: np.ndarray | None = None
) -> float:
    """The column alone, out of fold: its values as categories (`codes`, if already made; for
    numbers, only when they repeat: a number id), and for numbers their bins and the number itself."""
    n_folds = int(fold.max()) + 1
    codes = _codes(values, binned=False) if codes is None else codes
    if not pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
        return _category_score(codes, target, task, fold)
    numbers = values.to_numpy(dtype=float, na_value=np.nan)
    scores = [_score(_codes(values, binned=True), target, task, fold, n_folds), _monotone_score(numbers, target, task)]
    if len(codes) >= REPEATS * (codes.max() + 1):
        scores.append(_score(codes, target, task, fold, n_folds))
    return max(scores)


def _category_score(codes: np.ndarray, target: np.ndarray, task: str, fold: np.ndarray) -> float:
    # With no value repeated, every row gets its folds' prior: chance, known without the counting.
    if codes.max() + 1 == len(codes):
        return 0.0 if task == "regression" else 0.5
    return _score(codes, target, task, fold, int(fold.max()) + 1)


def skill(score: float, task: str) -> float:
    """The share of the way from chance (ROC AUC 0.5, R² 0) to a perfect score."""
    return score if task == "regression" else 2 * score - 1


def _same_target_share(codes: np.ndarray, y: pd.Series) -> tuple[float, float]:
    """Among pairs of rows sharing a value: the share with the same class, and that share by chance."""
    classes, _ = pd.factorize(y)
    table = pd.crosstab(codes, classes).to_numpy(dtype=float)
    per_value = table.sum(axis=1)
    pairs = (per_value * (per_value - 1)).sum()
    same = (table * (table - 1)).sum() / pairs if pairs else 0.0
    shares = table.sum(axis=0) / table.sum()
    return float(same), float((shares**2).sum())


def key_finding(
    name: str, values: pd.Series, y: pd.Series, target: np.ndarray, task: str, fold: np.ndarray, group: str | None
) -> dict[str, Any]:
    codes = _codes(values, binned=False)
    score = column_score(values, target, task, fold, codes)
    rows_per_value = len(values) / (codes.max() + 1)
    finding: dict[str, Any] = {"score": round(score, 6), "skill": round(skill(score, task), 6),
                               "rows_per_value": round(rows_per_value, 3)}  # fmt: skip
    if task != "regression" and rows_per_value >= REPEATS:
        same, chance = _same_target_share(codes, y)
        finding["same_target_share"], finding["same_target_by_chance"] = round(same, 6), round(chance, 6)
    if name == group:
        finding["suggestion"] = "it is data.group: the split and the folds keep its values together"
    elif rows_per_value >= REPEATS:
        finding["suggestion"] = (
            f"data.group: {name} (its values repeat and predict the target: rows of one {name} on both sides "
            "of the split flatter every score), or keep it dropped if the repeats are unrelated rows"
        )
    else:
        finding["suggestion"] = (
            "a leak: its values hardly repeat yet predict the target (say, ids handed out in the target's "
            "order); keep it dropped and check how it was made"
        )
    return finding


def _row_hashes(frame: pd.DataFrame) -> np.ndarray:
    return pd.util.hash_pandas_object(frame, index=False).to_numpy()


def _with(hashes: np.ndarray, values: pd.Series) -> np.ndarray:
    """Row hashes with one more column folded in (without hashing the other columns again)."""
    return hashes * np.uint64(1_000_003) ^ _row_hashes(values.to_frame())


def shared_rows(
    train_features: np.ndarray, train_rows: np.ndarray, test: pd.DataFrame, columns: list[str], target: str,
    fold: np.ndarray,
) -> dict[str, int]:  # fmt: skip
    """Exact repeats of the used columns' values: holdout rows that also occur in training (without
    and with the target), and training rows whose values occur in another fold. `train_features`
    and `train_rows` are the training rows' hashes, without and with the target (`check` has them)."""
    test_features = _row_hashes(test[columns])
    test_rows = _with(test_features, test[target])
    folds_per_value = pd.Series(fold).groupby(train_features).transform("nunique").to_numpy()
    return {
        "holdout_rows_repeated_in_training": int(pd.Series(test_features).isin(train_features).sum()),
        "holdout_rows_repeated_in_training_with_target": int(pd.Series(test_rows).isin(train_rows).sum()),
        "training_rows_repeated_across_folds": int((folds_per_value > 1).sum()),
    }


def check(
    *,
    train: pd.DataFrame,
    test: pd.DataFrame,
    cleaned_train: pd.DataFrame,
    target: str,
    task: str,
    fold: np.ndarray,
    used_columns: list[str],
    sources: dict[str, str],
    key_columns: list[str],
    group: str | None,
    leak_score: float,
    signal_skill: float,
    seed: int,
) -> dict[str, Any]:
    """The leakage report (module docstring). `train` and `test` are the raw splits;
    `cleaned_train` is the cleaner's output on `train` (`sources`: each of its columns' raw column);
    `fold` is each training row's fold; `key_columns` are the raw columns that may identify a
    subject (dropped ids, and kept columns named like one)."""
    y = train[target]
    matrix = _target_matrix(y, task)
    metric = "r2" if task == "regression" else "roc_auc"
    # Scored as cleaned (numbers parsed, a date in parts), named as the user knows them: raw names.
    # A near-perfect column shows on SCORED_ROWS rows as on all of them (the id columns, whose
    # repeats a sample would thin out, are scored on every row).
    # A row repeated exactly (its used columns and target) is scored once: its copies in the other
    # folds would hand any column's value its label, and a weak column look like a copy of the
    # target (ROC AUC 0.73 reads 0.97 with every row twice, 0.999 three times). Repeats are
    # counted on their own (`shared_rows`).
    train_features = _row_hashes(train[used_columns])
    train_rows = _with(train_features, train[target])
    rows = np.flatnonzero(~pd.Series(train_rows).duplicated().to_numpy())
    if len(rows) > SCORED_ROWS:
        rows = np.sort(np.random.default_rng(seed).choice(rows, SCORED_ROWS, replace=False))
    scores: dict[str, float] = {}
    for name in cleaned_train.columns:
        source = sources.get(name, name)
        score = column_score(cleaned_train[name].iloc[rows], matrix[rows], task, fold[rows])
        scores[source] = max(scores.get(source, 0.0), score)
    best = max(scores, key=scores.get) if scores else None
    shortcuts = {name: round(score, 6) for name, score in scores.items() if score >= leak_score}
    keys = {}
    for name in key_columns:
        finding = key_finding(name, train[name], y, matrix, task, fold, group)
        if finding["skill"] >= signal_skill:
            keys[name] = finding
    repeats = shared_rows(train_features, train_rows, test, used_columns, target, fold)
    suggestions = [f"{name}: {finding['suggestion']}" for name, finding in keys.items() if name != group]
    suggestions += [
        f"{name} alone reaches {metric} {score:.4f}: a probable copy of the target; drop it (data.drop) unless it "
        "is truly known when predicting" for name, score in shortcuts.items()
    ]  # fmt: skip
    if group is None and repeats["holdout_rows_repeated_in_training"] >= SHARED_ROWS_SUGGEST * max(len(test), 1):
        suggestions.append(
            f"{repeats['holdout_rows_repeated_in_training']} of {len(test)} holdout rows repeat a training row's "
            "values: if repeated rows are one subject measured again, name its id column in data.group; if the "
            "file holds some records twice, set clean.drop_duplicates: true"
        )
    return {
        "metric": metric,
        "leak_score": leak_score,
        "best_single_column": best,
        "best_single_column_score": round(scores[best], 6) if best else None,
        "shortcut_columns": shortcuts,
        "predictive_id_columns": keys,
        **repeats,
        "suggestions": suggestions,
    }


def check_split(
    *, train: pd.DataFrame, test: pd.DataFrame, fitted: TableCleaner, cleaned_train: pd.DataFrame, task: str,
    data: DataConfig, clean: CleanConfig, n_folds: int,
) -> dict[str, Any]:  # fmt: skip
    """The checks on a run's split, with the folds train will use (`train.folds`, grouped by
    `data.group`), on the columns the fitted cleaner uses and those it dropped as ids. With a time
    split, K-fold folds of the same count: what a column alone says of the target does not depend
    on the rows' order, and forward-chaining folds would leave the oldest rows unscored."""
    groups = train[data.group] if data.group else None
    check_folds(train[data.target], task, n_folds)
    folds = make_folds(task, n_folds, data.seed, grouped=groups is not None)
    # Class codes in sorted order split exactly as the labels do (scikit-learn encodes the classes
    # in order of first appearance either way), without its checks on a column of strings.
    labels = train[data.target] if task == "regression" else pd.Series(pd.factorize(train[data.target], sort=True)[0])
    # The candidate keys: what was dropped as an id, and kept columns named like one (a subject id
    # with a few visits each is too repetitive to look like an id, yet it is the grouping key).
    keys = [name for name, reason in fitted.dropped_.items()
            if name in data.drop or name == data.group or reason.startswith("id-like")]  # fmt: skip
    keys += [name for name in fitted.kinds_ if ID_NAME.search(name)]
    report = check(
        train=train, test=test, cleaned_train=cleaned_train, target=data.target, task=task,
        fold=fold_of_each_row(folds, labels, groups), used_columns=list(fitted.kinds_),
        sources=fitted.sources(), key_columns=keys, group=data.group, leak_score=clean.leak_score,
        signal_skill=clean.leak_signal_skill, seed=data.seed,
    )  # fmt: skip
    dates = [name for name, kind in fitted.kinds_.items() if kind == "datetime"]
    report["random_split_mixes_time"] = {name: past_and_future(train[name], test[name]) for name in dates}
    return report


def past_and_future(train: pd.Series, test: pd.Series) -> dict[str, int]:
    """A random split of dated rows: how many holdout rows are older than the newest training row,
    so that the model is scored on a past it has seen the future of."""
    # Each distinct value parsed once: a date column has far fewer days than rows.
    newest = parse_dates(pd.Series(train.dropna().unique())).max()
    counts = test.value_counts()
    parsed = parse_dates(pd.Series(counts.index)).to_numpy()
    rows = counts.to_numpy()
    dated = ~pd.isna(parsed)
    older = dated & (parsed < newest) if pd.notna(newest) else np.zeros(len(rows), dtype=bool)
    return {
        "holdout_rows": int(rows[dated].sum()),
        "holdout_rows_older_than_newest_training_row": int(rows[older].sum()),
    }


def check_table(raw: pd.DataFrame, *, data: DataConfig, clean: CleanConfig, n_folds: int) -> dict[str, Any]:
    """The checks on a table before its first run, as the clean stage will make them (its rows,
    task, split and cleaner; without the optional outlier removal), the rare classes it will drop,
    and for a binary target the class its metrics will score as positive (as the clean stage
    records it in the contract)."""
    rows, _ = clean_rows(raw, data.target, data.task, clean.missing_markers, clean.drop_duplicates)
    rows, task, _, classes_dropped = task_and_classes(rows, data=data, clean=clean, n_folds=n_folds)
    train, test = split_rows(rows, data.target, task, data.test_size, data.seed, data.group, time_column_of(rows, data))
    fitted = cleaner_recipe(data, clean).fit(train.drop(columns=[data.target]))
    report = check_split(
        train=train, test=test, fitted=fitted, cleaned_train=fitted.transform(train), task=task, data=data,
        clean=clean, n_folds=n_folds,
    )  # fmt: skip
    classes = pd.Series(sorted(rows[data.target].unique())).to_numpy()
    positive = str(positive_class(classes, data.positive_label)) if task == "binary" else None
    return {**report, "classes_dropped": classes_dropped, "positive": positive}


def summary(report: dict[str, Any]) -> str:
    """The clean stage's lines about leakage: what was found, or that nothing was."""
    metric = report["metric"]
    best = report["best_single_column"]
    lines = [
        "  leakage checks (reports/leakage.json): "
        + (f"best single column {best} ({metric} {report['best_single_column_score']:.4f} alone); " if best else "")
        + f"holdout rows repeating a training row: {report['holdout_rows_repeated_in_training']} "
        f"({report['holdout_rows_repeated_in_training_with_target']} with the target too); "
        f"training rows repeated across folds: {report['training_rows_repeated_across_folds']}"
    ]
    for name, finding in report["predictive_id_columns"].items():
        lines.append(f"  id-like column {name} alone predicts the target: {metric} {finding['score']:.4f}")
    for name, counts in report["random_split_mixes_time"].items():
        older, dated = counts["holdout_rows_older_than_newest_training_row"], counts["holdout_rows"]
        if older:
            lines.append(f"  {name}: {older} of {dated} dated holdout rows are older than the newest training row "
                         "(a random split mixes past and future; data.split: time holds out the latest "
                         "rows)")  # fmt: skip
    lines += [f"  suggestion: {text}" for text in report["suggestions"]]
    return "\n".join(lines)
