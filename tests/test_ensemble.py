import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier

from autotab.cleaner import TableCleaner
from autotab.config import FeaturesConfig
from autotab.ensemble import greedy_selection, oof_score, soft_vote
from autotab.features import build_preprocessor

CLASSES = np.array(["neg", "pos"])


def member(rng, y, noise):
    p = np.clip((y == "pos").astype(float) + rng.normal(scale=noise, size=len(y)), 0.01, 0.99)
    return np.column_stack([1 - p, p])


@pytest.mark.parametrize("seed", range(5))
def test_the_ensemble_is_never_worse_than_its_best_member(seed):
    rng = np.random.default_rng(seed)
    y = pd.Series(rng.choice(CLASSES, 200))
    predictions = {f"m{i}": member(rng, y, noise) for i, noise in enumerate([0.4, 0.5, 0.6, 0.9])}
    weights, score = greedy_selection(predictions, y, "binary", "log_loss", CLASSES, "pos", rounds=15)
    best_single = max(oof_score(p, y, "binary", "log_loss", CLASSES, "pos") for p in predictions.values())
    assert score >= best_single
    assert sum(weights.values()) <= 15 and set(weights) <= set(predictions)


def test_a_useless_crowd_falls_back_to_the_one_good_member():
    rng = np.random.default_rng(0)
    y = pd.Series(rng.choice(CLASSES, 300))
    good = member(rng, y, 0.05)
    predictions = {"good": good, "coin": np.full_like(good, 0.5)}
    weights, _ = greedy_selection(predictions, y, "binary", "roc_auc", CLASSES, "pos", rounds=10)
    assert weights == {"good": 1}


def test_the_soft_vote_is_one_fitted_pipeline_with_the_cleaner_first():
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"x": rng.normal(size=80), "c": rng.choice(["a", "b"], 80)})
    y = np.where(X["x"] > 0, "pos", "neg")
    config = FeaturesConfig(numeric_imputer="median", missing_indicator=False, scaler="standard",
                            categorical_imputer="most_frequent")  # fmt: skip
    preprocessor = build_preprocessor(TableCleaner(), config, "binary", 0)
    members = {"logistic": (preprocessor, LogisticRegression()), "knn": (preprocessor, KNeighborsClassifier())}
    model = soft_vote(members, {"logistic": 3, "knn": 1}, "binary").fit(X, y)
    assert list(model.named_steps) == ["clean", "model"]
    assert model.predict_proba(X).shape == (80, 2) and list(model.classes_) == ["neg", "pos"]
