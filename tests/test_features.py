import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from autotab.config import FeaturesConfig
from autotab.estimators.table_cleaner import TableCleaner
from autotab.modeling.features import build_preprocessor, describe
from autotab.modeling.training import whole_pipeline

BASE = {
    "numeric_imputer": "median", "missing_indicator": True, "scaler": "standard",
    "categorical_imputer": "most_frequent", "one_hot_min_frequency": None, "one_hot_max_categories": None,
}  # fmt: skip
CONFIG = FeaturesConfig(**BASE)


def test_statistics_come_from_the_rows_fitted_on_only():
    """The leakage test: imputation and scaling learn nothing from rows they did not fit on."""
    train = pd.DataFrame({"x": [1.0, 2.0, np.nan, 3.0], "c": ["a", "b", "a", "b"]})
    test = pd.DataFrame({"x": [1000.0, np.nan], "c": ["a", "zzz"]})
    fitted = build_preprocessor(TableCleaner(), CONFIG, "binary", 0).fit(train, ["y", "n", "y", "n"])
    numeric = fitted.named_steps["encode"].named_transformers_["numeric"]
    assert numeric.named_steps["impute"].statistics_[0] == 2.0  # median of train only
    assert numeric.named_steps["scale"].mean_[0] == pytest.approx(2.0)
    out = fitted.transform(test)  # an unseen category and a missing value do not fail
    names = list(fitted.get_feature_names_out())
    row = dict(zip(names, out[1], strict=True))
    assert row["numeric__x"] == pytest.approx(0.0)  # imputed with the train median, scaled
    assert row["categorical__c_a"] == 0 and row["categorical__c_b"] == 0


def test_inside_a_fold_the_preprocessing_sees_only_the_fold():
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"x": rng.normal(size=100)})
    X.loc[50:, "x"] += 100  # the second half is far away
    y = np.r_[["a", "b"] * 25, ["a", "b"] * 25]
    pipeline = whole_pipeline(build_preprocessor(TableCleaner(), CONFIG, "binary", 0), LogisticRegression())
    pipeline.fit(X.iloc[:50], y[:50])
    scaler = pipeline.named_steps["encode"].named_transformers_["numeric"].named_steps["scale"]
    assert scaler.mean_[0] == pytest.approx(X["x"].iloc[:50].mean())


def test_a_column_missing_everywhere_at_predict_time_works():
    rng = np.random.default_rng(0)
    train = pd.DataFrame({"x": rng.normal(size=40), "c": rng.choice(["a", "b"], 40)})
    y = rng.choice(["no", "yes"], 40)
    for encoder in ("onehot", "ordinal", "target"):
        config = FeaturesConfig(**{**BASE, "categorical_encoder": encoder})
        pipeline = whole_pipeline(build_preprocessor(TableCleaner(), config, "binary", 0), LogisticRegression())
        pipeline.fit(train, y)
        blank = pd.DataFrame({"x": [np.nan, np.nan], "c": [None, "never seen"]})
        assert pipeline.predict_proba(blank).shape == (2, 2)


def test_selection_and_pca_are_reported():
    rng = np.random.default_rng(0)
    X = pd.DataFrame({f"x{i}": rng.normal(size=120) for i in range(6)})
    y = np.where(X["x0"] + X["x1"] > 0, "a", "b")
    kbest = FeaturesConfig(**{**BASE, "selection": "kbest", "kbest_k": 2})
    report = describe(build_preprocessor(TableCleaner(), kbest, "binary", 0).fit(X, y))
    assert sorted(report["selected_features"]) == ["numeric__x0", "numeric__x1"]
    assert len(report["dropped_by_selection"]) == 4
    pca = FeaturesConfig(**{**BASE, "pca": 0.9})
    report = describe(build_preprocessor(TableCleaner(), pca, "binary", 0).fit(X, y))
    assert report["pca_explained_variance_total"] >= 0.9
    assert report["model_features"][0] == "pca0"


def test_target_encoding_of_an_integer_valued_regression_target_is_one_column_per_feature():
    """scikit-learn's target_type="auto" calls a target of many distinct integers multiclass and writes
    one column per distinct value per feature; a regression target is encoded as one mean per level."""
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"c": rng.choice([f"level{i}" for i in range(20)], 400), "d": rng.choice(list("abc"), 400)})
    y = pd.Series(rng.integers(0, 300, 400), name="price")  # integer values, ~250 distinct
    config = FeaturesConfig(**{**BASE, "categorical_encoder": "target"})
    fitted = build_preprocessor(TableCleaner(), config, "regression", 0).fit(X, y)
    assert fitted.transform(X).shape == (400, 2)
    encoder = fitted.named_steps["encode"].named_transformers_["categorical"].named_steps["encode"]
    assert encoder.target_type_ == "continuous"


def test_a_group_that_multiplies_its_columns_past_the_bound_fails_naming_it():
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"x": rng.normal(size=900), "c": [f"v{i}" for i in rng.integers(0, 40, 900)]})
    y = rng.choice(["no", "yes"], 900)
    unbounded = {**BASE, "one_hot_max_categories": None, "max_expansion": 20}
    message = r"the categorical columns \(1\) became \d+ features, more than max_expansion=20"
    with pytest.raises(ValueError, match=message):
        build_preprocessor(TableCleaner(), FeaturesConfig(**unbounded), "binary", 0).fit(X, y)
    capped = FeaturesConfig(**{**unbounded, "one_hot_max_categories": 15})
    assert build_preprocessor(TableCleaner(), capped, "binary", 0).fit(X, y).transform(X).shape == (900, 16)


def test_a_table_wider_than_the_column_budget_keeps_the_columns_related_to_the_target_fitted_in_the_fold():
    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(200, 300)), columns=[f"m{i}" for i in range(300)])
    y = np.where(X["m7"] - X["m150"] + 0.3 * rng.normal(size=200) > 0, "yes", "no")
    config = FeaturesConfig(**{**BASE, "missing_indicator": False, "max_columns": 20})
    fitted = build_preprocessor(TableCleaner(), config, "binary", 0).fit(X, y)
    report = describe(fitted)
    assert len(report["model_features"]) == 20 and len(report["dropped_by_budget"]) == 300 - 20
    assert {"numeric__m7", "numeric__m150"} <= set(report["model_features"])
    assert fitted.transform(X).shape == (200, 20)
    # fitted on other rows, other columns: chosen inside each fold, not once on all the rows
    half = build_preprocessor(TableCleaner(), config, "binary", 0).fit(X.iloc[:100], y[:100])
    assert describe(half)["model_features"] != report["model_features"]


def test_the_budget_scored_in_blocks_of_columns_keeps_what_scoring_all_at_once_keeps():
    """ColumnBudget scores SCORED_COLUMNS columns at a time, to bound its copies of the matrix."""
    from sklearn.feature_selection import f_classif, f_regression

    from autotab.estimators.column_budget import SCORED_COLUMNS, ColumnBudget

    rng = np.random.default_rng(3)
    X = rng.normal(size=(400, 3 * SCORED_COLUMNS + 5)) * rng.integers(1, 100, size=3 * SCORED_COLUMNS + 5)
    X[rng.random(X.shape) < 0.02] = np.nan  # ranked as zeros, whole or in blocks
    y_class = np.where(X[:, 3] + np.nan_to_num(X[:, 150]) > 0, "yes", "no")
    y_value = np.nan_to_num(X[:, 70]) + rng.normal(size=400)
    for task, y, score in (("binary", y_class, f_classif), ("regression", y_value, f_regression)):
        budget = ColumnBudget(max_columns=40, task=task).fit(X, y)
        whole, _ = score(np.nan_to_num(X), y)
        np.testing.assert_allclose(budget.statistic(X, y), whole, rtol=1e-12)
        assert set(np.flatnonzero(budget.support_)) == set(np.argsort(-whole, kind="stable")[:40])


def test_the_median_imputer_gives_scikit_learns_medians_to_the_bit_a_column_at_a_time():
    from sklearn.impute import SimpleImputer

    from autotab.estimators.imputation import observed_median

    rng = np.random.default_rng(5)
    X = rng.normal(size=(301, 6)) * 1e3
    X[:, 1] = np.round(X[:, 1])  # ties
    X[rng.random(X.shape) < 0.3] = np.nan
    X[:, 4] = np.nan  # nothing observed: 0, as keep_empty_features fills it
    X[1:, 5] = np.nan  # one value observed
    for rows in (slice(None), slice(0, 300)):  # an odd and an even number of rows
        ours = SimpleImputer(strategy=observed_median, keep_empty_features=True, add_indicator=True).fit(X[rows])
        theirs = SimpleImputer(strategy="median", keep_empty_features=True, add_indicator=True).fit(X[rows])
        assert ours.statistics_.tobytes() == theirs.statistics_.tobytes()
        assert ours.transform(X).tobytes() == theirs.transform(X).tobytes()
    assert ours.statistics_[4] == 0.0


def test_a_table_with_more_columns_than_rows_keeps_the_sure_screening_size_of_related_columns():
    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(100, 300)), columns=[f"m{i}" for i in range(300)])
    y = np.where(X["m7"] - X["m150"] + 0.3 * rng.normal(size=100) > 0, "yes", "no")
    config = FeaturesConfig(**{**BASE, "missing_indicator": False})  # max_columns 500, sure_screening on
    report = describe(build_preprocessor(TableCleaner(), config, "binary", 0).fit(X, y))
    assert len(report["model_features"]) == 21  # floor(100 / ln 100)
    assert {"numeric__m7", "numeric__m150"} <= set(report["model_features"])
    off = FeaturesConfig(**{**BASE, "missing_indicator": False, "sure_screening": False})
    assert len(describe(build_preprocessor(TableCleaner(), off, "binary", 0).fit(X, y))["model_features"]) == 300
    # as many columns as rows, or fewer: no screening
    square = build_preprocessor(TableCleaner(), config, "binary", 0).fit(X.iloc[:, :100], y)
    assert len(describe(square)["model_features"]) == 100


def test_a_table_within_the_column_budget_passes_through_it_unchanged():
    rng = np.random.default_rng(0)
    X = pd.DataFrame({f"x{i}": rng.normal(size=60) for i in range(4)})
    y = rng.choice(["no", "yes"], 60)
    within = build_preprocessor(TableCleaner(), FeaturesConfig(**{**BASE, "max_columns": 4}), "binary", 0).fit(X, y)
    without = build_preprocessor(TableCleaner(), FeaturesConfig(**{**BASE, "max_columns": None}), "binary", 0).fit(X, y)
    assert "budget" not in without.named_steps and describe(within)["dropped_by_budget"] == []
    np.testing.assert_array_equal(within.transform(X), without.transform(X))
    assert list(within.get_feature_names_out()) == list(without.get_feature_names_out())


def test_the_columns_the_budget_cut_never_reach_the_model_and_are_not_probed():
    from autotab.reporting.evaluation import columns_reaching_the_model

    rng = np.random.default_rng(1)
    X = pd.DataFrame(rng.normal(size=(150, 40)), columns=[f"m{i}" for i in range(40)])
    X["c"] = rng.choice(["a", "b"], 150)
    y = np.where(X["m3"] + X["m31"] > 0, "yes", "no")
    config = FeaturesConfig(**{**BASE, "max_columns": 5})
    pipeline = whole_pipeline(build_preprocessor(TableCleaner(), config, "binary", 0), LogisticRegression()).fit(X, y)
    reaching = columns_reaching_the_model(pipeline, list(X.columns))
    assert {"m3", "m31"} <= set(reaching) and len(reaching) <= 5
    for column in set(X.columns) - set(reaching):  # shuffled, it changes no prediction
        shuffled = X.assign(**{column: X[column].sample(frac=1, random_state=0).to_numpy()})
        np.testing.assert_array_equal(pipeline.predict_proba(shuffled), pipeline.predict_proba(X))
    unbudgeted = FeaturesConfig(**{**BASE, "max_columns": None})
    whole = whole_pipeline(build_preprocessor(TableCleaner(), unbudgeted, "binary", 0), LogisticRegression()).fit(X, y)
    assert columns_reaching_the_model(whole, list(X.columns)) == list(X.columns)
