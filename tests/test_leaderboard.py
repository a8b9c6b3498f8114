import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.dummy import DummyClassifier
from sklearn.linear_model import LogisticRegression

from autotab import leaderboard
from autotab.cleaner import TableCleaner
from autotab.config import FeaturesConfig
from autotab.errors import UserError
from autotab.features import build_preprocessor
from autotab.training import make_folds

FEATURES = FeaturesConfig(
    numeric_imputer="median", missing_indicator=False, scaler="standard", categorical_imputer="most_frequent"
)


class Broken(ClassifierMixin, BaseEstimator):
    def fit(self, X, y):
        raise ValueError("cannot handle this data\nsecond line")


def data(n=90):
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"x": rng.normal(size=n), "c": rng.choice(["a", "b"], n)})
    y = pd.Series(np.where(X["x"] + rng.normal(scale=0.5, size=n) > 0, "pos", "neg"))
    return X, y


def rank(candidates, n_jobs=1):
    X, y = data()
    preprocessor = build_preprocessor(TableCleaner(), FEATURES, "binary", 0)
    folds = make_folds("binary", 3, seed=0)
    return leaderboard.rank(candidates, preprocessor, X, y, "binary", folds, "roc_auc", positive="pos", n_jobs=n_jobs)


def test_ranked_best_first_with_a_failure_recorded_last():
    table, results = rank({"broken": Broken(), "dummy": DummyClassifier(), "logistic": LogisticRegression()})
    assert table["model"].tolist() == ["logistic", "dummy", "broken"]
    assert table["rank"].tolist()[:2] == [1, 2] and pd.isna(table["rank"].iloc[2])
    assert table.loc[2, "status"] == "failed" and table.loc[2, "error"] == "ValueError: cannot handle this data"
    assert set(results) == {"logistic", "dummy"}
    assert table.loc[0, "roc_auc_mean"] > 0.8 and table.loc[1, "roc_auc_mean"] == 0.5
    assert {"log_loss_mean", "log_loss_std", "accuracy_mean", "brier_mean"} <= set(table.columns)


def test_the_same_folds_give_the_same_board_in_parallel():
    candidates = {"dummy": DummyClassifier(), "logistic": LogisticRegression()}
    serial, _ = rank(candidates)
    parallel, _ = rank(candidates, n_jobs=2)
    pd.testing.assert_frame_equal(serial, parallel)


def test_all_failing_is_an_error():
    with pytest.raises(UserError, match="every candidate model failed: broken: ValueError"):
        rank({"broken": Broken()})


def test_out_of_fold_predictions_and_markdown():
    table, results = rank({"logistic": LogisticRegression()})
    _, y = data()
    oof = leaderboard.oof_frame(results, y)
    assert list(oof.columns) == ["target", "logistic__neg", "logistic__pos"]
    assert np.allclose(oof[["logistic__neg", "logistic__pos"]].sum(axis=1), 1.0)
    text = leaderboard.markdown(table, "binary", "roc_auc")
    assert text.splitlines()[0].startswith("| rank | model | roc_auc (primary) | log_loss")
    assert " ± " in text.splitlines()[2]
