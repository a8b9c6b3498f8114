"""train: the leaderboard. Every candidate family, K-fold cross-validated on the same folds."""

import sys
import time

import joblib
import numpy as np
import pandas as pd

from autotab import paths
from autotab.config import load_config
from autotab.data.contract import DataContract
from autotab.data.splits import check_folds, make_folds, scored_rows
from autotab.errors import run_stage
from autotab.metrics import primary_metric, recorded_positive
from autotab.modeling import leaderboard
from autotab.modeling.budget import TRAIN_SHARE, Deadline, cores, worker_pool
from autotab.modeling.training import CrossValidation, split_xy
from autotab.modeling.zoo import build_estimator, supports
from autotab.tables import write_atomic, write_csv, write_json, write_parquet


def main() -> None:
    started = time.monotonic()
    config = load_config()
    data, train_config = config.data, config.train
    # With a budget, the leaderboard has its share of it and every core: one worker process per core,
    # forked before this process reads any data (and starts Arrow's threads).
    pool = None if config.budget_s is None else worker_pool(cores(), fork=True)
    contract = DataContract.read(paths.contract(data.name))
    task = contract.task
    metric = primary_metric(task, train_config.metric)

    names = list(
        dict.fromkeys([*train_config.candidates, *([config.model.name] if config.model.name != "auto" else [])])
    )
    skipped = [name for name in names if not supports(name, task)]
    candidates = {
        name: build_estimator(config.family(name), task, data.seed, class_weight=train_config.class_weight)
        for name in names
        if name not in skipped
    }

    rows = pd.read_parquet(paths.CLEAN_TRAIN)
    X, y = split_xy(rows, contract.target)
    check_folds(y, task, train_config.folds)
    groups = rows[data.group] if data.group else None
    grouped, time_column = groups is not None, contract.time_column
    folds = make_folds(task, train_config.folds, data.seed, grouped=grouped, time_column=time_column)
    # The rows the folds score (all, but for forward-chaining folds): made here, so that folds the
    # rows cannot give stop the stage before any fit.
    scored = scored_rows(list(folds.split(X, y, groups)), len(y))
    positive = recorded_positive(np.unique(y), contract.positive_label)
    budget = {} if pool is None else {
        "deadline": Deadline.after(config.budget_s * TRAIN_SHARE - (time.monotonic() - started)),
        "pool": pool, "threads": 1,
    }  # fmt: skip

    def progress(name: str, result: object, round_name: str, done: int, total: int) -> None:
        """One line per candidate as it finishes: a long leaderboard is never silent."""
        if isinstance(result, CrossValidation):
            score = result.summary[metric]
            outcome = f"{metric} {score['mean']:.4f} ± {score['std']:.4f}, fit {result.fit_seconds:.1f} s"
        else:
            outcome = getattr(result, "reason", result)  # skipped, or why it failed
        print(f"train: {round_name}: {name} ({done}/{total}): {outcome} [{time.monotonic() - started:.0f} s]",
              file=sys.stderr, flush=True)  # fmt: skip

    table, results = leaderboard.rank(
        candidates, joblib.load(paths.PREPROCESSOR_RECIPE), X, y, task, folds, metric,
        groups=groups, positive=positive, screen_rows=train_config.screen_rows,
        screen_keep=train_config.screen_keep, seed=data.seed, progress=progress,
        **({"n_jobs": train_config.n_jobs} | budget),
    )  # fmt: skip

    best = table.iloc[0]
    # A budget too small for every row ranks on a seeded sample of them (`leaderboard.climb`): the
    # out-of-fold predictions are of the sample's scored rows, and tune selects on the same sample.
    sample = next(iter(results.values())).rows
    if sample is not None:
        sampled_groups = None if groups is None else groups.iloc[sample]
        scored = sample[scored_rows(list(folds.split(X.iloc[sample], y.iloc[sample], sampled_groups)), len(sample))]
    write_csv(table, paths.LEADERBOARD)
    text = leaderboard.markdown(table, task, metric)
    write_atomic(paths.LEADERBOARD_MD, lambda tmp: tmp.write_text(text))
    write_parquet(leaderboard.oof_frame(results, y.iloc[scored]), paths.OOF_PREDICTIONS)
    write_json(
        {"primary_metric": metric, "best_model": best["model"], f"best_{metric}": float(best[f"{metric}_mean"]),
         "models_ok": len(results), "models_failed": int((table["status"] == "failed").sum()),
         "models_skipped": int((table["status"] == "skipped").sum()),
         "models_screened_out": int((table["status"] == "screened").sum()),
         # Only with a budget, whose runs do not reproduce anyway: what train used of it, for tune.
         **({} if config.budget_s is None else {
             "budget_spent_s": round(time.monotonic() - started, 1),
             "fit_seconds": {name: round(result.fit_seconds, 2) for name, result in results.items()},
             "predict_seconds": {name: round(result.predict_seconds, 2) for name, result in results.items()},
         }),
         # Ranked on a sample: how many rows (`screening_sample` of that many gives them again).
         **({} if sample is None else {"ranked_rows": len(sample)})},
        paths.CV_METRICS,
    )  # fmt: skip
    # Times vary run to run, so they are printed, never written into a tracked output.
    print(f"train: {train_config.folds}-fold CV leaderboard, {metric} is the primary metric")
    if config.budget_s is not None:
        print(f"  budget: {time.monotonic() - started:.1f} s of budget_s={config.budget_s:g} used "
              f"(train's share {TRAIN_SHARE:.0%}), {cores()} worker processes")  # fmt: skip
    if sample is not None:
        print(f"  ranked on a seeded sample of {len(sample):,} of the {len(y):,} rows (all of them did not fit "
              f"the budget); tune chooses on the same sample, and refits on every row the budget affords")  # fmt: skip
    if skipped:
        print(f"  skipped (they do not do {task}): {', '.join(skipped)}")
    print(text.rstrip())
    for name, result in results.items():
        print(f"  {name}: fit {result.fit_seconds:.2f} s, predict {result.predict_seconds:.2f} s over the folds")


if __name__ == "__main__":
    run_stage("train", main)
