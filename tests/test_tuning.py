import pandas as pd
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_val_score

from autotab.config import ModelConfig
from autotab.training import make_folds
from autotab.tuning import run_study, trials_table

MODEL = ModelConfig(name="logistic_regression", C=1.0, search_space={"C": {"low": 0.001, "high": 100.0, "log": True}})


def scorer():
    X, y = make_classification(n_samples=120, n_features=6, random_state=0)
    folds = make_folds("binary", 3, seed=0)

    def score(params):
        return cross_val_score(LogisticRegression(**params), X, y, cv=folds, scoring="roc_auc").mean()

    return score


def test_the_defaults_are_the_first_trial_and_the_study_is_deterministic():
    first = run_study(MODEL, scorer(), n_trials=6, seed=11)
    second = run_study(MODEL, scorer(), n_trials=6, seed=11)
    assert first.trials[0].params == {"C": 1.0}
    assert first.best_params == second.best_params
    pd.testing.assert_frame_equal(trials_table(first), trials_table(second))


def test_trials_table_has_no_time_columns():
    table = trials_table(run_study(MODEL, scorer(), n_trials=3, seed=0))
    assert list(table.columns) == ["number", "state", "value", "C"]
    assert len(table) == 3
