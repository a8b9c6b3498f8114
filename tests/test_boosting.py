"""The boosted-tree families (autotab.estimators.boosting) inside the Pipeline train builds: each task, early
stopping on the fit's own rows, threads, determinism, pickling, and config errors."""

import io
import json
import pickle

import joblib
import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone

from autotab.config import FeaturesConfig, load_config
from autotab.errors import UserError
from autotab.estimators import boosting
from autotab.estimators.table_cleaner import TableCleaner
from autotab.modeling.features import build_preprocessor
from autotab.modeling.training import whole_pipeline
from autotab.modeling.zoo import build_estimator
from tests.conftest import REPO

FAMILIES = ("lightgbm", "xgboost", "catboost")
TASKS = ("binary", "multiclass", "regression")
FEATURES = FeaturesConfig(
    numeric_imputer="median", missing_indicator=True, scaler="standard", categorical_imputer="most_frequent"
)
# Fewer, smaller trees than the shipped defaults, converging faster: the whole file runs in seconds.
FAST = {"n_estimators": 300, "learning_rate": 0.2, "early_stopping_rounds": 20}
SMALL_TREES = {"lightgbm": {"num_leaves": 8}, "xgboost": {"max_depth": 3}, "catboost": {"depth": 4}}
ZOO = load_config(REPO / "params.yaml").zoo  # the shipped defaults of every family


def table(task: str, n: int = 240, seed: int = 0) -> tuple[pd.DataFrame, pd.Series]:
    """Raw rows as the Pipeline gets them: a number with missing cells, a category, string labels."""
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({
        "x": rng.normal(size=n), "z": rng.normal(size=n), "c": rng.choice(["a", "b", "c"], n),
        "w": np.where(rng.random(n) < 0.1, np.nan, rng.normal(size=n)),
    })  # fmt: skip
    signal = 2 * X["x"] + (X["c"] == "a")
    if task == "regression":
        return X, signal + rng.normal(scale=0.2, size=n)
    bins = [0.5] if task == "binary" else [-0.5, 1.0]
    return X, pd.Series(np.digitize(signal + rng.normal(scale=0.3, size=n), bins)).map(lambda k: f"class_{k}")


def estimator(family: str, task: str, seed: int = 0, **overrides):
    overrides = {**FAST, **SMALL_TREES[family], **overrides}
    return build_estimator(ZOO[family], task, seed, overrides)


def pipeline(family: str, task: str, **overrides):
    recipe = build_preprocessor(TableCleaner(), FEATURES, task, 0)
    return whole_pipeline(recipe, estimator(family, task, **overrides))


def dumped(model) -> bytes:
    buffer = io.BytesIO()
    joblib.dump(model, buffer)
    return buffer.getvalue()


def trees(model) -> int:
    """Boosting rounds in the library model the estimator keeps."""
    library = model.model_
    if isinstance(model, boosting.LightGBMTrees):
        return library.booster_.current_iteration()
    if isinstance(model, boosting.XGBoostTrees):
        return library.get_booster().num_boosted_rounds()
    return library.tree_count_


@pytest.mark.parametrize("task", TASKS)
@pytest.mark.parametrize("family", FAMILIES)
def test_fits_in_the_pipeline_pickles_and_reproduces_byte_for_byte(family, task):
    X, y = table(task)
    fitted = pipeline(family, task).fit(X, y)
    if task == "regression":
        predicted = fitted.predict(X)
        assert predicted.shape == (len(X),) and np.isfinite(predicted).all()
        assert np.corrcoef(predicted, y)[0, 1] > 0.9
    else:
        proba = fitted.predict_proba(X)
        assert proba.shape == (len(X), y.nunique())
        assert proba.dtype == np.float64 and ((proba >= 0) & (proba <= 1)).all()
        np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=0, atol=1e-12)
        assert list(fitted.classes_) == sorted(y.unique())
        predicted = fitted.predict(X)
        assert set(predicted) <= set(y) and (predicted == y).mean() > 0.8
    restored = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_array_equal(restored.predict(X), predicted)
    again = pipeline(family, task).fit(X, y)
    assert dumped(again) == dumped(fitted)


@pytest.mark.parametrize("family", FAMILIES)
def test_early_stopping_stops_and_the_refit_keeps_the_best_round_count(family):
    X, y = table("binary", n=400)
    model = pipeline(family, "binary", n_estimators=1000).fit(X, y).named_steps["model"]
    assert model.best_iteration_ is not None
    assert model.n_estimators_ == model.best_iteration_ + 1 < 1000 - FAST["early_stopping_rounds"]
    assert trees(model) == model.n_estimators_


@pytest.mark.parametrize("family", FAMILIES)
def test_the_validation_slice_comes_from_the_fit_rows_only_and_is_seeded(family):
    """The held-out slice is drawn from the rows fit got, stratified, the same for the same seed."""
    X, y = table("multiclass")
    model = estimator(family, "multiclass", seed=3)
    codes = np.unique(y, return_inverse=True)[1]
    rows = model._validation_rows(codes, seed=3)
    assert rows is not None and rows.max() < len(y)
    assert len(rows) == round(model.validation_fraction * len(y))
    np.testing.assert_array_equal(rows, model._validation_rows(codes, seed=3))
    shares = np.bincount(codes[rows]) / len(rows)
    np.testing.assert_allclose(shares, np.bincount(codes) / len(codes), atol=0.05)
    # Too few rows for a slice: all rows are boosted for n_estimators rounds.
    small = model.set_params(n_estimators=30).fit(np.asarray(X[["x", "z"]])[:50], y[:50])
    assert small.best_iteration_ is None and trees(small) == 30


@pytest.mark.parametrize("family", FAMILIES)
def test_every_fit_uses_exactly_the_threads_it_is_given_and_writes_nothing(family, tmp_path, monkeypatch, capfd):
    monkeypatch.chdir(tmp_path)
    X, y = table("binary")
    # Two threads on a short fit: on a busy 2-core machine spinning OpenMP threads make long fits crawl.
    model = pipeline(family, "binary", n_jobs=2, n_estimators=2, early_stopping_rounds=None).fit(X, y)
    model = model.named_steps["model"]
    library = model.model_
    if family == "lightgbm":
        threads = library.booster_.params["num_threads"]
    elif family == "xgboost":
        threads = json.loads(library.get_booster().save_config())["learner"]["generic_param"]["nthread"]
    else:
        threads = json.loads(library.get_metadata()["params"])["system_options"]["thread_count"]
    assert int(threads) == 2
    if family == "catboost":  # CatBoost's predict takes its own thread count (default: every core)
        asked = []
        predict_proba = library.predict_proba
        monkeypatch.setattr(library, "predict_proba", lambda X, **kw: asked.append(kw) or predict_proba(X, **kw))
        model.predict_proba(np.zeros((1, model.n_features_in_)))
        assert asked == [{"thread_count": 2}]
    assert list(tmp_path.iterdir()) == []  # no catboost_info/ or other files
    out, err = capfd.readouterr()
    assert out == "" and err == ""


@pytest.mark.parametrize("family", FAMILIES)
def test_string_labels_binary_with_class_weight(family):
    X, y = table("binary")
    y = y.map({"class_0": "no", "class_1": "yes"})
    recipe = build_preprocessor(TableCleaner(), FEATURES, "binary", 0)
    model = estimator(family, "binary").set_params(class_weight="balanced")
    fitted = whole_pipeline(recipe, model).fit(X, y)
    assert list(fitted.classes_) == ["no", "yes"] and set(fitted.predict(X)) <= {"no", "yes"}


@pytest.mark.parametrize("family", FAMILIES)
def test_clone_keeps_the_params_and_drops_the_fit(family):
    model = estimator(family, "binary", seed=11)
    X, y = table("binary")
    model.fit(np.asarray(X[["x", "z"]]), y)
    copy = clone(model)
    assert copy.get_params() == model.get_params() and copy.random_state == 11
    assert not hasattr(copy, "model_")


@pytest.mark.parametrize(
    "family,key,value",
    [
        ("lightgbm", "num_leaves", 1),
        ("lightgbm", "n_estimators", 50_000),
        ("xgboost", "max_depth", 40),
        ("xgboost", "n_jobs", -1),
        ("catboost", "depth", 12),
        ("catboost", "validation_fraction", 0.9),
    ],
)
def test_a_bad_hyperparameter_is_a_user_error_naming_the_key(family, key, value):
    with pytest.raises(UserError, match=rf"^model\.{key}: The '{key}' parameter of \w+ must be"):
        build_estimator(load_config(REPO / "params.yaml").zoo[family], "binary", 0, {key: value})
