"""tune: a seeded, pruned, resumable Optuna search, an optional greedy ensemble, and the refit.

The search covers the pinned `model` family, or with `model: auto` the leaderboard's best
`tune.top_families` families jointly (see `autotab.modeling.search`).
"""

import hashlib
import json
import sys
import time
import warnings

import joblib
import numpy as np
import optuna
import pandas as pd
from sklearn.exceptions import ConvergenceWarning
from threadpoolctl import threadpool_limits

from autotab import paths
from autotab.config import load_config
from autotab.data.contract import DataContract
from autotab.data.splits import make_folds
from autotab.errors import run_stage
from autotab.metrics import maximisable, oof_score, primary_metric, recorded_positive
from autotab.modeling.budget import Deadline, cores, worker_pool
from autotab.modeling.distributed_fit import distributable, refit_on_cluster
from autotab.modeling.search import (
    MIN_SEARCH_TRIALS,
    Problem,
    check_same_rows,
    refit,
    search,
    searched_families,
    trial_seconds,
)
from autotab.modeling.selection import Referee
from autotab.modeling.training import baseline_oof, split_xy
from autotab.modeling.tuning import history_table, importance_table, make_pruner, trials_table
from autotab.modeling.zoo import supports
from autotab.serving.run_check import contract_digest
from autotab.tables import file_digest, read_json, write_csv, write_joblib, write_json


def main() -> None:
    # A fit stopped at max_iter is scored as it is, so the CV score already tells its story; the
    # hundreds of identical warnings would only bury the stage's own output.
    warnings.filterwarnings("ignore", category=ConvergenceWarning)
    started = time.monotonic()
    config = load_config()
    data, train_config, tune = config.data, config.train, config.tune
    # Each trial's folds run side by side, train.n_jobs at a time (the results do not depend on it),
    # in workers forked before this process reads any data (and starts Arrow's threads): a spawned
    # worker imports the stack again, a second or more of every run and of a budget. With a budget,
    # tune has what train left of it and a fold per core.
    backend, pool, n_jobs = config.backend, None, train_config.n_jobs
    if backend.name == "local":
        if config.budget_s is not None:
            n_jobs = max(n_jobs, cores())
        pool = worker_pool(backend.parallelism * n_jobs, fork=True)
    contract = DataContract.read(paths.contract(data.name))
    task = contract.task
    metric = primary_metric(task, train_config.metric)
    board = pd.read_csv(paths.LEADERBOARD)
    board = board[board["status"] == "ok"].reset_index(drop=True)
    distributed = train_config.distributed_fit
    if distributed:  # the choice is among what the cluster can fit, and a single model
        board = distributable(board)
        tune = tune.model_copy(update={"ensemble": False})
    if config.model.name != "auto":
        # A pinned family is what the user gets: no ensemble with other families' defaults.
        board = board[board["model"] == config.model.name].reset_index(drop=True)

    rows = pd.read_parquet(paths.CLEAN_TRAIN)
    X, y = split_xy(rows, contract.target)
    groups = rows[data.group] if data.group else None
    positive = recorded_positive(np.unique(y), contract.positive_label)
    problem = Problem(
        X, y, task, metric,
        make_folds(task, train_config.folds, data.seed, grouped=groups is not None, time_column=contract.time_column),
        joblib.load(paths.PREPROCESSOR_RECIPE), data.seed, groups, positive, train_config.class_weight,
        config.features.model_dump(), n_jobs,
    )  # fmt: skip
    cv = read_json(paths.CV_METRICS)
    # A budgeted leaderboard that ranked on a seeded sample of the rows: the search and every choice
    # are made on that sample too (its out-of-fold predictions are of it); the final refit takes
    # every row the budget affords (`refit`).
    selection = problem.sample(cv.get("ranked_rows"))
    deadline = Deadline()
    if config.budget_s is not None:
        deadline = Deadline.after(config.budget_s - cv.get("budget_spent_s", 0.0) - (time.monotonic() - started))
        # The fits in this process (the rechecks, the refit) run on one thread, as the leaderboard's
        # workers do, whose times the budget's projections come from. OpenMP's threads wait for each
        # other at every step of a fit, and on a busy machine that wait is a time slice: beside three
        # CPU-bound processes, HistGradientBoosting's refit on 300 rows took 116 s on both cores (a
        # 20 s budget overrun by 105 s); one thread fits 20,000 rows in 0.6 s there, two in 1.9 s.
        threadpool_limits(limits=1)

    ranked = [n for n in board["model"] if supports(n, task)]
    passed_over: list[str] = []
    if config.model.name != "auto":
        names = [config.model.name]
    elif deadline.bounded:
        # Cheap before expensive. The search has at most half of tune's time (the ensemble's reserve
        # takes up to the other half, the recheck and the refit some of what is left): the families
        # are thus timing's choice, and so is the study (its name says which were searched).
        costs = trial_seconds(cv.get("fit_seconds", {}), cv.get("predict_seconds", {}), problem=selection,
                              screen_rows=train_config.screen_rows)  # fmt: skip
        names, passed_over = searched_families(
            ranked, keep=tune.top_families, trial_s=costs, seconds=deadline.left() / 2
        )
    else:
        names = ranked[: tune.top_families]
    families = {name: config.family(name) for name in names}

    def progress(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        # A pruned trial carries its last running mean as its value (Optuna's tell): not a score.
        pruned = trial.state == optuna.trial.TrialState.PRUNED or trial.value is None
        shown = "pruned" if pruned else f"{maximisable(trial.value, metric):.4f}"
        complete = [t.value for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
        best = f"{maximisable(max(complete), metric):.4f}" if complete else "none yet"
        print(f"tune: trial {trial.number + 1}/{tune.n_trials} {trial.params.get('family')}: {metric}={shown} "
              f"(best {best}) [{time.monotonic() - started:.0f} s]", file=sys.stderr, flush=True)  # fmt: skip

    # Everything that defines the search names the study: the same search resumes, a new one starts.
    # The trial budget is not part of it: raising tune.n_trials continues the stored study, and a
    # lower one chooses among its first trials (`first_trials`), as a fresh run would.
    identity = {
        "data": [file_digest(paths.CLEAN_TRAIN), file_digest(paths.PREPROCESSOR_RECIPE)], "families": names,
        "spaces": {n: f.model_dump() for n, f in families.items()},
        "train": train_config.model_dump(exclude={"n_jobs"}), "seed": data.seed, "group": data.group,
        "features": config.features.model_dump(),
        "tune": tune.model_dump(include={"pruner", "feature_space"}), "pruner": type(make_pruner(tune.pruner)).__name__,
        "parallelism": backend.parallelism, "budgeted": config.budget_s is not None,
        # Trials on a budgeted leaderboard's sample are of other rows than a study on all of them.
        **({"ranked_rows": len(selection.y)} if selection is not problem else {}),
    }  # fmt: skip
    study_name = f"{data.name}-{hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:16]}"
    oof = pd.read_parquet(paths.OOF_PREDICTIONS)
    check_same_rows(oof, selection)
    searched = time.monotonic()
    try:
        outcome = search(
            selection, families, config.family, board, oof, tune, study_name, progress, config.features.model_dump(),
            backend, deadline=deadline, fit_seconds=cv.get("fit_seconds"), pool=pool,
            screen_rows=train_config.screen_rows, refit_rows=len(y),
        )  # fmt: skip
    except KeyboardInterrupt:
        raise KeyboardInterrupt(interrupted_search(study_name, tune.storage, tune.n_trials)) from None
    refitted = time.monotonic()
    final, threshold = outcome.servable(selection)
    if distributed:
        fitted_rows, recipe_rows = refit_on_cluster(
            final, selection, backend, parquet=paths.CLEAN_TRAIN, target=contract.target
        )
    else:
        fitted_rows = refit(final, problem, selection, deadline)
    finished = time.monotonic()

    # What the quality gate before packaging compares: the served model's out-of-fold score and the
    # trivial baseline's on the same folds, and the paired bootstrap standard error of the difference.
    classes = np.unique(y) if task != "regression" else None
    trivial = baseline_oof(selection.X, selection.y, task, selection.folds, selection.groups)
    scored_y = selection.scored_y
    referee = Referee(scored_y, task, metric, classes, positive, tune.min_gain_se, tune.gain_resamples, data.seed)
    outcome.summary |= {
        f"oof_{name}": round(maximisable(oof_score(prediction, scored_y, task, metric, classes, positive), metric), 6)
        for name, prediction in (("chosen", outcome.oof), ("baseline", trivial))
    } | {"oof_gain_over_baseline_se": referee.paired_gain([outcome.oof], [trivial])[1]}
    if deadline.bounded:
        outcome.summary |= {"searched_families": names, "passed_over": passed_over}
    if selection is not problem:
        outcome.summary |= {"selection_rows": len(selection.y), "refit_rows": fitted_rows}
    if distributed:
        outcome.summary |= {"distributed_fit": {"rows": fitted_rows, "recipe_rows": recipe_rows}}
    sign = 1 if maximisable(1.0, metric) > 0 else -1
    write_joblib(final, paths.MODEL)
    write_csv(trials_table(outcome.study), paths.TRIALS)
    write_csv(history_table(outcome.study, sign), paths.TUNING_HISTORY)
    write_csv(importance_table(outcome.study, data.seed), paths.TUNING_IMPORTANCE)
    write_json(outcome.summary, paths.TUNING_SUMMARY)
    chosen = {
        "model": outcome.single if len(outcome.weights) == 1 else "ensemble",
        "best_single": outcome.single,
        "chosen_from": outcome.source,
        "params": {**config.family(outcome.single).hyperparameters, **outcome.single_params},
        "features": {**config.features.model_dump(), **outcome.single_features},
        "ensemble_weights": outcome.weights,
        "decision_threshold": threshold,
        # The contract the model was trained against: its consumers check they are of the same run.
        "contract_sha256": contract_digest(paths.contract(data.name)),
    }
    write_json(chosen, paths.BEST_PARAMS)
    s = outcome.summary
    print(f"tune: {s['n_trials']} trials in study {study_name} ({outcome.ran} run now, {s['n_pruned']} pruned); "
          f"best single: {outcome.single} from the {outcome.source}, {metric} {s['cv_single_chosen']:.4f} "
          f"(defaults chosen {s['cv_default_best']:.4f})")  # fmt: skip
    for step in s["selection"]:
        verdict = "taken" if step["replaced"] else "kept the incumbent"
        print(f"tune: {step['step']}: {step['challenger']} over {step['incumbent']}: out-of-fold gain "
              f"{step['gain']:+.6f} (SE {step['se']:.6f}), needed > {step['threshold']:.6f}: {verdict}")  # fmt: skip
    if distributed:
        print(
            f"tune: {outcome.single} fitted on all {fitted_rows:,} training rows on the Dask cluster "
            f"(backend={backend.name}); its recipe and round count on a seeded sample of {recipe_rows:,}"
        )
    if fitted_rows < len(y):
        print(f"tune: the final model is fitted on a seeded sample of {fitted_rows:,} of the {len(y):,} training rows: "
              f"every row would not fit in budget_s (a larger budget refits on more)")  # fmt: skip
    if len(outcome.weights) > 1:
        print(f"tune: ensemble {outcome.weights}: OOF {metric} {s['oof_ensemble']:.4f} vs {s['oof_single']:.4f} single")
    if passed_over:
        print(f"tune: searched {', '.join(names)}; passed over for their cost ({MIN_SEARCH_TRIALS} trials of each "
              f"did not fit in the search's time; their defaults may still join the ensemble): "
              f"{', '.join(passed_over)}")  # fmt: skip
    if config.budget_s is not None:
        print(f"tune: budget_s={config.budget_s:g}: train {cv.get('budget_spent_s', 0.0):.1f} s "
              f"({cv.get('models_skipped', 0)} families skipped), start-up {searched - started:.1f} s, "
              f"search and selection {refitted - searched:.1f} s ({outcome.ran} trials, {n_jobs} folds "
              f"at a time, {s.get('recheck_repeats', 0)} fresh-fold rechecks), refit {finished - refitted:.1f} s; "
              f"{deadline.left():+.1f} s left")  # fmt: skip


def interrupted_search(study_name: str, storage: str | None, n_trials: int) -> str:
    """What an interrupted search leaves: the finished trials, kept in the storage for the rerun."""
    if storage is None:
        return "the study was in memory (tune.storage: null): a rerun starts the search again"
    finished = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
    done = len(optuna.load_study(study_name=study_name, storage=storage).get_trials(states=finished))
    return f"after {done} of {n_trials} finished trials, kept in {storage}; rerun (`dvc repro`) to resume from there"


if __name__ == "__main__":
    run_stage("tune", main)
