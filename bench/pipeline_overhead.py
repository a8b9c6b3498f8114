"""What does carrying the cleaning inside the served Pipeline cost?

Baseline: the model alone on a table cleaned and encoded once beforehand. Measured: the whole
Pipeline (TableCleaner -> ColumnTransformer -> model) on raw rows, which is what cross-validation
fits in every fold and what the service runs. Same data, same process; ratios, not seconds.

    .venv/bin/python bench/pipeline_overhead.py [--repeat 5]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import pandas as pd
from sklearn.base import clone
from sklearn.ensemble import HistGradientBoostingClassifier

from autotab.cleaner import TableCleaner
from autotab.config import load_config
from autotab.features import build_preprocessor
from autotab.training import whole_pipeline

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
    args = parser.parse_args()

    config = load_config(ROOT / "params.yaml")
    raw = pd.read_csv(ROOT / config.data.path)
    raw = raw[raw[config.data.target].notna()]
    X, y = raw.drop(columns=[config.data.target]), raw[config.data.target]
    cleaner = TableCleaner(drop=tuple(config.data.drop), missing_markers=tuple(config.clean.missing_markers))
    preprocessor = build_preprocessor(cleaner, config.features, "binary", config.data.seed)
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
    print(f"{len(X)} rows x {X.shape[1]} raw columns, best of {args.repeat}")
    print(f"{'':<20}{'model alone':>14}{'whole Pipeline':>16}{'ratio':>8}")
    for name, baseline, measured in rows:
        base, full = best_of(args.repeat, baseline), best_of(args.repeat, measured)
        print(f"{name:<20}{base * 1e3:>11.2f} ms{full * 1e3:>13.2f} ms{full / base:>7.1f}x")


if __name__ == "__main__":
    main()
