"""Do the boosting families do better with the libraries' own categorical handling than with one-hot
columns? Each family's defaults, 5-fold cross-validated on the train split of a few tables, twice:
the configured features (one-hot categories), and ordinal codes that the library is told are
categorical (LightGBM `categorical_feature`, XGBoost `feature_types="c"`, CatBoost `cat_features`).

Prints the primary metric (mean ± std over folds) and the fit time per fold for each.

    OMP_NUM_THREADS=1 .venv/bin/python bench/native_categorical.py \
        --tables ../shared/datasets/bench/tables.json --names german_credit ibm_attrition
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd

from autotab.config import load_config
from autotab.data.row_cleaning import clean_rows, infer_task
from autotab.data.splits import make_folds, split_rows
from autotab.estimators.table_cleaner import TableCleaner
from autotab.metrics import positive_class, primary_metric
from autotab.modeling import leaderboard
from autotab.modeling.features import build_preprocessor
from autotab.modeling.training import split_xy
from autotab.modeling.zoo import build_estimator
from autotab.tables import read_table

ROOT = Path(__file__).resolve().parents[1]
FAMILIES = ("lightgbm", "xgboost", "catboost")


class NativeCategories:
    """Mixed into a boosting estimator: the last `n_categorical` columns are ordinal codes (-1:
    unknown or missing) that the library handles as categories."""

    n_categorical = 0

    def _fit_library(self, model, X, y, weight, validation):
        columns = list(range(X.shape[1] - self.n_categorical, X.shape[1]))
        library = type(model).__module__.split(".")[0]
        if library == "lightgbm":
            model.set_params(max_cat_to_onehot=4)
            fit = type(model).fit
            model.fit = lambda *a, **k: fit(model, *a, categorical_feature=columns, **k)  # not a params key
            return super()._fit_library(model, X, y, weight, validation)
        if library == "xgboost":
            model.set_params(
                enable_categorical=True,
                feature_types=["q"] * (X.shape[1] - len(columns)) + ["c"] * len(columns),
                max_cat_to_onehot=4,
            )
            X = np.where(X < 0, np.nan, X)
            if validation is not None:
                validation = (np.where(validation[0] < 0, np.nan, validation[0]), *validation[1:])
            return super()._fit_library(model, X, y, weight, validation)
        model.set_params(cat_features=columns)
        frame = self._catboost_frame(X, columns)
        if validation is not None:
            validation = (self._catboost_frame(validation[0], columns), *validation[1:])
        return super()._fit_library(model, frame, y, weight, validation)

    @staticmethod
    def _catboost_frame(X, columns):
        frame = pd.DataFrame(X)
        for column in columns:
            frame[column] = frame[column].astype(np.int64)
        return frame

    def _features(self, X):
        X = super()._features(X)
        library = type(self.model_).__module__.split(".")[0]
        columns = list(range(X.shape[1] - self.n_categorical, X.shape[1]))
        if library == "xgboost":
            return np.where(X < 0, np.nan, X)
        if library == "catboost":
            return self._catboost_frame(X, columns)
        return X


def native(estimator, n_categorical: int):
    cls = type(f"Native{type(estimator).__name__}", (NativeCategories, type(estimator)), {})
    model = cls(**estimator.get_params())
    model.n_categorical = n_categorical
    return model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tables", type=Path, required=True, help="tables.json: file, target, task per table")
    parser.add_argument("--names", nargs="+", required=True)
    parser.add_argument("--families", nargs="+", default=list(FAMILIES))
    args = parser.parse_args()
    config = load_config(ROOT / "params.yaml")
    seed = config.data.seed
    listing = json.loads(args.tables.read_text())
    for name in args.names:
        entry = listing[name]
        raw = read_table(args.tables.parent / entry["file"])
        target = entry["target"]
        rows, _ = clean_rows(raw, target, "auto", config.clean.missing_markers, True)
        task, _ = infer_task(rows[target], entry["task"], config.clean.max_classes)
        train, _ = split_rows(rows, target, task, 0.2, seed)
        X, y = split_xy(train, target)
        cleaner = TableCleaner(missing_markers=tuple(config.clean.missing_markers))
        onehot = build_preprocessor(cleaner, config.features, task, seed)
        ordinal_features = config.features.model_copy(update={"categorical_encoder": "ordinal", "scaler": "none"})
        ordinal = build_preprocessor(cleaner, ordinal_features, task, seed)
        names = ordinal.fit(X, y).get_feature_names_out()
        n_categorical = sum(str(n).startswith("categorical__") for n in names)
        width = len(onehot.fit(X, y).get_feature_names_out())
        metric = primary_metric(task, "auto")
        positive = str(entry["positive"]) if task == "binary" and entry["positive"] is not None else None
        positive = positive or (positive_class(np.sort(y.unique()), None) if task == "binary" else None)
        print(f"\n{name}: {len(X)} rows, {task}, {metric}; one-hot {width} columns, "
              f"ordinal {len(names)} ({n_categorical} categorical)")  # fmt: skip
        for family in args.families:
            base = build_estimator(config.zoo[family], task, seed)
            for label, recipe, model in (
                ("one-hot", onehot, base),
                ("native", ordinal, native(base, n_categorical)),
            ):
                start = time.perf_counter()
                table, _ = leaderboard.rank(
                    {family: model}, recipe, X, y, task, make_folds(task, 5, seed), metric, positive=positive
                )
                seconds = (time.perf_counter() - start) / 5
                row = table.iloc[0]
                if row["status"] != "ok":
                    print(f"  {family:<10}{label:<9} failed: {row['error']}")
                    continue
                print(f"  {family:<10}{label:<9}{row[metric + '_mean']:.4f} ± {row[metric + '_std']:.4f}"
                      f"   log_loss {row.get('log_loss_mean', float('nan')):.4f}   {seconds:5.2f} s/fold")  # fmt: skip


if __name__ == "__main__":
    main()
