"""tune: a seeded Optuna search of one family's hyperparameters, then a refit on the training split.

The family is the pinned `model` group, or with `model: auto` the leaderboard's winner.
"""

import joblib
import pandas as pd

from autotab import paths
from autotab.config import load_config
from autotab.errors import run_stage
from autotab.evaluation import positive_class
from autotab.models import build_estimator
from autotab.tables import read_json, write_csv, write_joblib, write_json
from autotab.training import (
    cross_validate_pipeline,
    make_folds,
    maximisable,
    primary_metric,
    split_xy,
    to_plain,
    whole_pipeline,
)
from autotab.tuning import run_study, trials_table


def main() -> None:
    config = load_config()
    data, train_config, tune = config.data, config.train, config.tune
    contract = read_json(paths.contract(data.name))
    task = contract["task"]
    metric = primary_metric(task, train_config.metric)
    board = pd.read_csv(paths.LEADERBOARD)
    passed = board[board["status"] == "ok"]
    family = passed.iloc[0]["model"] if config.model.name == "auto" else config.model.name
    model = config.family(family)
    default_cv = float(passed.loc[passed["model"] == family, f"{metric}_mean"].iloc[0])

    rows = pd.read_parquet(paths.CLEAN_TRAIN)
    X, y = split_xy(rows, contract["target"])
    groups = rows[data.group] if data.group else None
    folds = make_folds(task, train_config.folds, data.seed, grouped=groups is not None)
    positive = None
    if task == "binary":
        positive = positive_class(pd.Series(sorted(y.unique())).to_numpy(), contract["positive_label"])
    preprocessor = joblib.load(paths.PREPROCESSOR_RECIPE)

    def estimator(hyperparameters: dict):
        return build_estimator(model, task, data.seed, hyperparameters, class_weight=train_config.class_weight)

    def score(hyperparameters: dict) -> float:
        result = cross_validate_pipeline(
            whole_pipeline(preprocessor, estimator(hyperparameters)), X, y, task, folds, groups, positive
        )
        return maximisable(result.summary[metric]["mean"], metric)

    def report(study, trial) -> None:
        value, best = maximisable(trial.value, metric), maximisable(study.best_value, metric)
        print(
            f"tune: {family} trial {trial.number + 1}/{tune.n_trials} {metric}={value:.4f} best={best:.4f}",
            flush=True,
        )

    study = run_study(model, score, tune.n_trials, data.seed, on_trial=report)
    searched_cv = round(maximisable(study.best_value, metric), 6)
    # The defaults were scored on the same folds by train: keep them unless the search beat them.
    if study.best_value > maximisable(default_cv, metric):
        chosen, chosen_cv, source = dict(study.best_params), searched_cv, "search"
    else:
        chosen, chosen_cv, source = {}, default_cv, "defaults"
    chosen = {name: to_plain(value) for name, value in chosen.items()}
    final = whole_pipeline(preprocessor, estimator(chosen)).fit(X, y)

    write_joblib(final, paths.MODEL)
    write_csv(trials_table(study), paths.TRIALS)
    write_json(
        {"primary_metric": metric, "cv_default": default_cv, "cv_search_best": searched_cv,
         "cv_chosen": chosen_cv, "n_trials": len(study.trials)},
        paths.TUNING_SUMMARY,
    )  # fmt: skip
    write_json(
        {"model": family, "chosen_from": source, "params": {**model.hyperparameters, **chosen}},
        paths.BEST_PARAMS,
    )
    print(f"tune: {family}: chose the {source} ({metric} {chosen_cv:.4f}; defaults {default_cv:.4f}): {chosen}")


if __name__ == "__main__":
    run_stage("tune", main)
