"""Trials per second of the same study on each backend: local worker processes (1 and 2) and a
private Dask LocalCluster (2 workers), as speed-up ratios against one local worker measured in the
same run. The study: breast cancer, the tune stage's joint search over HistGradientBoosting, random
forest and logistic regression, 5 folds, no pruning (every trial does the same work).

Writes bench/results/distributed.md (and prints it).

    .venv/bin/python bench/distributed.py [--trials 40]
"""

from __future__ import annotations

import sys

# Python puts this file's folder first on sys.path, and this file is named like Dask's package:
# look there last, so `import distributed` finds Dask (in worker processes too, which copy sys.path).
sys.path.append(sys.path.pop(0))

import argparse  # noqa: E402
import os  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

from leaderboard import tables  # noqa: E402

from autotab.config import BackendConfig, load_config  # noqa: E402
from autotab.data.row_cleaning import clean_rows, infer_task  # noqa: E402
from autotab.data.splits import (
    make_folds,  # noqa: E402
    split_rows,  # noqa: E402
)
from autotab.estimators.table_cleaner import TableCleaner  # noqa: E402
from autotab.metrics import primary_metric  # noqa: E402
from autotab.modeling.backends import trial_runner  # noqa: E402
from autotab.modeling.features import build_preprocessor  # noqa: E402
from autotab.modeling.search import Problem  # noqa: E402
from autotab.modeling.training import split_xy  # noqa: E402
from autotab.modeling.tuning import open_study, run_study  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "distributed.md"
FAMILIES = ("hist_gradient_boosting", "random_forest", "logistic_regression")


def problem_and_families(config):
    raw, target, drop = tables()["breast_cancer"]
    rows, _ = clean_rows(raw, target, "auto", config.clean.missing_markers, True)
    task, _ = infer_task(rows[target], "auto", config.clean.max_classes)
    train, _ = split_rows(rows, target, task, 0.2, config.data.seed)
    X, y = split_xy(train, target)
    cleaner = TableCleaner(drop=tuple(drop), missing_markers=tuple(config.clean.missing_markers))
    recipe = build_preprocessor(cleaner, config.features, task, config.data.seed)
    folds = make_folds(task, config.train.folds, config.data.seed)
    positive = sorted(y.unique())[-1]
    problem = Problem(X, y, task, primary_metric(task, "auto"), folds, recipe, config.data.seed, positive=positive)
    return problem, {name: config.zoo[name] for name in FAMILIES}


def trials_per_second(backend: BackendConfig, problem, families, n_trials: int) -> tuple[float, float]:
    """(trials per second, seconds to start the workers and hand them the problem)."""
    start = time.perf_counter()
    with trial_runner(backend, problem, families) as submit:
        family = next(iter(families))
        for future in [submit(family, {}, {}, 0) for _ in range(backend.parallelism)]:
            future.result()  # every worker started and holding the problem
        ready = time.perf_counter()
        study = open_study("bench", None, problem.seed, "none")
        run_study(study, families, submit, problem.folds.get_n_splits(), n_trials, parallelism=backend.parallelism)
        seconds = time.perf_counter() - ready
    return n_trials / seconds, ready - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=40)
    args = parser.parse_args()
    config = load_config(ROOT / "params.yaml")
    problem, families = problem_and_families(config)
    backends = {
        "local, 1 worker": BackendConfig(name="local", parallelism=1),
        "local, 2 workers": BackendConfig(name="local", parallelism=2),
        "Dask LocalCluster, 2 workers": BackendConfig(name="dask_local", parallelism=2),
    }
    measured = {label: trials_per_second(b, problem, families, args.trials) for label, b in backends.items()}
    floor = measured["local, 1 worker"][0]
    lines = [
        f"{args.trials} trials (5-fold CV each) of one study on breast cancer, on {os.cpu_count()} cores",
        "",
        "| backend | trials/s | speed-up vs 1 local worker | start-up s |",
        "|---|---|---|---|",
    ]
    for label, (rate, startup) in measured.items():
        lines.append(f"| {label} | {rate:.2f} | {rate / floor:.2f}× | {startup:.1f} |")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
