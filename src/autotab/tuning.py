"""Hyperparameter search: a seeded Optuna study over the model family's search space."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import optuna
import pandas as pd

from autotab.config import ModelConfig, SearchDimension


def suggest(trial: optuna.Trial, name: str, dimension: SearchDimension) -> Any:
    if dimension.choices is not None:
        return trial.suggest_categorical(name, dimension.choices)
    if dimension.is_int:
        return trial.suggest_int(name, int(dimension.low), int(dimension.high), log=dimension.log)
    return trial.suggest_float(name, float(dimension.low), float(dimension.high), log=dimension.log)


def run_study(
    model: ModelConfig,
    score: Callable[[dict[str, Any]], float],
    n_trials: int,
    seed: int,
    on_trial: Callable[[optuna.Study, optuna.trial.FrozenTrial], None] | None = None,
) -> optuna.Study:
    """Maximise `score(hyperparameters)` over the search space with a seeded TPE sampler.

    The configured defaults that lie inside the search space are enqueued as the first trial, to
    give the sampler a good start (the tune stage compares with the full defaults' CV score, from
    train, anyway). Trials run one after another: parallel TPE would make results depend on timing.
    """
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=seed))
    defaults = {
        name: model.hyperparameters[name]
        for name in model.search_space
        if name in model.hyperparameters and _within(model.search_space[name], model.hyperparameters[name])
    }
    if defaults:
        study.enqueue_trial(defaults, skip_if_exists=True)

    def objective(trial: optuna.Trial) -> float:
        params = {name: suggest(trial, name, dim) for name, dim in model.search_space.items()}
        return score(params)

    callbacks = [on_trial] if on_trial else None
    study.optimize(objective, n_trials=n_trials, callbacks=callbacks)
    return study


def _within(dimension: SearchDimension, value: Any) -> bool:
    if dimension.choices is not None:
        return value in dimension.choices
    return isinstance(value, int | float) and dimension.low <= value <= dimension.high


def trials_table(study: optuna.Study) -> pd.DataFrame:
    """One row per trial: number, state, value and parameters; no times, so it reproduces."""
    rows = [{"number": t.number, "state": t.state.name, "value": t.value, **t.params} for t in study.trials]
    return pd.DataFrame(rows)
