"""Does tuning earn its place? autotab (leaderboard, then a 60-second search of the best families,
then a greedy ensemble, each step taken over the linear anchor only when it clearly pays) against
an untuned HistGradientBoosting pipeline and a logistic / ridge pipeline, on the same split and
features, for six tables. Scored on the held-out rows of each of
five stratified train/holdout splits (seeds), the same splits for all three.

Writes bench/results/quality.md (and prints it). Each row is one run on this machine; the budget
is wall-clock, so trial counts (and results) vary with the machine.

    OMP_NUM_THREADS=1 .venv/bin/python bench/quality.py [--budget 60] [--splits 5] [--tables wine diabetes]

One OpenMP thread: on a machine shared with other jobs, HistGradientBoosting's spinning OpenMP
threads slow to a crawl (minutes for a sub-second fit) whenever another job holds a core.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np
from leaderboard import tables
from sklearn.exceptions import ConvergenceWarning

from autotab.config import load_config
from autotab.data.row_cleaning import clean_rows, infer_task
from autotab.data.splits import make_folds, split_rows
from autotab.estimators.table_cleaner import TableCleaner
from autotab.metrics import classification_metrics, maximisable, positive_class, primary_metric, regression_metrics
from autotab.modeling import leaderboard
from autotab.modeling.features import build_preprocessor
from autotab.modeling.search import LINEAR, Problem, search
from autotab.modeling.training import split_xy, whole_pipeline
from autotab.modeling.tuning import params_of
from autotab.modeling.zoo import build_estimator, supports

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "quality.md"
SPLITS = ROOT / "bench" / "results" / "quality_splits.jsonl"  # every split's figures, behind the table


def holdout(model, X, y, task, metric, positive) -> float:
    if task == "regression":
        return regression_metrics(y, model.predict(X))[metric]
    return classification_metrics(y, model.predict_proba(X), model.classes_, positive)[metric]


def timed(action):
    start = time.perf_counter()
    result = action()
    return result, time.perf_counter() - start


def compare(name, raw, target, drop, config, tune, seed) -> dict:
    """One split: holdout scores of autotab, the two baselines, and (for the record) autotab's
    parts: the leaderboard's best defaults and the best tuned trial."""
    rows, _ = clean_rows(raw, target, "auto", config.clean.missing_markers, True)
    task, _ = infer_task(rows[target], "auto", config.clean.max_classes)
    train, test = split_rows(rows, target, task, 0.2, seed)
    X, y = split_xy(train, target)
    X_test, y_test = split_xy(test, target)
    metric = primary_metric(task, "auto")
    positive = positive_class(np.array(sorted(y.unique())), None) if task == "binary" else None
    cleaner = TableCleaner(drop=tuple(drop), missing_markers=tuple(config.clean.missing_markers))
    preprocessor = build_preprocessor(cleaner, config.features, task, seed)
    folds = make_folds(task, config.train.folds, seed)

    settings = config.features.model_dump()
    problem = Problem(X, y, task, metric, folds, preprocessor, seed, positive=positive, feature_settings=settings)

    def score(model) -> float:
        return holdout(model.fit(X, y), X_test, y_test, task, metric, positive)

    result = {"task": task, "metric": metric}
    # The linear baseline is the search's anchor, by design: the model autotab falls back to.
    for label, family in (("hgb", "hist_gradient_boosting"), ("linear", LINEAR[task])):
        pipeline = whole_pipeline(preprocessor, build_estimator(config.zoo[family], task, seed))
        result[label], result[f"{label}_s"] = timed(lambda p=pipeline: score(p))

    def autotab():
        candidates = {
            f: build_estimator(config.zoo[f], task, seed) for f in config.train.candidates if supports(f, task)
        }
        board, results = leaderboard.rank(candidates, preprocessor, X, y, task, folds, metric, positive=positive)
        board = board[board["status"] == "ok"].reset_index(drop=True)
        oof = leaderboard.oof_frame(results, y)
        families = {f: config.zoo[f] for f in board["model"][: tune.top_families]}
        outcome = search(
            problem, families, config.zoo.__getitem__, board, oof, tune, f"bench-{name}",
            feature_defaults=config.features.model_dump(),
        )  # fmt: skip
        return outcome.model.fit(X, y), outcome, board

    (model, outcome, board), result["autotab_s"] = timed(autotab)
    result["autotab"] = holdout(model, X_test, y_test, task, metric, positive)
    result["trials"] = outcome.summary["n_trials"]
    result["chosen"] = "ensemble" if len(outcome.weights) > 1 else f"{outcome.single} ({outcome.source})"
    family, params, features = params_of(outcome.study.best_trial)
    result["defaults_best"] = score(problem.pipeline(config.zoo[board["model"][0]], {}, {}))
    result["tuned_best"] = score(problem.pipeline(config.zoo[family], params, features))
    result["summary"] = outcome.summary
    return result


def mean(results: list[dict], key: str) -> float:
    return float(np.mean([r[key] for r in results]))


def row(name: str, results: list[dict]) -> str:
    metric = results[0]["metric"]

    def worse(a: str, b: str) -> int:
        return sum(maximisable(r[a], metric) < maximisable(r[b], metric) for r in results)

    losses = [
        label for label in ("hgb", "linear")
        if maximisable(mean(results, "autotab"), metric) < maximisable(mean(results, label), metric)
    ]  # fmt: skip

    def edge(label: str) -> str:
        """autotab's mean edge over a baseline (larger is better) ± its standard error over the splits:
        how far a win or a loss stands out of the split-to-split noise."""
        gains = [maximisable(r["autotab"], metric) - maximisable(r[label], metric) for r in results]
        se = np.std(gains, ddof=1) / np.sqrt(len(gains)) if len(gains) > 1 else 0.0
        return f"{np.mean(gains):+.4f} ± {se:.4f}"

    chosen = ", ".join(sorted({r["chosen"].split(" ")[0] for r in results}))
    cells = [
        name, results[0]["task"], metric,
        f"{mean(results, 'autotab'):.4f} ({mean(results, 'autotab_s'):.0f} s, "
        f"{mean(results, 'trials'):.0f} trials; {chosen})",
        f"{mean(results, 'hgb'):.4f}", f"{mean(results, 'linear'):.4f}",
        ", ".join(losses) or "none",
        f"{worse('autotab', 'hgb')}/{worse('autotab', 'linear')} of {len(results)}",
        f"{edge('hgb')} / {edge('linear')}",
    ]  # fmt: skip
    return "| " + " | ".join(cells) + " |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=float, default=60.0, help="seconds of search per table and split")
    parser.add_argument("--splits", type=int, default=5, help="train/holdout splits per table (seeds)")
    parser.add_argument("--tables", nargs="+")
    args = parser.parse_args()
    warnings.filterwarnings("ignore", category=ConvergenceWarning)
    config = load_config(ROOT / "params.yaml")
    tune = config.tune.model_copy(update={"n_trials": 100_000, "timeout_s": args.budget, "storage": None})
    lines = [
        f"| table | task | metric | autotab ({args.budget:.0f} s search) | untuned HGB | logistic / ridge "
        f"| autotab loses to (mean of {args.splits} splits) | splits lost to HGB / linear "
        "| autotab's edge over HGB / linear (± SE) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    per_split = []
    for name, (raw, target, drop) in tables().items():
        if args.tables and name not in args.tables:
            continue
        results = []
        for split in range(args.splits):
            result = compare(name, raw, target, drop, config, tune, config.data.seed + split)
            per_split.append(json.dumps({"table": name, "split": split, **result}, default=str))
            print(f"  {per_split[-1]}", file=sys.stderr, flush=True)
            results.append(result)
        lines.append(row(name, results))
        print(lines[-1], flush=True)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text("\n".join(lines) + "\n")
    SPLITS.write_text("\n".join(per_split) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
