"""The tune stage's choice between the best trial and the defaults, judged on fresh folds."""

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import f1_score

from autotab.config import ModelConfig
from autotab.data.splits import make_folds
from autotab.estimators.table_cleaner import TableCleaner
from autotab.modeling.features import build_preprocessor
from autotab.modeling.search import Outcome, Problem
from autotab.modeling.selection import Referee
from autotab.modeling.training import reseeded
from tests.support import FEATURES

LOGISTIC = ModelConfig(name="logistic_regression", C=1.0, max_iter=200, search_space={"C": {"low": 1e-3, "high": 10}})


@pytest.fixture(scope="module")
def problem() -> Problem:
    rng = np.random.default_rng(1)
    X = pd.DataFrame({"a": rng.normal(size=200), "b": rng.normal(size=200)})
    y = pd.Series(np.where(X["a"] + rng.normal(scale=1.0, size=200) > 0, "yes", "no"), name="target")
    recipe = build_preprocessor(TableCleaner(), FEATURES, "binary", 0)
    return Problem(X, y, "binary", "log_loss", make_folds("binary", 5, 0), recipe, 0, positive="yes")


def test_fresh_folds_are_the_same_kind_with_another_shuffle(problem):
    fresh = reseeded(problem.folds, 7)
    assert type(fresh) is type(problem.folds) and fresh.random_state == 7 and problem.folds.random_state == 0
    first = [test.tolist() for _, test in problem.folds.split(problem.X, problem.y)]
    again = [test.tolist() for _, test in fresh.split(problem.X, problem.y)]
    assert first != again


def referee(problem: Problem) -> Referee:
    return Referee(problem.y, "binary", "log_loss", np.array(["no", "yes"]), "yes", 1.0, 200, 0)


def test_the_defaults_themselves_gain_nothing_on_fresh_folds(problem):
    defaults = problem.fresh_oof(LOGISTIC, {}, {}, 2)
    again = problem.fresh_oof(LOGISTIC, {"C": 1.0}, {}, 2)
    assert len(defaults) == 2 and not np.allclose(defaults[0], defaults[1])  # two different splits
    step = referee(problem).judge("search", "logistic_regression", "tuned", again, defaults)
    assert (step.gain, step.se) == (0, 0) and not step.replaced


def test_a_worse_trial_loses_on_fresh_folds_too(problem):
    defaults = problem.fresh_oof(LOGISTIC, {}, {}, 2)
    squeezed = problem.fresh_oof(LOGISTIC, {"C": 1e-3}, {}, 2)  # C=0.001 squeezes the probabilities
    step = referee(problem).judge("search", "logistic_regression", "tuned", squeezed, defaults)
    assert step.gain < 0 and step.se > 0 and not step.replaced


def test_a_binary_model_is_served_with_the_label_cut_that_maximises_f1_out_of_fold(problem):
    oof = problem.cross_validate(LOGISTIC, {}, {}).oof
    outcome = Outcome(problem.pipeline(LOGISTIC, {}, {}), None, 0, "logistic_regression", {}, {}, "defaults", oof=oof)
    served, threshold = outcome.servable(problem)
    assert served.threshold == threshold and served.pos_label == "yes" and 0 < threshold < 1
    is_yes = problem.y.to_numpy() == "yes"
    f1 = {cut: f1_score(is_yes, oof[:, 1] >= cut) for cut in (threshold, 0.5, threshold - 0.05, threshold + 0.05)}
    assert f1[threshold] == max(f1.values())
    regression = replace(problem, task="regression")
    assert outcome.servable(regression) == (outcome.model, None)
