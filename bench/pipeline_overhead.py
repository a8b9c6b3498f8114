"""What does carrying the cleaning inside the served Pipeline cost?

Baseline: the model alone on a table cleaned and encoded once beforehand. Measured: the whole
Pipeline (TableCleaner -> ColumnGroups -> model) on raw rows, which is what cross-validation
fits in every fold and what the service runs. Same data, same process; ratios, not seconds.
"predict 1 row, each row once" sends every row of the table through a freshly fitted Pipeline one
at a time, as a stream of single-record requests would (the cleaner meets each text value for the
first time once, then remembers what it made of it): medians of the per-row times.

    .venv/bin/python bench/pipeline_overhead.py [--repeat 5] [--data penguins]
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import pandas as pd
import yaml
from sklearn.base import clone
from sklearn.ensemble import HistGradientBoostingClassifier

from autotab.config import load_config
from autotab.estimators.table_cleaner import TableCleaner
from autotab.modeling.features import build_preprocessor
from autotab.modeling.training import whole_pipeline

ROOT = Path(__file__).resolve().parents[1]


def best_of(repeat: int, action) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--data", default=None, help="a conf/data/ name (default: the one in params.yaml)")
    args = parser.parse_args()

    config = load_config(ROOT / "params.yaml")
    data = config.data.model_dump()
    if args.data:
        data |= yaml.safe_load((ROOT / "conf" / "data" / f"{args.data}.yaml").read_text())
    raw = pd.read_csv(ROOT / data["path"])
    raw = raw[raw[data["target"]].notna()]
    X, y = raw.drop(columns=[data["target"]]), raw[data["target"]]
    cleaner = TableCleaner(drop=tuple(data["drop"]), missing_markers=tuple(config.clean.missing_markers))
    task = "binary" if y.nunique() == 2 else "multiclass"
    preprocessor = build_preprocessor(cleaner, config.features, task, data["seed"])
    model = HistGradientBoostingClassifier(max_iter=100, early_stopping=False, random_state=0)
    encoded = clone(preprocessor).fit_transform(X, y)
    pipeline = whole_pipeline(preprocessor, model).fit(X, y)
    bare = clone(model).fit(encoded, y)
    one_raw, one_encoded = X.iloc[:1], encoded[:1]
    batch_raw = pd.concat([X] * 2).iloc[:1000]
    batch_encoded = clone(preprocessor).fit(X, y).transform(batch_raw)

    rows = [
        ("fit", lambda: clone(model).fit(encoded, y), lambda: clone(pipeline).fit(X, y)),
        ("predict 1 row", lambda: bare.predict_proba(one_encoded), lambda: pipeline.predict_proba(one_raw)),
        (
            "predict 1000 rows",
            lambda: bare.predict_proba(batch_encoded),
            lambda: pipeline.predict_proba(batch_raw),
        ),
    ]
    print(f"{data['name']}: {len(X)} rows x {X.shape[1]} raw columns, best of {args.repeat}")
    print(f"{'':<30}{'model alone':>14}{'whole Pipeline':>16}{'ratio':>8}")
    for name, baseline, measured in rows:
        base, full = best_of(args.repeat, baseline), best_of(args.repeat, measured)
        print(f"{name:<30}{base * 1e3:>11.2f} ms{full * 1e3:>13.2f} ms{full / base:>7.1f}x")
    fresh = clone(pipeline).fit(X, y)
    base = median_per_row(lambda i: bare.predict_proba(encoded[i : i + 1]), len(X))
    full = median_per_row(lambda i: fresh.predict_proba(X.iloc[i : i + 1]), len(X))
    print(f"{'predict 1 row, each row once':<30}{base * 1e3:>11.2f} ms{full * 1e3:>13.2f} ms{full / base:>7.1f}x")


def median_per_row(predict_row, n_rows: int) -> float:
    times = []
    for i in range(n_rows):
        start = time.perf_counter()
        predict_row(i)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


if __name__ == "__main__":
    main()
