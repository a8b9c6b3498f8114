"""The model zoo: each family's scikit-learn estimator per task, built and checked from config."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sklearn.base import BaseEstimator
from sklearn.ensemble import (
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.utils._param_validation import InvalidParameterError

from autotab.config import ModelConfig
from autotab.errors import UserError

CLASSIFICATION = ("binary", "multiclass")


@dataclass(frozen=True)
class Family:
    classifier: type[BaseEstimator] | None
    regressor: type[BaseEstimator] | None

    def estimator_class(self, task: str) -> type[BaseEstimator] | None:
        return self.classifier if task in CLASSIFICATION else self.regressor


FAMILIES: dict[str, Family] = {
    "logistic_regression": Family(LogisticRegression, None),
    "ridge": Family(None, Ridge),
    "random_forest": Family(RandomForestClassifier, RandomForestRegressor),
    "hist_gradient_boosting": Family(HistGradientBoostingClassifier, HistGradientBoostingRegressor),
}

# Set from data.seed, never from the model group, so one seed governs a whole run.
SEEDED_PARAM = "random_state"


def build_estimator(
    config: ModelConfig, task: str, seed: int, overrides: dict[str, Any] | None = None
) -> BaseEstimator:
    """The family's estimator for `task` with the config's hyperparameters (then `overrides`).

    Hyperparameter names and values are checked against the estimator's own constraints, so the
    error a user sees is scikit-learn's precise one, prefixed with the config key.
    """
    family = FAMILIES.get(config.name)
    if family is None:
        raise UserError(f"model.name: unknown model {config.name!r}; accepted: {', '.join(sorted(FAMILIES))}")
    estimator_class = family.estimator_class(task)
    if estimator_class is None:
        usable = sorted(name for name, f in FAMILIES.items() if f.estimator_class(task))
        raise UserError(f"model.name: {config.name!r} does not do {task}; use one of: {', '.join(usable)}")
    estimator = estimator_class()
    accepted = sorted(set(estimator.get_params()) - {SEEDED_PARAM})
    hyperparameters = {**config.hyperparameters, **(overrides or {})}
    for key in [*hyperparameters, *config.search_space]:
        if key not in accepted:
            where = f"model.search_space.{key}" if key in config.search_space else f"model.{key}"
            raise UserError(
                f"{where}: unknown hyperparameter of {estimator_class.__name__}; "
                f"accepted: {', '.join(accepted)}"
            )
    if SEEDED_PARAM in estimator.get_params():
        hyperparameters[SEEDED_PARAM] = seed
    estimator.set_params(**hyperparameters)
    try:
        estimator._validate_params()
    except InvalidParameterError as error:
        key = next((k for k in hyperparameters if f"'{k}'" in str(error)), None)
        prefix = f"model.{key}: " if key else "model: "
        raise UserError(prefix + str(error)) from None
    return estimator
