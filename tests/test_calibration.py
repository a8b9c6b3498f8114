"""Temperature scaling: the fit, the cross-fitted judgement, the estimator it is served in, and the
search judging each side of a log-loss choice in its served form."""

import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from autotab.config import FeaturesConfig, TuneConfig, load_config
from autotab.data.splits import make_folds
from autotab.estimators.calibration import TemperatureScaled, cross_fitted, fit_temperature, soften
from autotab.estimators.table_cleaner import TableCleaner
from autotab.modeling import leaderboard
from autotab.modeling.features import build_preprocessor
from autotab.modeling.search import Problem, search
from autotab.modeling.selection import Referee
from autotab.modeling.zoo import build_estimator

ROOT = Path(__file__).resolve().parents[1]
CLASSES = np.array(["a", "b", "c"])


def calibrated_table(rows: int, seed: int) -> tuple[np.ndarray, pd.Series]:
    """True class probabilities and labels drawn from them: predictions that are calibrated by
    construction."""
    rng = np.random.default_rng(seed)
    truth = soften(np.exp(rng.normal(scale=2.5, size=(rows, 3))), 1.0)
    labels = np.array([rng.choice(3, p=p) for p in truth])
    return truth, pd.Series(CLASSES[labels])


def test_soften_keeps_each_rows_ranking_and_sums_to_one_and_a_temperature_of_one_changes_nothing():
    proba, _ = calibrated_table(50, 0)
    for temperature in (0.3, 1.0, 4.0):
        softened = soften(proba, temperature)
        assert np.allclose(softened.sum(axis=1), 1.0)
        assert (softened.argmax(axis=1) == proba.argmax(axis=1)).all()
    assert np.allclose(soften(proba, 1.0), proba)
    assert soften(proba, 4.0).max(axis=1).mean() < proba.max(axis=1).mean() < soften(proba, 0.3).max(axis=1).mean()


@pytest.mark.parametrize("distortion", [0.4, 1.0, 2.5])
def test_the_fitted_temperature_undoes_a_known_distortion(distortion):
    truth, y = calibrated_table(4000, 1)
    # Predictions that are too bold (distortion < 1) or too timid (> 1): the fit finds the inverse.
    fitted = fit_temperature(soften(truth, distortion), y, CLASSES)
    assert fitted == pytest.approx(1 / distortion, rel=0.15)


def test_cross_fitted_calibration_never_uses_a_rows_own_label():
    truth, y = calibrated_table(200, 2)
    timid = soften(truth, 3.0)
    before = cross_fitted(timid, y, CLASSES, seed=0)
    flipped = y.copy()
    flipped.iloc[0] = "a" if y.iloc[0] != "a" else "b"
    after = cross_fitted(timid, flipped, CLASSES, seed=0)
    assert np.array_equal(before[0], after[0])  # row 0's temperature was fitted on other rows only
    assert not np.array_equal(before, after)  # other rows' temperatures did see it
    assert np.array_equal(before, cross_fitted(timid, y, CLASSES, seed=0))  # seeded


def test_a_temperature_scaled_classifier_softens_probabilities_keeps_labels_clones_and_pickles():
    rng = np.random.default_rng(3)
    X = pd.DataFrame(rng.normal(size=(150, 3)), columns=["p", "q", "r"])
    y = pd.Series(CLASSES[(X["p"] > 0).to_numpy(int) + (X["q"] > 0.5).to_numpy(int)])
    raw = Pipeline([("scale", StandardScaler()), ("model", LogisticRegression())]).fit(X, y)
    scaled = Pipeline([("scale", StandardScaler()), ("model", TemperatureScaled(LogisticRegression(), 0.5))])
    scaled.fit(X, y)
    assert np.allclose(scaled.predict_proba(X), soften(raw.predict_proba(X), 0.5))
    assert (scaled.predict(X) == raw.predict(X)).all() and list(scaled.classes_) == list(raw.classes_)
    assert clone(scaled).get_params()["model__temperature"] == 0.5
    assert np.array_equal(pickle.loads(pickle.dumps(scaled)).predict_proba(X), scaled.predict_proba(X))


def test_a_timid_model_is_calibrated_and_then_a_bolder_equal_one_no_longer_beats_it():
    truth, y = calibrated_table(400, 4)
    timid, bold = soften(truth, 2.5), truth  # the same knowledge, stated with less and more confidence
    raw = Referee(y, "multiclass", "log_loss", CLASSES, None, 2.0, 200, 0)
    served = Referee(y, "multiclass", "log_loss", CLASSES, None, 2.0, 200, 0, calibrates=True)
    step, _ = served.calibration([timid])
    assert step.replaced and step.threshold == 0.0 and step.gain > 0
    assert raw.judge("search", "timid", "bold", [bold], [timid]).replaced  # raw, boldness alone wins
    judged = served.judge("search", "timid", "bold", [bold], [timid])
    assert not judged.replaced and abs(judged.gain) < judged.se * 2


def run_search(calibrate: bool):
    """The tune stage's search end to end on a three-class log-loss table in memory."""
    rng = np.random.default_rng(7)
    X = pd.DataFrame(rng.normal(size=(150, 4)), columns=["w", "x", "y", "z"])
    logits = np.column_stack([X["w"], X["x"] - X["w"], 0.5 * X["y"]]) * 8  # nearly separable: C=1 is timid
    y = pd.Series(CLASSES[[rng.choice(3, p=p) for p in soften(np.exp(logits), 1.0)]], name="target")
    zoo = load_config(ROOT / "params.yaml").zoo
    features = FeaturesConfig(
        numeric_imputer="median", missing_indicator=False, scaler="standard", categorical_imputer="most_frequent"
    )
    recipe = build_preprocessor(TableCleaner(), features, "multiclass", 0)
    folds = make_folds("multiclass", 5, 0)
    problem = Problem(X, y, "multiclass", "log_loss", folds, recipe, 0, feature_settings=features.model_dump())
    families = ["logistic_regression", "knn"]
    candidates = {name: build_estimator(zoo[name], "multiclass", 0) for name in families}
    board, results = leaderboard.rank(candidates, recipe, X, y, "multiclass", folds, "log_loss")
    oof = leaderboard.oof_frame(results, y)
    tune = TuneConfig(n_trials=4, top_families=2, storage=None, pruner="none", calibrate=calibrate)
    outcome = search(problem, {n: zoo[n] for n in families}, zoo.__getitem__, board, oof, tune, "test")
    return outcome, X, y


def test_the_search_serves_the_model_temperature_scaled_as_its_last_selection_step_decided():
    outcome, X, y = run_search(calibrate=True)
    last = outcome.summary["selection"][-1]
    # The linear anchor with C=1 on nearly separable classes is timid: scaling pays cross-fitted.
    assert (last["step"], last["threshold"], last["replaced"]) == ("calibration", 0.0, True)
    model = outcome.model.steps[-1][1]
    assert isinstance(model, TemperatureScaled) and model.temperature == outcome.summary["temperature"] < 1.0
    fitted = clone(outcome.model).fit(X, y)
    unscaled = Pipeline([*outcome.model.steps[:-1], ("model", model.estimator)])
    expected = soften(clone(unscaled).fit(X, y).predict_proba(X), model.temperature)
    assert np.allclose(fitted.predict_proba(X), expected)
    assert np.allclose(outcome.oof.sum(axis=1), 1.0)

    plain, _, _ = run_search(calibrate=False)
    assert "temperature" not in plain.summary and all(s["step"] != "calibration" for s in plain.summary["selection"])
    assert not isinstance(plain.model.steps[-1][1], TemperatureScaled)
