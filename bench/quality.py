"""Does tuning earn its place? autotab (leaderboard, then a 60-second search of the best families,
then a greedy ensemble) against an untuned HistGradientBoosting pipeline and a logistic / ridge
pipeline, on the same split and features, for five tables. Scored on the held-out rows.

Writes bench/results/quality.md (and prints it). Each row is one run on this machine; the budget
is wall-clock, so trial counts (and results) vary with the machine.

    .venv/bin/python bench/quality.py [--budget 60] [--tables wine diabetes]
"""

from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path

import numpy as np
from leaderboard import tables
from sklearn.exceptions import ConvergenceWarning

from autotab import leaderboard
from autotab.cleaner import TableCleaner
from autotab.cleaning import clean_rows, infer_task, split_rows
from autotab.config import FeaturesConfig, load_config
from autotab.evaluation import classification_metrics, positive_class, regression_metrics
from autotab.features import build_preprocessor
from autotab.models import build_estimator, supports
from autotab.search import Problem, search
from autotab.training import make_folds, maximisable, primary_metric, split_xy, whole_pipeline

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "quality.md"


def holdout(model, X, y, task, metric, positive) -> float:
    if task == "regression":
        return regression_metrics(y, model.predict(X))[metric]
    return classification_metrics(y, model.predict_proba(X), model.classes_, positive)[metric]


def timed(action):
    start = time.perf_counter()
    result = action()
    return result, time.perf_counter() - start


def compare(name, raw, target, drop, config, tune, seed) -> str:
    rows, _ = clean_rows(raw, target, "auto", config.clean.missing_markers, True)
    task, _ = infer_task(rows[target], "auto", config.clean.max_classes)
    train, test = split_rows(rows, target, task, 0.2, seed)
    X, y = split_xy(train, target)
    X_test, y_test = split_xy(test, target)
    metric = primary_metric(task, "auto")
    positive = positive_class(np.array(sorted(y.unique())), None) if task == "binary" else None
    cleaner = TableCleaner(drop=tuple(drop), missing_markers=tuple(config.clean.missing_markers))
    preprocessor = build_preprocessor(cleaner, config.features, task, seed)
    folds = make_folds(task, 5, seed)

    def recipe_with(features: dict):
        settings = FeaturesConfig.model_validate({**config.features.model_dump(), **features})
        return build_preprocessor(cleaner, settings, task, seed)

    problem = Problem(X, y, task, metric, folds, preprocessor, seed, positive=positive, recipe_with=recipe_with)

    linear = "logistic_regression" if task != "regression" else "ridge"
    scores, seconds = {}, {}
    for label, family in (("hgb", "hist_gradient_boosting"), ("linear", linear)):
        pipeline = whole_pipeline(preprocessor, build_estimator(config.zoo[family], task, seed))
        model, seconds[label] = timed(lambda p=pipeline: p.fit(X, y))
        scores[label] = holdout(model, X_test, y_test, task, metric, positive)

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
        return outcome.model.fit(X, y), outcome

    (model, outcome), seconds["autotab"] = timed(autotab)
    scores["autotab"] = holdout(model, X_test, y_test, task, metric, positive)
    losses = [
        label for label in ("hgb", "linear")
        if maximisable(scores["autotab"], metric) < maximisable(scores[label], metric)
    ]  # fmt: skip
    chosen = "ensemble" if len(outcome.weights) > 1 else outcome.single
    cells = [
        name, task, metric,
        f"{scores['autotab']:.4f} ({seconds['autotab']:.0f} s, {outcome.summary['n_trials']} trials, {chosen})",
        f"{scores['hgb']:.4f} ({seconds['hgb']:.1f} s)", f"{scores['linear']:.4f} ({seconds['linear']:.1f} s)",
        ", ".join(losses) or "none",
    ]  # fmt: skip
    return "| " + " | ".join(cells) + " |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=float, default=60.0, help="seconds of search per table")
    parser.add_argument("--tables", nargs="+")
    args = parser.parse_args()
    warnings.filterwarnings("ignore", category=ConvergenceWarning)
    config = load_config(ROOT / "params.yaml")
    seed = config.data.seed
    tune = config.tune.model_copy(update={"n_trials": 100_000, "timeout_s": args.budget, "storage": None})
    lines = [
        f"| table | task | metric | autotab ({args.budget:.0f} s search) | untuned HGB | logistic / ridge "
        "| autotab loses to |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, (raw, target, drop) in tables().items():
        if args.tables and name not in args.tables:
            continue
        lines.append(compare(name, raw, target, drop, config, tune, seed))
        print(lines[-1], flush=True)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
