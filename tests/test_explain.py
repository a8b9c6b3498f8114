"""Explanations: for every family the zoo serves, in every task it does, the base value plus the
contributions equals the model's output (local accuracy), per raw column the user sent."""

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import TransformedTargetRegressor
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.model_selection import FixedThresholdClassifier
from sklearn.neighbors import KNeighborsClassifier
from sklearn.preprocessing import StandardScaler

from autotab.config import FeaturesConfig
from autotab.estimators.calibration import TemperatureScaled
from autotab.estimators.table_cleaner import TableCleaner
from autotab.explaining.attributions import (
    antithetic_orders,
    linear_attribution,
    loads_shap,
    permutation_attribution,
)
from autotab.explaining.explainer import Explainer, background_sample
from autotab.explaining.provenance import used_columns
from autotab.modeling.ensemble import soft_vote
from autotab.modeling.features import build_preprocessor
from autotab.modeling.training import whole_pipeline
from autotab.modeling.zoo import FAMILIES
from autotab.reporting import evaluation

TOLERANCE = 1e-6
# Small and fast: the attributions' exactness does not depend on a model's size.
SMALL = {"n_estimators": 15}


def table(n=160, seed=0):
    """A signal column, a noise column with missing values, a categorical one, and a raw text
    number; the target depends on the first and the category."""
    rng = np.random.default_rng(seed)
    signal = rng.normal(size=n)
    colour = rng.choice(["red", "blue", "green"], n)
    noise = np.where(rng.random(n) < 0.1, np.nan, rng.normal(size=n))
    X = pd.DataFrame({"signal": signal, "noise": noise, "colour": colour,
                      "size": [f"{v:.2f}" for v in rng.normal(size=n)]})  # fmt: skip
    latent = 2 * signal + (colour == "red") + 0.3 * rng.normal(size=n)
    return X, latent


def target(latent, task):
    if task == "regression":
        return latent
    if task == "binary":
        return np.where(latent > 0.3, "yes", "no")
    return np.digitize(latent, [-1.0, 1.0]).astype(str)


def pipeline_for(model, task, **features):
    config = FeaturesConfig(**{"numeric_imputer": "median", "missing_indicator": True, "scaler": "standard",
                               "categorical_imputer": "most_frequent", **features})  # fmt: skip
    return whole_pipeline(build_preprocessor(TableCleaner(), config, task, 0), model)


def small(family, task):
    estimator_class = FAMILIES[family].estimator_class(task)
    estimator = estimator_class()
    params = {k: v for k, v in SMALL.items() if k in estimator.get_params()}
    if "random_state" in estimator.get_params():
        params["random_state"] = 0
    estimator.set_params(**params)
    if FAMILIES[family].scale_target and task == "regression":
        return TransformedTargetRegressor(regressor=estimator, transformer=StandardScaler())
    return estimator


def served_output(model, X, explanation):
    """What the explanation claims to explain, computed from the model's own predictions."""
    if explanation.output == "target":
        return model.predict(X)
    proba = model.predict_proba(X)
    column = np.searchsorted(model.classes_, explanation.explained)
    p = proba[np.arange(len(X)), column]
    if explanation.output == "probability":
        return p
    if explanation.output == "log_odds":
        return np.log(p) - np.log1p(-p)
    raise AssertionError(explanation.output)


def softmax_scores_match(model, explainer, X):
    """Several classes' softmax scores: explained for every class, their softmax is the model's probabilities."""
    scores = np.column_stack([explainer.explain(X, labels=np.full(len(X), c)).value for c in model.classes_])
    scores = np.exp(scores - scores.max(axis=1, keepdims=True))
    np.testing.assert_allclose(scores / scores.sum(axis=1, keepdims=True), model.predict_proba(X), atol=TOLERANCE)


CASES = [(f, t) for f in sorted(FAMILIES) for t in ("binary", "multiclass", "regression")
         if FAMILIES[f].estimator_class(t) is not None]  # fmt: skip


@pytest.mark.parametrize(("family", "task"), CASES, ids=[f"{f}-{t}" for f, t in CASES])
def test_base_plus_contributions_is_the_models_output(family, task):
    X, latent = table()
    y = target(latent, task)
    model = pipeline_for(small(family, task), task).fit(X, y)
    explainer = Explainer(model, background_sample(X, 0))
    rows = X.iloc[:25]
    explanation = explainer.explain(rows)
    assert explanation.columns == ["signal", "noise", "colour", "size"]
    assert explanation.contributions.shape == (25, 4)
    if explanation.output == "softmax_score":
        softmax_scores_match(model, explainer, rows)
    else:
        np.testing.assert_allclose(explanation.value, served_output(model, rows, explanation), atol=TOLERANCE)
    exact = family not in ("knn", "svm", "mlp")
    assert ("permutation" not in explanation.method) == exact, explanation.method
    # The signal moves the output more than the noise does, whichever way each record leans.
    magnitude = np.abs(explanation.contributions).mean(axis=0)
    assert magnitude[0] > magnitude[1]


def test_a_margin_is_explained_in_log_odds_of_the_positive_class_even_the_first():
    X, latent = table()
    y = target(latent, "binary")
    for positive in ("yes", "no"):
        model = FixedThresholdClassifier(
            pipeline_for(LogisticRegression(), "binary"), threshold=0.4, pos_label=positive,
            response_method="predict_proba",
        ).fit(X, y)  # fmt: skip
        explanation = Explainer(model, background_sample(X, 0)).explain(X)
        assert explanation.output == "log_odds" and set(explanation.explained) == {positive}
        assert explanation.method == "linear"
        np.testing.assert_allclose(explanation.value, served_output(model, X, explanation), atol=TOLERANCE)
        sign = 1 if positive == "yes" else -1  # more signal, more "yes"
        assert sign * np.corrcoef(explanation.contributions[:, 0], X["signal"])[0, 1] > 0.99


def test_a_temperature_divides_the_margin_and_its_contributions():
    X, latent = table()
    y = target(latent, "multiclass")
    raw = pipeline_for(LogisticRegression(), "multiclass").fit(X, y)
    scaled = pipeline_for(TemperatureScaled(LogisticRegression(), temperature=2.5), "multiclass").fit(X, y)
    background = background_sample(X, 0)
    plain, softened = Explainer(raw, background).explain(X), Explainer(scaled, background).explain(X)
    assert softened.output == "softmax_score"
    np.testing.assert_allclose(softened.contributions, plain.contributions / 2.5, atol=1e-12)
    softmax_scores_match(scaled, Explainer(scaled, background), X.iloc[:20])


def test_a_temperature_over_probabilities_is_sampled_exactly_in_total():
    X, latent = table()
    y = target(latent, "binary")
    model = pipeline_for(TemperatureScaled(FAMILIES["random_forest"].classifier(n_estimators=10, random_state=0),
                                           temperature=0.7), "binary").fit(X, y)  # fmt: skip
    explanation = Explainer(model, background_sample(X, 0)).explain(X.iloc[:30])
    assert (explanation.output, explanation.method) == ("probability", "permutation")
    np.testing.assert_allclose(explanation.value, served_output(model, X.iloc[:30], explanation), atol=TOLERANCE)


@pytest.mark.parametrize("task", ["binary", "multiclass", "regression"])
def test_an_ensemble_is_the_weighted_sum_of_its_members(task):
    """Members with two feature recipes (a vote of votes) and one exact member: the ensemble's
    attributions are its members', weighted, and add up to its output."""
    X, latent = table()
    y = target(latent, task)
    forest = FAMILIES["random_forest"].estimator_class(task)(n_estimators=10, random_state=0)
    linear = Ridge() if task == "regression" else LogisticRegression()
    knn = FAMILIES["knn"].estimator_class(task)()
    recipe = pipeline_for(linear, task)[:-1]
    other = pipeline_for(linear, task, scaler="minmax")[:-1]
    members = {"forest": (recipe, forest), "linear": (recipe, linear), "knn": (other, knn)}
    model = soft_vote(members, {"forest": 2, "linear": 1, "knn": 1}, task).fit(X, y)
    explanation = Explainer(model, background_sample(X, 0)).explain(X.iloc[:30])
    expected_output = "target" if task == "regression" else "probability"
    assert explanation.output == expected_output
    assert "tree_shap" in explanation.method and "permutation" in explanation.method
    np.testing.assert_allclose(explanation.value, served_output(model, X.iloc[:30], explanation), atol=TOLERANCE)


def test_sampled_values_of_an_additive_model_are_its_exact_shapley_values():
    """Along any order an additive model's players each bring the same change: sampling must
    find the linear model's exact attributions, whatever the permutations."""
    rng = np.random.default_rng(1)
    frame = pd.DataFrame(rng.normal(size=(200, 5)), columns=list("abcde"))
    model = Ridge().fit(frame.to_numpy(), frame.to_numpy() @ np.array([1.0, -2.0, 0.5, 0.0, 3.0]))
    background = frame.iloc[:40]
    exact_base, exact = linear_attribution(model, frame.to_numpy()[:10], background.to_numpy().mean(axis=0))
    base, sampled = permutation_attribution(
        lambda f: model.predict(f.to_numpy())[:, None], frame.iloc[:10], background,
        [[c] for c in frame.columns], antithetic_orders(5, 1, seed=3),
    )  # fmt: skip
    np.testing.assert_allclose(sampled, exact, atol=1e-9)
    np.testing.assert_allclose(base, exact_base, atol=1e-9)


def test_a_step_that_mixes_columns_is_explained_by_sampling_the_raw_columns():
    X, latent = table()
    y = target(latent, "binary")
    model = pipeline_for(LogisticRegression(), "binary", pca=3).fit(X, y)
    explanation = Explainer(model, background_sample(X, 0)).explain(X.iloc[:20])
    assert (explanation.output, explanation.method) == ("probability", "permutation")
    np.testing.assert_allclose(explanation.value, served_output(model, X.iloc[:20], explanation), atol=TOLERANCE)


def test_a_forest_grown_on_many_rows_is_sampled_where_exact_tree_shap_would_cost_more():
    """Exact tree SHAP costs leaves x depth^2 a tree: on a fully grown forest of thousands of noisy
    rows, seconds a record. There sampling costs less, and the sum stays exact."""
    X, latent = table(n=4000)
    y = target(latent + np.random.default_rng(5).normal(scale=2.0, size=len(X)), "binary")  # noisy: deep trees
    forest = FAMILIES["extra_trees"].classifier(n_estimators=10, random_state=0)
    model = pipeline_for(forest, "binary").fit(X, y)
    explanation = Explainer(model, background_sample(X, 0)).explain(X.iloc[:10])
    assert (explanation.output, explanation.method) == ("probability", "permutation")
    np.testing.assert_allclose(explanation.value, served_output(model, X.iloc[:10], explanation), atol=TOLERANCE)
    small = pipeline_for(FAMILIES["extra_trees"].classifier(n_estimators=10, random_state=0), "binary")
    small.fit(X.iloc[:160], y[:160])
    assert Explainer(small, background_sample(X, 0)).explain(X.iloc[:10]).method == "tree_shap"


def test_a_model_that_loads_the_shap_library_is_known_before_it_is_explained():
    """The Kubernetes manifests reserve memory for it per worker (`autotab deploy k8s`)."""
    X, latent = table()
    y = target(latent, "binary")
    forest = FAMILIES["random_forest"].classifier(n_estimators=5, random_state=0)
    assert loads_shap(pipeline_for(forest, "binary").fit(X, y))
    assert not loads_shap(pipeline_for(LogisticRegression(), "binary").fit(X, y))
    recipe = pipeline_for(forest, "binary")[:-1]
    voted = soft_vote({"f": (recipe, forest), "l": (recipe, LogisticRegression())}, {"f": 1, "l": 1}, "binary")
    assert loads_shap(FixedThresholdClassifier(voted, pos_label="yes").fit(X, y))


def test_a_dates_parts_are_one_column_and_explanations_do_not_depend_on_the_batch():
    X, latent = table()
    X["seen"] = pd.date_range("2020-01-01", periods=len(X), freq="D").strftime("%Y-%m-%d")
    y = target(latent, "binary")
    model = pipeline_for(FAMILIES["knn"].classifier(), "binary").fit(X, y)
    explainer = Explainer(model, background_sample(X, 0))
    together = explainer.explain(X.iloc[:12])
    assert together.columns == ["signal", "noise", "colour", "size", "seen"]
    alone = np.vstack([explainer.explain(X.iloc[[i]]).contributions for i in range(3)])
    np.testing.assert_allclose(alone, together.contributions[:3], atol=1e-12)


class CountingKNN(KNeighborsClassifier):
    """k-nearest neighbours (explained by sampling) that counts the rows it is asked about."""

    asked = 0

    def predict_proba(self, X):
        CountingKNN.asked += len(X)
        return super().predict_proba(X)


@pytest.mark.parametrize("imputer", ["median", "knn"])
def test_a_column_the_selection_dropped_is_no_player_of_the_sampling(imputer):
    """Sampling gives a column that no feature the model sees comes from a share of exactly 0 without
    running the model for it (most of a wide table's columns, behind the column budget); the sum stays
    exact. Not where an imputer fills a column's gaps from the others': there every column may count."""
    X, latent = table()
    noise = pd.DataFrame(np.random.default_rng(2).normal(size=(len(X), 8)), columns=[f"n{i}" for i in range(8)])
    X = pd.concat([X, noise], axis=1)
    y = target(latent, "binary")
    model = pipeline_for(CountingKNN(), "binary", numeric_imputer=imputer, selection="kbest", kbest_k=3).fit(X, y)
    dropped = set(X.columns) - used_columns(model.steps[1:-1]) if imputer == "median" else set()
    assert (imputer == "knn") == (used_columns(model.steps[1:-1]) is None)
    CountingKNN.asked = 0
    explanation = Explainer(model, background_sample(X, 0)).explain(X.iloc[:5])
    assert explanation.method == "permutation"
    np.testing.assert_allclose(explanation.value, served_output(model, X.iloc[:5], explanation), atol=TOLERANCE)
    contributions = pd.DataFrame(explanation.contributions, columns=explanation.columns)
    players = len(X.columns) - len(dropped)
    if imputer == "median":
        assert len(dropped) >= 8 and (contributions[sorted(dropped)] == 0).all().all()
        assert (contributions["signal"] != 0).all()
    # 4 permutations of the players, each step averaged over the background rows.
    background_rows = min(100, 20_000 // (4 * (players + 1)))
    assert CountingKNN.asked == 5 * 4 * (players + 1) * background_rows + 5  # + the served output above


def test_the_holdouts_contribution_importance_explains_a_capped_seeded_sample():
    """A per-column summary: at most MAX_EXPLAINED records, fewer where sampling each would run more
    than the rows budget through the model (never under MIN_EXPLAINED), the same seeded ones each run;
    every record of a small holdout."""
    X, latent = table(n=700)
    y = target(latent, "binary")
    model = pipeline_for(KNeighborsClassifier(), "binary").fit(X, y)  # explained by sampling
    explainer = Explainer(model, background_sample(X, 0), seed=0)
    table_all, output, explained = evaluation.contribution_importance(explainer, X.iloc[:50], seed=0)
    assert explained == 50 and output == "probability" and set(table_all["feature"]) == set(X.columns)
    first, _, explained = evaluation.contribution_importance(explainer, X, seed=0)
    by_budget = evaluation.EXPLAINED_ROWS_BUDGET // explainer.sampled_rows_per_record
    assert explained == min(evaluation.MAX_EXPLAINED, max(evaluation.MIN_EXPLAINED, by_budget)) < len(X)
    again, _, _ = evaluation.contribution_importance(explainer, X, seed=0)
    pd.testing.assert_frame_equal(first, again)
