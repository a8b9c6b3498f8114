"""tune: a seeded Optuna search of the model's hyperparameters, then a refit on the training split."""

import joblib
import pandas as pd

from autotab import paths
from autotab.config import load_config
from autotab.errors import run_stage
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
    data, model, train_config, tune = config.data, config.model, config.train, config.tune
    contract = read_json(paths.contract(config.data.name))
    task = contract["task"]
    metric = primary_metric(task, train_config.metric)
    default_cv = read_json(paths.CV_METRICS)[metric]["mean"]

    train_rows = pd.read_parquet(paths.CLEAN_TRAIN)
    X, y = split_xy(train_rows, contract["target"])
    preprocessor = joblib.load(paths.PREPROCESSOR_RECIPE)
    groups = train_rows[data.group] if data.group else None
    folds = make_folds(task, train_config.folds, data.seed, grouped=groups is not None)
    build_estimator(model, task, data.seed)  # fail on a bad config before the first trial

    def score(hyperparameters: dict) -> float:
        estimator = build_estimator(model, task, data.seed, hyperparameters)
        summary = cross_validate_pipeline(
            whole_pipeline(preprocessor, estimator),
            X,
            y,
            task,
            folds,
            train_config.n_jobs,
            metrics=[metric],
            groups=groups,
        )
        return maximisable(summary[metric]["mean"], metric)

    def report(study, trial) -> None:
        value, best = maximisable(trial.value, metric), maximisable(study.best_value, metric)
        print(
            f"tune: trial {trial.number + 1}/{tune.n_trials} {metric}={value:.4f} best={best:.4f}",
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
    final = whole_pipeline(preprocessor, build_estimator(model, task, data.seed, chosen)).fit(X, y)

    write_joblib(final, paths.MODEL)
    write_csv(trials_table(study), paths.TRIALS)
    write_json(
        {
            "model": model.name,
            "primary_metric": metric,
            "cv_default": default_cv,
            "cv_search_best": searched_cv,
            "cv_chosen": chosen_cv,
            "chosen_from": source,
            "n_trials": len(study.trials),
            "params": {**model.hyperparameters, **chosen},
        },
        paths.BEST_PARAMS,
    )
    print(f"tune: chose the {source} ({metric} {chosen_cv:.4f}; defaults {default_cv:.4f}): {chosen}")


if __name__ == "__main__":
    run_stage("tune", main)
