"""The train stage's leaderboard on five tables: scikit-learn's bundled breast cancer, wine and
diabetes data, and the two built-in raw tables, each through the same clean -> features -> CV path.

Prints each family's CV primary metric (mean ± std over 5 folds) and its fit time relative to the
fastest family on the same table (times are noisy; ratios within one run are not).

    .venv/bin/python bench/leaderboard.py [--families knn random_forest ...]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd
from sklearn import datasets

from autotab.config import load_config
from autotab.data.row_cleaning import clean_rows, infer_task
from autotab.data.splits import make_folds, split_rows
from autotab.estimators.table_cleaner import TableCleaner
from autotab.metrics import positive_class, primary_metric
from autotab.modeling import leaderboard
from autotab.modeling.features import build_preprocessor
from autotab.modeling.training import split_xy
from autotab.modeling.zoo import build_estimator, supports
from autotab.tables import read_table

ROOT = Path(__file__).resolve().parents[1]


def bundled(loader) -> tuple[pd.DataFrame, str]:
    frame = loader(as_frame=True).frame
    return frame, "target"


def tables() -> dict[str, tuple[pd.DataFrame, str, list[str]]]:
    return {
        "breast_cancer": (*bundled(datasets.load_breast_cancer), []),
        "wine": (*bundled(datasets.load_wine), []),
        "digits": (*bundled(datasets.load_digits), []),
        "diabetes": (*bundled(datasets.load_diabetes), []),
        "breast_biopsy": (read_table(ROOT / "data/raw/breast_biopsy.csv"), "diagnosis", ["sample_id"]),
        "penguins": (read_table(ROOT / "data/raw/penguins_raw.csv"), "Species", ["Sample Number"]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--families", nargs="+", help="default: train.candidates in params.yaml")
    args = parser.parse_args()
    config = load_config(ROOT / "params.yaml")
    families = args.families or config.train.candidates
    seed = config.data.seed

    for name, (raw, target, drop) in tables().items():
        rows, _ = clean_rows(raw, target, "auto", config.clean.missing_markers, True)
        task, _ = infer_task(rows[target], "auto", config.clean.max_classes)
        train, _ = split_rows(rows, target, task, 0.2, seed)
        X, y = split_xy(train, target)
        cleaner = TableCleaner(drop=tuple(drop), missing_markers=tuple(config.clean.missing_markers))
        preprocessor = build_preprocessor(cleaner, config.features, task, seed)
        metric = primary_metric(task, "auto")
        positive = positive_class(pd.Series(sorted(y.unique())).to_numpy(), None) if task == "binary" else None
        candidates = {f: build_estimator(config.zoo[f], task, seed) for f in families if supports(f, task)}
        table, results = leaderboard.rank(
            candidates, preprocessor, X, y, task, make_folds(task, 5, seed), metric, positive=positive
        )
        fastest = min(r.fit_seconds for r in results.values())
        print(f"\n{name}: {len(X)} training rows, {task}, primary metric {metric}")
        print(f"  {'family':<24}{metric + ' mean ± std':>22}{'fit time':>12}")
        for row in table.itertuples(index=False):
            result = results.get(row.model)
            if result is None:
                print(f"  {row.model:<24}{'failed: ' + row.error}")
                continue
            score = f"{getattr(row, metric + '_mean'):.4f} ± {getattr(row, metric + '_std'):.4f}"
            print(f"  {row.model:<24}{score:>22}{result.fit_seconds / fastest:>11.1f}x")


if __name__ == "__main__":
    main()
