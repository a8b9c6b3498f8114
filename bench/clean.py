"""How the clean step grows with the table: 10k, 100k and 1M synthetic messy rows.

Each size runs in a fresh process (so its peak memory is its own): read the CSV as ingest does,
drop rows (missing targets, duplicates), split, fit the TableCleaner on the training rows, clean
every row and build the column report. Prints seconds, peak RSS, and the growth ratios between
sizes (10x more rows should cost about 10x the time if cleaning is linear). Then the clean stage's
leakage checks on the same split, timed apart, as a share of the cleaning's time (goal: 10%).

    .venv/bin/python bench/clean.py [--sizes 10000 100000 1000000]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

MARKERS = ["", "?", "NA", "N/A", "null", "None", "-"]


def messy_table(n_rows: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    amount = rng.lognormal(8, 1.5, n_rows).round(2)
    amount_text = np.where(amount > 1000, [f"{a:,.2f}" for a in amount], amount.astype(str))
    amount_text[rng.random(n_rows) < 0.03] = "N/A"
    colour = rng.choice(["Red", "red ", "BLUE", "Green", "green", "NA"], n_rows)
    days = rng.integers(0, 3650, n_rows)
    dates = (np.datetime64("2015-01-01") + days).astype(str)
    label = np.where(rng.random(n_rows) < 0.4, "yes", "no").astype(object)
    label[rng.random(n_rows) < 0.01] = None
    return pd.DataFrame(
        {
            "Customer ID": [f"C{i:08d}" for i in range(n_rows)],
            "Amount ($)": amount_text,
            "Age": np.where(rng.random(n_rows) < 0.05, np.nan, rng.integers(18, 90, n_rows)),
            "Colour": colour,
            "Member?": rng.choice(["Yes", "no", "TRUE", "false", "?"], n_rows),
            "Signup date": dates,
            "Region": "EU",
            "Notes": rng.choice(["called twice about the invoice", "no answer on the phone", "NA"], n_rows),
            "Churned": label,
        }
    )


def measure(path: Path) -> dict:
    from sklearn.model_selection import train_test_split

    from autotab.config import CleanConfig, DataConfig
    from autotab.data import leakage
    from autotab.data.row_cleaning import clean_rows, column_report
    from autotab.estimators.table_cleaner import TableCleaner
    from autotab.tables import read_table

    start = time.perf_counter()
    raw = read_table(path)
    read_s = time.perf_counter() - start
    rows, _ = clean_rows(raw, "Churned", "auto", MARKERS, drop_duplicates=True)
    train, test = train_test_split(rows, test_size=0.2, random_state=0, stratify=rows["Churned"])
    train, test = train.reset_index(drop=True), test.reset_index(drop=True)
    X = train.drop(columns=["Churned"])
    cleaner = TableCleaner(missing_markers=tuple(MARKERS), numeric_min_share=0.95).fit(X)
    cleaner.transform(rows.drop(columns=["Churned"]))
    column_report(cleaner, rows.drop(columns=["Churned"]))
    total_s = time.perf_counter() - start
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    # The clean stage's leakage checks on the same split (the cleaned training rows are the ones
    # the stage has already made for the contract, so they are not part of the checks' time).
    cleaned_train = cleaner.transform(train)
    settings = yaml.safe_load((Path(__file__).resolve().parents[1] / "conf/clean/default.yaml").read_text())
    data = DataConfig(name="messy", path="messy.csv", target="Churned", test_size=0.2, seed=0)
    start = time.perf_counter()
    leakage.check_split(
        train=train, test=test, fitted=cleaner, cleaned_train=cleaned_train, task="binary", data=data,
        clean=CleanConfig(**settings), n_folds=5,
    )  # fmt: skip
    return {
        "rows": len(raw),
        "read_s": read_s,
        "clean_s": total_s - read_s,
        "total_s": total_s,
        "leakage_s": time.perf_counter() - start,
        "peak_mb": peak_mb,
        "dropped": cleaner.dropped_,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--measure", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure)))
        return

    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for size in args.sizes:
            path = Path(tmp) / f"messy_{size}.csv"
            messy_table(size).to_csv(path, index=False)
            out = subprocess.run(
                [sys.executable, __file__, "--measure", str(path)], capture_output=True, text=True, check=True
            )
            results.append(json.loads(out.stdout.strip().splitlines()[-1]))
    print(
        f"{'rows':>10} {'read s':>8} {'clean s':>8} {'total s':>8} {'peak MB':>8} {'time x':>7} {'rows x':>7} "
        f"{'leakage s':>10} {'/ clean':>8}"
    )
    for previous, result in zip([None, *results[:-1]], results, strict=True):
        growth = rows_growth = ""
        if previous:
            growth = f"{result['total_s'] / previous['total_s']:.1f}"
            rows_growth = f"{result['rows'] / previous['rows']:.0f}"
        print(
            f"{result['rows']:>10} {result['read_s']:>8.2f} {result['clean_s']:>8.2f} "
            f"{result['total_s']:>8.2f} {result['peak_mb']:>8.0f} {growth:>7} {rows_growth:>7} "
            f"{result['leakage_s']:>10.2f} {result['leakage_s'] / result['clean_s']:>8.1%}"
        )
    print("columns dropped:", results[-1]["dropped"])


if __name__ == "__main__":
    main()
