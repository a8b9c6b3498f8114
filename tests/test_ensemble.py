import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import Pipeline

from autotab.config import FeaturesConfig
from autotab.estimators.table_cleaner import TableCleaner
from autotab.metrics import oof_score
from autotab.modeling.ensemble import cross_fitted_blend, greedy_selection, soft_vote
from autotab.modeling.features import build_preprocessor

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


def soft_vote_data():
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"x": rng.normal(size=80), "z": rng.normal(size=80), "c": rng.choice(["a", "b"], 80)})
    y = np.where(X["x"] + rng.normal(scale=0.5, size=80) > 0, "pos", "neg")
    return X, y


def recipe(**settings):
    config = FeaturesConfig(numeric_imputer="median", missing_indicator=False, scaler="standard",
                            categorical_imputer="most_frequent", **settings)  # fmt: skip
    return build_preprocessor(TableCleaner(), config, "binary", 0)


def weighted_average_of_members(members, weights, X, y):
    """What the vote must equal: each member's own whole pipeline, fitted alone, averaged by weight."""
    total = sum(weights.values())
    return (
        sum(
            weights[name]
            * Pipeline([*clone(members[name][0]).steps, ("model", clone(members[name][1]))]).fit(X, y).predict_proba(X)
            for name in weights
        )
        / total
    )


def test_members_with_one_recipe_share_one_fitted_feature_step():
    X, y = soft_vote_data()
    members = {"logistic": (recipe(), LogisticRegression()), "knn": (recipe(), KNeighborsClassifier())}
    weights = {"logistic": 3, "knn": 1}
    model = soft_vote(members, weights, "binary").fit(X, y)
    assert list(model.named_steps) == ["clean", "encode", "budget", "model"]
    assert [name for name, _ in model.named_steps["model"].estimators] == ["logistic", "knn"]
    assert model.predict_proba(X).shape == (80, 2) and list(model.classes_) == ["neg", "pos"]
    np.testing.assert_allclose(model.predict_proba(X), weighted_average_of_members(members, weights, X, y))


def test_members_with_different_recipes_keep_their_own_feature_steps():
    X, y = soft_vote_data()
    members = {
        "logistic": (recipe(), LogisticRegression()),
        "knn": (recipe(), KNeighborsClassifier()),
        "tuned_logistic": (recipe(selection="kbest", kbest_k=1), LogisticRegression(C=0.1)),
    }
    weights = {"knn": 1, "logistic": 2, "tuned_logistic": 3}
    model = soft_vote(members, weights, "binary").fit(X, y)
    assert list(model.named_steps) == ["clean", "model"]
    vote = model.named_steps["model"]
    assert [name for name, _ in vote.estimators] == ["knn+logistic", "tuned_logistic"] and vote.weights == [3, 3]
    assert "select" in vote.named_estimators_["tuned_logistic"].named_steps
    np.testing.assert_allclose(model.predict_proba(X), weighted_average_of_members(members, weights, X, y))


SELECTION = {"task": "binary", "metric": "roc_auc", "classes": CLASSES, "positive": "pos"}


def test_the_cross_fitted_blend_loses_the_optimism_of_selecting_among_noise():
    """Members that know nothing: a blend chosen on all rows still looks better than its first
    member on those rows; the cross-fitted blend, scored on rows its selection never saw, does not."""
    rng = np.random.default_rng(0)
    y = pd.Series(rng.choice(CLASSES, 400))
    noise = {f"m{i}": member(rng, pd.Series(["neg"] * 400), 0.3) for i in range(8)}
    score = lambda p: oof_score(p, y, "binary", "roc_auc", CLASSES, "pos")  # noqa: E731
    weights, in_sample = greedy_selection(noise, y, "binary", "roc_auc", CLASSES, "pos", rounds=20)
    honest = cross_fitted_blend(noise, y, **SELECTION, rounds=20, seed=0)
    assert len(weights) > 1 and in_sample > 0.55
    assert abs(score(honest) - 0.5) < 0.05 and score(honest) < in_sample - 0.05
    again = cross_fitted_blend(noise, y, **SELECTION, rounds=20, seed=0)
    np.testing.assert_array_equal(honest, again)


def test_the_cross_fitted_blend_keeps_a_real_gain_of_blending():
    """Two members that each see half of the signal: their blend beats both, cross-fitted too."""
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=600), rng.normal(size=600)
    y = pd.Series(np.where(a + b + rng.normal(scale=0.5, size=600) > 0, "pos", "neg"))
    half = {name: np.column_stack([1 - 1 / (1 + np.exp(-x)), 1 / (1 + np.exp(-x))]) for name, x in (("a", a), ("b", b))}
    score = lambda p: oof_score(p, y, "binary", "roc_auc", CLASSES, "pos")  # noqa: E731
    honest = cross_fitted_blend(half, y, **SELECTION, rounds=10, seed=0)
    assert score(honest) > max(score(p) for p in half.values()) + 0.05
