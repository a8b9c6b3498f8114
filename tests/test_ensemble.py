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


@pytest.mark.parametrize("bags", [0, 10])
@pytest.mark.parametrize("seed", range(5))
def test_the_ensemble_is_never_worse_than_its_best_member(seed, bags):
    rng = np.random.default_rng(seed)
    y = pd.Series(rng.choice(CLASSES, 200))
    predictions = {f"m{i}": member(rng, y, noise) for i, noise in enumerate([0.4, 0.5, 0.6, 0.9])}
    weights, score = greedy_selection(predictions, y, "binary", "log_loss", CLASSES, "pos", rounds=15, bags=bags)
    best_single = max(oof_score(p, y, "binary", "log_loss", CLASSES, "pos") for p in predictions.values())
    blend = sum(predictions[name] * n for name, n in weights.items()) / sum(weights.values())
    assert score >= best_single and score == oof_score(blend, y, "binary", "log_loss", CLASSES, "pos")
    assert set(weights) <= set(predictions)
    assert sum(weights.values()) <= 15 * max(bags, 1) and np.gcd.reduce(list(weights.values())) == 1


def test_bagged_selection_is_seeded_and_spreads_weight_over_resamples():
    rng = np.random.default_rng(3)
    y = pd.Series(rng.choice(CLASSES, 150))
    predictions = {f"m{i}": member(rng, y, noise) for i, noise in enumerate([0.5, 0.5, 0.55, 0.6])}
    bagged = [
        greedy_selection(predictions, y, "binary", "log_loss", CLASSES, "pos", 10, bags=8, seed=seed)
        for seed in (1, 1, 2)
    ]
    assert bagged[0] == bagged[1] and bagged[0][0] != bagged[2][0]
    one_pass, _ = greedy_selection(predictions, y, "binary", "log_loss", CLASSES, "pos", 10)
    # Members of similar quality: each resample favours others, so more of them carry weight.
    assert len(bagged[0][0]) >= len(one_pass) and len(bagged[0][0]) > 1


def test_a_useless_crowd_falls_back_to_the_one_good_member():
    rng = np.random.default_rng(0)
    y = pd.Series(rng.choice(CLASSES, 300))
    good = member(rng, y, 0.05)
    predictions = {"good": good, "coin": np.full_like(good, 0.5)}
    for bags in (0, 10):
        weights, _ = greedy_selection(predictions, y, "binary", "roc_auc", CLASSES, "pos", rounds=10, bags=bags)
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
