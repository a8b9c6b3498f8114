"""The Predictor cleans once and scores the cleaned rows exactly as the whole model scores raw rows."""

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.model_selection import FixedThresholdClassifier

from autotab.config import FeaturesConfig, load_config
from autotab.estimators.calibration import TemperatureScaled
from autotab.estimators.table_cleaner import TableCleaner
from autotab.modeling.features import build_preprocessor
from autotab.modeling.training import whole_pipeline
from autotab.modeling.zoo import FAMILIES, build_estimator, supports
from autotab.serving.predictor import Predictor, classify, labelled_answers


def raw_table(n=120, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    X = pd.DataFrame(
        {
            "Size (cm)": [f" {v:.3f} " if i % 7 else "?" for i, v in enumerate(x)],  # text, with a missing marker
            "Colour": rng.choice(["Red", "red ", "Blue", None], n),
            "z": rng.normal(size=n),
        }
    )
    return X, x


def pipeline_for(model, task):
    config = FeaturesConfig(numeric_imputer="median", missing_indicator=True, scaler="standard",
                            categorical_imputer="most_frequent")  # fmt: skip
    recipe = build_preprocessor(TableCleaner(), config, task, 0)
    return whole_pipeline(recipe, model)


# A log-loss table's model is served temperature-scaled (autotab.estimators.calibration): the same scoring applies.
CLASSIFIERS = {
    "raw": LogisticRegression,
    "temperature-scaled": lambda: TemperatureScaled(LogisticRegression(), temperature=0.5),
}


@pytest.mark.parametrize("classifier", CLASSIFIERS.values(), ids=CLASSIFIERS)
def test_a_thresholded_binary_model_gives_its_own_labels_and_probabilities(classifier):
    X, x = raw_table()
    y = np.where(x > 0.3, "yes", "no")
    model = FixedThresholdClassifier(
        pipeline_for(classifier(), "binary"), threshold=0.3, pos_label="yes", response_method="predict_proba"
    ).fit(X, y)
    scorer = Predictor(model)
    labels, proba = scorer.classify(scorer.clean(X))
    np.testing.assert_array_equal(proba, model.predict_proba(X))
    np.testing.assert_array_equal(labels, model.predict(X))
    np.testing.assert_array_equal(scorer.predict(scorer.clean(X)), model.predict(X))
    assert (labels == "yes").sum() > (proba.argmax(axis=1) == 1).sum()  # the 0.3 cut is applied, not argmax


@pytest.mark.parametrize("classifier", CLASSIFIERS.values(), ids=CLASSIFIERS)
def test_a_model_without_a_threshold_gives_its_own_labels(classifier):
    X, x = raw_table()
    y = np.digitize(x, [-0.5, 0.5]).astype(str)
    model = pipeline_for(classifier(), "multiclass").fit(X, y)
    labels, proba = classify(model, X)
    np.testing.assert_array_equal(labels, model.predict(X))
    np.testing.assert_array_equal(proba, model.predict_proba(X))


def test_a_regressor_predicts_values():
    X, x = raw_table()
    model = pipeline_for(Ridge(), "regression").fit(X, 2 * x)
    scorer = Predictor(model)
    np.testing.assert_array_equal(scorer.predict(scorer.clean(X)), model.predict(X))


def test_a_threshold_on_another_response_is_refused():
    X, x = raw_table()
    model = FixedThresholdClassifier(pipeline_for(LogisticRegression(), "binary"), response_method="decision_function")
    with pytest.raises(ValueError, match="predict_proba"):
        Predictor(model.fit(X, x > 0))


def test_answers_carry_plain_labels_and_probabilities_keyed_by_class_name():
    proba = np.array([[0.1234564999, 0.8765435001], [0.5, 0.5]])
    answers = labelled_answers(np.array([1, 0]), proba, np.array([0, 1]))
    assert answers[1] == {"label": 0, "probabilities": {"0": 0.5, "1": 0.5}}
    assert type(answers[0]["label"]) is int  # JSON-ready, not a NumPy scalar
    for answer, row in zip(answers, proba, strict=True):
        assert list(answer["probabilities"]) == ["0", "1"]
        np.testing.assert_allclose(list(answer["probabilities"].values()), row, atol=5e-7)


@pytest.mark.parametrize("family", sorted(f for f in FAMILIES if supports(f, "multiclass")))
def test_every_zoo_classifier_labels_by_its_most_probable_class(family):
    """Predictor.classify takes labels from the probabilities' argmax instead of calling predict."""
    X, x = raw_table(n=150)
    y = np.digitize(x + np.random.default_rng(1).normal(scale=0.5, size=len(x)), [-0.5, 0.5]).astype(str)
    model = pipeline_for(build_estimator(load_config().zoo[family], "multiclass", 0), "multiclass").fit(X, y)
    labels, proba = classify(model, X)
    np.testing.assert_array_equal(labels, model.predict(X))
    np.testing.assert_array_equal(proba, model.predict_proba(X))
