"""One module owns the metrics: names, directions, computation, and the scorer evaluate's
permutation importance uses, so `train.metric` means the same everywhere."""

import typing

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.metrics import log_loss, roc_auc_score
from sklearn.model_selection import FixedThresholdClassifier

from autotab import metrics
from autotab.config import TrainConfig
from autotab.reporting.evaluation import permutation_importance_rows


def test_every_configurable_metric_has_a_direction_and_every_task_metric_is_configurable():
    configurable = set(typing.get_args(TrainConfig.model_fields["metric"].annotation)) - {"auto"}
    assert configurable == set(metrics.LARGER_IS_BETTER)
    assert {m for task in metrics.TASK_METRICS.values() for m in task} == configurable
    assert set(metrics.PROBABILISTIC) | set(metrics.LABEL_METRICS) <= configurable


@pytest.fixture(scope="module")
def binary():
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"signal": rng.normal(size=400), "noise": rng.normal(size=400)})
    y = pd.Series(np.where(X["signal"] + rng.normal(scale=0.7, size=400) > 0.6, "yes", "no"))
    # A decision threshold far from 0.5: labels from `predict` differ from the argmax of the probabilities.
    model = FixedThresholdClassifier(LogisticRegression(), threshold=0.2, pos_label="yes").fit(X, y)
    return model, X, y


def test_the_holdout_scorer_scores_as_evaluate_does_with_the_models_own_labels(binary):
    model, X, y = binary
    proba, labels = model.predict_proba(X), model.predict(X)
    assert (labels != model.classes_[proba.argmax(axis=1)]).any()  # the threshold matters here
    holdout = metrics.classification_metrics(y, proba, model.classes_, "yes", labels)
    for metric in ("roc_auc", "log_loss", "accuracy", "f1_macro", "brier"):
        scorer = metrics.holdout_scorer(metric, "binary", positive="yes")
        assert scorer(model, X, y) == pytest.approx(metrics.maximisable(holdout[metric], metric), abs=1e-9)


def test_permutation_importance_follows_the_configured_metric(binary):
    model, X, y = binary
    columns = list(X.columns)
    by_auc = permutation_importance_rows(model, X, y, metrics.holdout_scorer("roc_auc", "binary", "yes"), 0, columns)
    by_accuracy = permutation_importance_rows(
        model, X, y, metrics.holdout_scorer("accuracy", "binary", "yes"), 0, columns
    )
    assert by_auc["feature"].iloc[0] == by_accuracy["feature"].iloc[0] == "signal"
    assert by_auc["importance"].iloc[0] != pytest.approx(by_accuracy["importance"].iloc[0], abs=1e-3)


def test_a_regression_scorer_is_signed_so_that_larger_is_better():
    rng = np.random.default_rng(1)
    X = pd.DataFrame({"x": rng.normal(size=200)})
    y = pd.Series(3 * X["x"] + rng.normal(size=200))
    model = Ridge().fit(X, y)
    rmse = metrics.regression_metrics(y, model.predict(X))["rmse"]
    assert metrics.holdout_scorer("rmse", "regression")(model, X, y) == pytest.approx(-rmse)
    assert metrics.oof_score(model.predict(X), y, "regression", "rmse", None, None) == pytest.approx(-rmse)


BATCHES = {"one batch": 5_000_000, "a probe a batch": 1, "three of the 10 probes a batch": 3 * 800}


@pytest.mark.parametrize("batch_cells", BATCHES.values(), ids=BATCHES.keys())
def test_permutation_importance_over_chosen_columns_is_scikit_learns(binary, batch_cells, monkeypatch):
    from sklearn.inspection import permutation_importance

    from autotab.reporting import evaluation

    monkeypatch.setattr(evaluation, "PROBE_BATCH_CELLS", batch_cells)  # the probes predicted in batches of any size
    model, X, y = binary
    scorer = metrics.holdout_scorer("roc_auc", "binary", "yes")
    theirs = permutation_importance(model, X, y, scoring=scorer, n_repeats=5, random_state=3)
    ours = permutation_importance_rows(model, X, y, scorer, 3, list(X.columns)[::-1]).set_index("feature")
    for position, column in enumerate(X.columns):
        assert ours.loc[column, "importance"] == pytest.approx(theirs.importances_mean[position], abs=1e-6)
        assert ours.loc[column, "std"] == pytest.approx(theirs.importances_std[position], abs=1e-6)


def test_a_large_holdout_is_probed_on_a_seeded_sample_that_ranks_the_columns_alike(binary):
    from autotab.reporting.evaluation import probed_rows

    model, X, y = binary
    assert probed_rows(X, y, 0, rows=len(X))[0] is X  # a holdout within the cap: every row
    sample, labels = probed_rows(X, y, 0, rows=len(X) // 2)
    again, _ = probed_rows(X, y, 0, rows=len(X) // 2)
    assert len(sample) == len(X) // 2 and sample.index.equals(again.index) and sample.index.is_monotonic_increasing
    assert labels.index.equals(sample.index)
    scorer = metrics.holdout_scorer("roc_auc", "binary", "yes")
    full = permutation_importance_rows(model, X, y, scorer, 0, list(X.columns))
    half = permutation_importance_rows(model, sample, labels, scorer, 0, list(X.columns))
    assert full["feature"].iloc[0] == half["feature"].iloc[0] == "signal"


def test_the_probed_sample_shrinks_with_the_probes_of_a_wide_table_within_its_bounds():
    from autotab.reporting import evaluation

    X = pd.DataFrame({"a": np.arange(50_000)})
    y = pd.Series(np.arange(50_000) % 2)
    assert len(evaluation.probed_rows(X, y, 0, probes=20 * 5)[0]) == evaluation.PROBED_ROWS  # 20 columns
    assert len(evaluation.probed_rows(X, y, 0, probes=200 * 5)[0]) == 1_000  # 1,000,000 predictions
    assert len(evaluation.probed_rows(X, y, 0, probes=2_000 * 5)[0]) == evaluation.MIN_PROBED_ROWS
    assert len(evaluation.probed_rows(X.iloc[:300], y.iloc[:300], 0, probes=2_000 * 5)[0]) == 300


def test_probing_the_cleaned_rows_is_probing_the_raw_ones_on_a_messy_table():
    """Cleaning is row by row: shuffling a raw column's rows and cleaning them gives the same
    predictions as cleaning once and shuffling the cleaned columns made from it (a date's parts
    together). Checked against scikit-learn's `permutation_importance` on the raw rows."""
    from sklearn.inspection import permutation_importance

    from autotab.config import load_config
    from autotab.data.row_cleaning import cleaner_recipe
    from autotab.modeling.features import build_preprocessor
    from autotab.modeling.training import whole_pipeline
    from tests.conftest import REPO

    raw = pd.read_csv(REPO / "data/raw/penguins_raw.csv")
    config = load_config(REPO / "params.yaml")
    data = config.data.model_copy(update={"target": "Species", "drop": [], "group": None})
    recipe = build_preprocessor(cleaner_recipe(data, config.clean), config.features, "multiclass", 0)
    X, y = raw.drop(columns="Species"), raw["Species"]
    model = whole_pipeline(recipe, LogisticRegression(max_iter=500)).fit(X.iloc[::2], y.iloc[::2])
    X_test, y_test = X.iloc[1::2].reset_index(drop=True), y.iloc[1::2].reset_index(drop=True)
    scorer = metrics.holdout_scorer("log_loss", "multiclass")
    theirs = permutation_importance(model, X_test, y_test, scoring=scorer, n_repeats=5, random_state=4)
    ours = permutation_importance_rows(model, X_test, y_test, scorer, 4, list(X.columns)).set_index("feature")
    assert ours.loc["Date Egg", "importance"] != 0  # a date: three cleaned columns shuffled together
    for position, column in enumerate(X.columns):
        assert ours.loc[column, "importance"] == pytest.approx(theirs.importances_mean[position], abs=1e-6), column


def test_binary_roc_auc_by_ranks_is_scikit_learns_ties_included_and_keeps_its_answers_to_bad_input():
    rng = np.random.default_rng(0)
    for case in range(300):
        n = int(rng.integers(2, 2000))
        y = (rng.random(n) < rng.uniform(0.05, 0.95)).astype(int)
        y[:2] = [0, 1]  # both classes
        score = rng.normal(size=n) + y * rng.uniform(0, 2)
        if case % 3 == 0:
            score = np.round(score, 1)  # ties, within and across the classes
        assert metrics.binary_roc_auc(y, score) == pytest.approx(roc_auc_score(y, score), abs=1e-12)
    with pytest.warns(UserWarning, match="Only one class"):  # scikit-learn's answer: undefined
        assert np.isnan(metrics.binary_roc_auc(np.ones(5, dtype=int), np.arange(5.0)))
    with pytest.raises(ValueError, match="NaN"):
        metrics.binary_roc_auc(np.array([0, 1, 0]), np.array([0.1, np.nan, 0.3]))


def test_log_loss_is_scikit_learns_to_the_bit_and_keeps_its_answers_to_bad_input():
    rng = np.random.default_rng(0)
    for case in range(300):
        n, k = int(rng.integers(2, 600)), int(rng.integers(2, 6))
        classes = np.array(sorted(rng.choice(["a", "b", "c", "d", "e", "zz"], k, replace=False)))
        y = rng.choice(classes, n)
        proba = rng.dirichlet(np.ones(k) * rng.choice([0.05, 1.0, 5.0]), n)
        if case % 5 == 0:
            proba[0] = np.eye(k)[-1]  # a certain answer, right or wrong: clipped to [eps, 1 - eps]
        labels = pd.Series(y, dtype="str") if case % 2 else y  # as the tune stage reads them, or not
        assert metrics.log_loss(labels, proba, classes) == log_loss(labels, proba, labels=classes)
    numbers = rng.integers(0, 3, 50)
    proba = rng.dirichlet(np.ones(3), 50)
    assert metrics.log_loss(numbers, proba, np.array([0, 1, 2])) == log_loss(numbers, proba, labels=[0, 1, 2])
    classes, proba = np.array(["x", "y"]), np.array([[0.5, 0.5], [0.2, 0.8]])
    with pytest.raises(ValueError, match="not belonging to the passed labels"):  # scikit-learn's own errors
        metrics.log_loss(np.array(["x", "q"]), proba, classes)
    with pytest.raises(ValueError, match="not belonging to the passed labels"):  # None does not sort among str
        metrics.log_loss(np.array(["x", None], dtype=object), proba, classes)
    with pytest.raises(ValueError, match="greater than 1"):
        metrics.log_loss(np.array(["x", "y"]), np.array([[1.5, -0.5], [0.2, 0.8]]), classes)
    with pytest.warns(UserWarning, match="do not sum to one"):
        metrics.log_loss(np.array(["x", "y"]), np.array([[0.5, 0.4], [0.2, 0.8]]), classes)
