"""Hyperparameter search: a seeded Optuna study over the search spaces of one or more families.

The study lives in an Optuna storage (SQLite by default), named after everything that defines the
search, so an interrupted tune resumes where it stopped and a changed one starts afresh. Trials
report their running cross-validated score after each fold, so a pruner can stop hopeless ones.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import optuna
import pandas as pd

from autotab.config import ModelConfig, SearchDimension

FAMILY = "family"
FEATURES = "features."


def suggest(trial: optuna.Trial, name: str, dimension: SearchDimension) -> Any:
    if dimension.choices is not None:
        return trial.suggest_categorical(name, dimension.choices)
    if dimension.is_int:
        return trial.suggest_int(name, int(dimension.low), int(dimension.high), log=dimension.log)
    return trial.suggest_float(name, float(dimension.low), float(dimension.high), log=dimension.log)


def make_pruner(name: str) -> optuna.pruners.BasePruner:
    if name == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=1)
    if name == "successive_halving":
        return optuna.pruners.SuccessiveHalvingPruner()
    return optuna.pruners.NopPruner()


def open_study(name: str, storage: str | None, seed: int, pruner: str) -> optuna.Study:
    """Create the study, or load it to resume. A SQLite file's folder is created if needed."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    if storage and storage.startswith("sqlite:///"):
        Path(storage.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    return optuna.create_study(
        study_name=name,
        storage=storage,
        load_if_exists=True,
        direction="maximize",
        sampler=optuna.samplers.TPESampler(seed=seed),
        pruner=make_pruner(pruner),
    )


def within(dimension: SearchDimension, value: Any) -> bool:
    if dimension.choices is not None:
        return value in dimension.choices
    is_number = isinstance(value, int | float) and not isinstance(value, bool)
    return is_number and dimension.low <= value <= dimension.high


def enqueue_defaults(
    study: optuna.Study,
    families: dict[str, ModelConfig],
    feature_space: dict[str, SearchDimension],
    feature_defaults: dict[str, Any],
) -> None:
    """Each family's configured defaults (those inside its space) with the configured features, as
    first trials: a good start for the sampler."""
    features = {
        f"{FEATURES}{name}": feature_defaults[name]
        for name, dim in feature_space.items()
        if name in feature_defaults and within(dim, feature_defaults[name])
    }
    for family, model in families.items():
        params = {
            f"{family}.{name}": model.hyperparameters[name]
            for name, dim in model.search_space.items()
            if name in model.hyperparameters and within(dim, model.hyperparameters[name])
        }
        study.enqueue_trial({FAMILY: family, **params, **features}, skip_if_exists=True)


def sample(
    trial: optuna.Trial, families: dict[str, ModelConfig], feature_space: dict[str, SearchDimension]
) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """A family, that family's hyperparameters (named `<family>.<name>` in the study), and the
    feature choices (named `features.<key>`)."""
    family = trial.suggest_categorical(FAMILY, list(families))
    space = families[family].search_space
    params = {name: suggest(trial, f"{family}.{name}", dim) for name, dim in space.items()}
    features = {name: suggest(trial, f"{FEATURES}{name}", dim) for name, dim in feature_space.items()}
    return family, params, features


def params_of(trial: optuna.trial.FrozenTrial) -> tuple[str, dict[str, Any], dict[str, Any]]:
    family = trial.params[FAMILY]
    prefix = f"{family}."
    params = {k.removeprefix(prefix): v for k, v in trial.params.items() if k.startswith(prefix)}
    features = {k.removeprefix(FEATURES): v for k, v in trial.params.items() if k.startswith(FEATURES)}
    return family, params, features


def run_study(
    study: optuna.Study,
    families: dict[str, ModelConfig],
    score: Callable[[str, dict[str, Any], dict[str, Any], optuna.Trial], float],
    n_trials: int,
    timeout_s: float | None = None,
    on_trial: Callable[[optuna.Study, optuna.trial.FrozenTrial], None] | None = None,
    feature_space: dict[str, SearchDimension] | None = None,
    feature_defaults: dict[str, Any] | None = None,
) -> int:
    """Run trials until the study holds `n_trials` finished ones (or the timeout); returns how many
    ran now. Trials run one after another: parallel TPE would make results depend on timing."""
    feature_space = feature_space or {}
    if not study.trials:
        enqueue_defaults(study, families, feature_space, feature_defaults or {})
    done = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
    finished = [t for t in study.trials if t.state in done]  # a failed trial is retried, not counted
    remaining = max(0, n_trials - len(finished))
    if remaining:

        def objective(trial: optuna.Trial) -> float:
            family, params, features = sample(trial, families, feature_space)
            return score(family, params, features, trial)

        callbacks = [on_trial] if on_trial else None
        study.optimize(objective, n_trials=remaining, timeout=timeout_s, callbacks=callbacks, gc_after_trial=False)
    return remaining


def trials_table(study: optuna.Study) -> pd.DataFrame:
    """One row per trial: number, state, value and parameters; no times, so it reproduces."""
    rows = [{"number": t.number, "state": t.state.name, "value": t.value, **t.params} for t in study.trials]
    return pd.DataFrame(rows)


def history_table(study: optuna.Study, sign: int) -> pd.DataFrame:
    """The optimisation history: each finished trial's value and the best so far (metric's sign)."""
    rows, best = [], None
    for t in study.trials:
        if t.state != optuna.trial.TrialState.COMPLETE:
            continue
        best = t.value if best is None else max(best, t.value)
        rows.append({"trial": t.number, "value": sign * t.value, "best": sign * best})
    return pd.DataFrame(rows, columns=["trial", "value", "best"]).round(6)


def importance_table(study: optuna.Study, seed: int) -> pd.DataFrame:
    """Parameter importances (fANOVA, seeded) over the parameters every complete trial shares."""
    complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    if len(complete) < 3:
        return pd.DataFrame(columns=["parameter", "importance"])
    try:
        evaluator = optuna.importance.FanovaImportanceEvaluator(seed=seed)
        importances = optuna.importance.get_param_importances(study, evaluator=evaluator)
    except (RuntimeError, ValueError):  # e.g. a single distinct value: nothing to attribute
        return pd.DataFrame(columns=["parameter", "importance"])
    return pd.DataFrame({"parameter": list(importances), "importance": list(importances.values())}).round(6)
