"""The tune stage's final choice between the best trial and the best defaults."""

import numpy as np
import optuna
import pandas as pd
import pytest

from autotab.cleaner import TableCleaner
from autotab.config import FeaturesConfig, ModelConfig
from autotab.features import build_preprocessor
from autotab.search import Problem, search_gain
from autotab.training import make_folds, reseeded

LOGISTIC = ModelConfig(name="logistic_regression", C=1.0, max_iter=200, search_space={"C": {"low": 1e-3, "high": 10}})
FEATURES = FeaturesConfig(
    numeric_imputer="median", missing_indicator=False, scaler="standard", categorical_imputer="most_frequent"
)


@pytest.fixture(scope="module")
def problem() -> Problem:
    rng = np.random.default_rng(1)
    X = pd.DataFrame({"a": rng.normal(size=200), "b": rng.normal(size=200)})
    y = pd.Series(np.where(X["a"] + rng.normal(scale=1.0, size=200) > 0, "yes", "no"), name="target")
    recipe = build_preprocessor(TableCleaner(), FEATURES, "binary", 0)
    return Problem(X, y, "binary", "log_loss", make_folds("binary", 5, 0), recipe, 0, positive="yes")


def trial_with(problem: Problem, C: float) -> optuna.trial.FrozenTrial:
    """A finished trial of the search for logistic regression with this C, scored on the search's folds."""
    scores = [problem.fold_score(LOGISTIC, {"C": C}, {}, fold) for fold in range(5)]
    running = {k: float(np.mean(scores[: k + 1])) for k in range(5)}
    return optuna.trial.create_trial(
        params={"family": "logistic_regression", "logistic_regression.C": C},
        distributions={
            "family": optuna.distributions.CategoricalDistribution(["logistic_regression"]),
            "logistic_regression.C": optuna.distributions.FloatDistribution(1e-3, 10),
        },
        value=float(np.mean(scores)),
        intermediate_values=running,
    )


def test_fresh_folds_are_the_same_kind_with_another_shuffle(problem):
    fresh = reseeded(problem.folds, 7)
    assert type(fresh) is type(problem.folds) and fresh.random_state == 7 and problem.folds.random_state == 0
    first = [test.tolist() for _, test in problem.folds.split(problem.X, problem.y)]
    again = [test.tolist() for _, test in fresh.split(problem.X, problem.y)]
    assert first != again


def test_the_defaults_themselves_gain_nothing_on_any_fold(problem):
    configs = {"logistic_regression": LOGISTIC}
    for repeats in (0, 2):
        gain = search_gain(problem, configs, "logistic_regression", trial_with(problem, 1.0), repeats)
        assert len(gain) == 5 * max(repeats, 1) and np.allclose(gain, 0)


def test_a_worse_trial_loses_on_fresh_folds_too(problem):
    configs = {"logistic_regression": LOGISTIC}
    gain = search_gain(problem, configs, "logistic_regression", trial_with(problem, 1e-3), 2)
    assert len(gain) == 10 and gain.mean() < 0  # C=0.001 squeezes the probabilities: worse log loss
