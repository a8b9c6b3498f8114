"""Does the served model gain from the holdout rows (the refit stage, `package.fit_rows: all`)?

For each table of the peer benchmark, the recipe autotab chose there (its `models/model.joblib`) is
fitted on all of the benchmark's training rows (autotab's training and holdout splits together, what
the refit stage does), and on five seeded stratified 80% subsets of them (what the evaluated model
had: a training split of 80%), and each is scored on the benchmark's held-out rows, which no fit saw.
The gain of the full fit over the subsets' mean is what the refit stage is worth on that table,
averaged over which fifth was held out.

Reads the scratch runs of `bench/peers.py` (run it first, for the same tables and mode) and, through
it, ../shared/datasets/bench: a benchmark script's dependency, not the project's.

    .venv/bin/python bench/final_fit.py --mode budget --tables german_credit ibm_attrition
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
from peers import METRICS, SCRATCH, SHARED, autotab_predictions, load_tables, make_split, primary_score
from sklearn.base import clone
from sklearn.model_selection import train_test_split

from autotab.data.contract import DataContract
from autotab.modeling.training import split_xy
from autotab.serving.batch_predict import predict_file

RESULTS = Path(__file__).resolve().parent / "results" / "final_fit.md"
SUBSETS = 5


def held_out_score(model, *, split, contract: DataContract, folder: Path) -> float:
    """The model's score on the benchmark's held-out rows, read and scored as `bench/peers.py` does."""
    predict_file(split.test, folder / "predictions.csv", folder / "rejected.csv", model, contract, None)
    predictions, _ = autotab_predictions(repo=folder, split=split)
    return primary_score(split=split, predictions=predictions)


def measure(name: str, *, mode: str, shared: Path) -> dict:
    table = load_tables(shared=shared)[name]
    repo = SCRATCH / name / f"autotab-{mode}" / "repo"
    contract = DataContract.read(repo / "contracts" / f"bench_{name}.json")
    recipe = joblib.load(repo / "models" / "model.joblib")
    rows = pd.concat([pd.read_parquet(repo / "data" / "clean" / f"{part}.parquet") for part in ("train", "test")])
    X, y = split_xy(rows.reset_index(drop=True), contract.target)
    strata = y if contract.task != "regression" else pd.qcut(y.astype(float), 10, labels=False, duplicates="drop")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        split = make_split(table=table, folder=folder / "split")
        full = held_out_score(clone(recipe).fit(X, y), split=split, contract=contract, folder=folder)
        subsets = []
        for seed in range(SUBSETS):
            kept, _ = train_test_split(np.arange(len(y)), test_size=0.2, random_state=seed, stratify=strata)
            model = clone(recipe).fit(X.iloc[kept], y.iloc[kept])
            subsets.append(held_out_score(model, split=split, contract=contract, folder=folder))
    metric = METRICS[table.task]
    sign = 1 if metric == "roc_auc" else -1  # +: the full fit is better
    gain = sign * (full - np.mean(subsets))
    chosen = json.loads((repo / "reports" / "tuning" / "best_params.json").read_text())["model"]
    return {"table": name, "metric": metric, "model": chosen,
            "rows": len(y), "all_rows": full, "subsets": subsets, "gain": gain,
            "relative_gain": gain / abs(np.mean(subsets)), "subsets_spread": float(np.std(subsets))}  # fmt: skip


def report(results: list[dict], *, mode: str) -> str:
    lines = [
        "# The served model refit on the holdout rows too, against the evaluated model's 80%",
        "",
        f"Written by `bench/final_fit.py` (autotab's {mode}-mode choices from `bench/peers.py`). Per table: the chosen "
        f"recipe fitted on all of the benchmark's training rows, against the mean of {SUBSETS} seeded 80% subsets; "
        "scored on the benchmark's held-out rows. Gain: + is better (ROC AUC up, log loss or RMSE down).",
        "",
        "| table | metric | model | rows | all rows | 80% subsets (mean ± sd) | gain | relative |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        lines.append(
            f"| {r['table']} | {r['metric']} | {r['model']} | {r['rows']:,} | {r['all_rows']:.4f} | "
            f"{np.mean(r['subsets']):.4f} ± {r['subsets_spread']:.4f} | {r['gain']:+.4f} | {r['relative_gain']:+.1%} |"
        )
    better = sum(r["relative_gain"] > 0.001 for r in results)
    worse = sum(r["relative_gain"] < -0.001 for r in results)
    lines += ["", f"Better on {better}, worse on {worse}, the same (within 0.1%) on {len(results) - better - worse}."]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tables", nargs="+", required=True)
    parser.add_argument("--mode", choices=("budget", "default"), default="budget")
    parser.add_argument("--shared", type=Path, default=SHARED)
    args = parser.parse_args()
    results = []
    for name in args.tables:
        results.append(measure(name, mode=args.mode, shared=args.shared))
        print(json.dumps(results[-1]), flush=True)
    RESULTS.write_text(report(results, mode=args.mode))
    print(f"-> {RESULTS}")


if __name__ == "__main__":
    main()
