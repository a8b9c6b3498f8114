"""The model zoo: each family's scikit-learn estimator per task, built and checked from config."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sklearn.base import BaseEstimator
from sklearn.compose import TransformedTargetRegressor
from sklearn.ensemble import (
    ExtraTreesClassifier,
    ExtraTreesRegressor,
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.linear_model import ElasticNet, Lasso, LogisticRegression, Ridge
from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVR
from sklearn.utils._param_validation import InvalidParameterError

from autotab.config import ModelConfig
from autotab.errors import UserError
from autotab.estimators.boosting import (
    CatBoostClassifier,
    CatBoostRegressor,
    LightGBMClassifier,
    LightGBMRegressor,
    XGBoostClassifier,
    XGBoostRegressor,
)
from autotab.estimators.svc import CalibratedSVC

CLASSIFICATION = ("binary", "multiclass")


@dataclass(frozen=True)
class Family:
    classifier: type[BaseEstimator] | None
    regressor: type[BaseEstimator] | None
    # Regressors whose fit depends on the target's scale (a network's loss, SVR's epsilon) learn a
    # standardised target, inside the estimator so that predictions come back in the original units.
    scale_target: bool = False

    def estimator_class(self, task: str) -> type[BaseEstimator] | None:
        return self.classifier if task in CLASSIFICATION else self.regressor


FAMILIES: dict[str, Family] = {
    "logistic_regression": Family(LogisticRegression, None),
    "ridge": Family(None, Ridge),
    "lasso": Family(None, Lasso),
    "elastic_net": Family(None, ElasticNet),
    "knn": Family(KNeighborsClassifier, KNeighborsRegressor),
    "svm": Family(CalibratedSVC, SVR, scale_target=True),
    "random_forest": Family(RandomForestClassifier, RandomForestRegressor),
    "extra_trees": Family(ExtraTreesClassifier, ExtraTreesRegressor),
    "hist_gradient_boosting": Family(HistGradientBoostingClassifier, HistGradientBoostingRegressor),
    "mlp": Family(MLPClassifier, MLPRegressor, scale_target=True),
    "lightgbm": Family(LightGBMClassifier, LightGBMRegressor),
    "xgboost": Family(XGBoostClassifier, XGBoostRegressor),
    "catboost": Family(CatBoostClassifier, CatBoostRegressor),
}

# Set from data.seed, never from the model group, so one seed governs a whole run.
SEEDED_PARAM = "random_state"


def supports(name: str, task: str) -> bool:
    family = FAMILIES.get(name)
    return family is not None and family.estimator_class(task) is not None


def build_estimator(
    config: ModelConfig,
    task: str,
    seed: int,
    overrides: dict[str, Any] | None = None,
    class_weight: str | None = None,
) -> BaseEstimator:
    """The family's estimator for `task` with the config's hyperparameters (then `overrides`).

    Names and values are checked against the estimator's own constraints, so the error a user
    sees is scikit-learn's precise one, prefixed with the config key. A key that only the other
    task's variant takes (`probability` of SVC, say) is left out for this task.
    """
    family = FAMILIES.get(config.name)
    if family is None:
        raise UserError(f"model.name: unknown model {config.name!r}; accepted: auto, {', '.join(sorted(FAMILIES))}")
    estimator_class = family.estimator_class(task)
    if estimator_class is None:
        usable = sorted(name for name in FAMILIES if supports(name, task))
        raise UserError(f"model.name: {config.name!r} does not do {task}; use one of: {', '.join(usable)}")
    estimator = estimator_class()
    accepted = set(estimator.get_params()) - {SEEDED_PARAM}
    other = family.regressor if task in CLASSIFICATION else family.classifier
    other_accepted = set(other().get_params()) if other is not None else set()
    hyperparameters = {**config.hyperparameters, **(overrides or {})}
    for key in [*hyperparameters, *config.search_space]:
        if key not in accepted and key not in other_accepted:
            where = f"model.search_space.{key}" if key in config.search_space else f"model.{key}"
            raise UserError(
                f"{where}: unknown hyperparameter of {estimator_class.__name__}; "
                f"accepted: {', '.join(sorted(accepted))}"
            )
    hyperparameters = {key: value for key, value in hyperparameters.items() if key in accepted}
    if SEEDED_PARAM in estimator.get_params():
        hyperparameters[SEEDED_PARAM] = seed
    if class_weight is not None and "class_weight" in accepted:
        hyperparameters["class_weight"] = class_weight
    estimator.set_params(**hyperparameters)
    try:
        estimator._validate_params()
    except InvalidParameterError as error:
        key = next((k for k in hyperparameters if f"'{k}'" in str(error)), None)
        prefix = f"model.{key}: " if key else "model: "
        raise UserError(prefix + str(error)) from None
    if family.scale_target and task not in CLASSIFICATION:
        return TransformedTargetRegressor(regressor=estimator, transformer=StandardScaler())
    return estimator
