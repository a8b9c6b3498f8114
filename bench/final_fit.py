"""Does the served model gain from the holdout rows (the refit stage, `package.fit_rows: all`)?

For each table of the peer benchmark, the recipe autotab chose there (its `models/model.joblib`) is
fitted as the evaluated model is, on a seeded stratified 80% subset of the benchmark's training rows
(autotab's training split is 80% of what it is given), and refit from it as the refit stage does
(`autotab.modeling.final_fit.refit_on_all_rows`: the subset's cleaner kept, the rest fitted on all
of the benchmark's training rows). Both are scored on the benchmark's held-out rows, which neither
saw, for five subsets: the mean paired gain is what the refit stage is worth on that table, averaged
over which fifth was held out.

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
from autotab.modeling.final_fit import refit_on_all_rows
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
        evaluated, served = [], []
        for seed in range(SUBSETS):
            kept, _ = train_test_split(np.arange(len(y)), test_size=0.2, random_state=seed, stratify=strata)
            model = clone(recipe).fit(X.iloc[kept], y.iloc[kept])
            evaluated.append(held_out_score(model, split=split, contract=contract, folder=folder))
            refit = refit_on_all_rows(model, X, y)
            served.append(held_out_score(refit, split=split, contract=contract, folder=folder))
    metric = METRICS[table.task]
    sign = 1 if metric == "roc_auc" else -1  # +: the served model is better
    gains = sign * (np.array(served) - np.array(evaluated))
    chosen = json.loads((repo / "reports" / "tuning" / "best_params.json").read_text())["model"]
    return {"table": name, "metric": metric, "model": chosen, "rows": len(y), "evaluated": evaluated,
            "served": served, "gain": gains.mean(), "gain_se": gains.std(ddof=1) / np.sqrt(SUBSETS),
            "relative_gain": gains.mean() / abs(np.mean(evaluated))}  # fmt: skip


def report(results: list[dict], *, mode: str) -> str:
    lines = [
        "# The served model refit on the holdout rows too, against the evaluated model",
        "",
        f"Written by `bench/final_fit.py` (autotab's {mode}-mode choices from `bench/peers.py`). Per table and "
        f"each of {SUBSETS} seeded 80% subsets of the benchmark's training rows: the chosen recipe fitted on the "
        "subset (evaluated), and refit from it on all the rows as the refit stage does (served); both scored on "
        "the benchmark's held-out rows. Gain: served minus evaluated, + is better (ROC AUC up, log loss or RMSE "
        "down), mean ± standard error over the subsets.",
        "",
        "| table | metric | model | rows | evaluated (mean) | served (mean) | gain ± SE | relative |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        lines.append(
            f"| {r['table']} | {r['metric']} | {r['model']} | {r['rows']:,} | {np.mean(r['evaluated']):.4f} | "
            f"{np.mean(r['served']):.4f} | {r['gain']:+.4f} ± {r['gain_se']:.4f} | {r['relative_gain']:+.1%} |"
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
