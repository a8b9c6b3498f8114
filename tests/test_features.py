import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from autotab.cleaner import TableCleaner
from autotab.config import FeaturesConfig
from autotab.features import build_preprocessor
from autotab.training import whole_pipeline

CONFIG = FeaturesConfig(
    numeric_imputer="median",
    missing_indicator=True,
    scaler="standard",
    categorical_imputer="most_frequent",
    one_hot_min_frequency=None,
    one_hot_max_categories=None,
)


def test_statistics_come_from_the_rows_fitted_on_only():
    """The leakage test: imputation and scaling learn nothing from rows they did not fit on."""
    train = pd.DataFrame({"x": [1.0, 2.0, np.nan, 3.0], "c": ["a", "b", "a", "b"]})
    test = pd.DataFrame({"x": [1000.0, np.nan], "c": ["a", "zzz"]})
    fitted = build_preprocessor(TableCleaner(), CONFIG).fit(train)
    numeric = fitted.named_steps["encode"].named_transformers_["numeric"]
    assert numeric.named_steps["impute"].statistics_[0] == 2.0  # median of train only
    assert numeric.named_steps["scale"].mean_[0] == pytest.approx(2.0)
    out = fitted.transform(test)  # an unseen category and a missing value do not fail
    names = list(fitted.get_feature_names_out())
    assert "numeric__x" in names and "categorical__c_a" in names
    row = dict(zip(names, out[1], strict=True))
    assert row["numeric__x"] == pytest.approx(0.0)  # imputed with the train median, scaled
    assert row["categorical__c_a"] == 0 and row["categorical__c_b"] == 0


def test_a_column_missing_everywhere_at_predict_time_works():
    rng = np.random.default_rng(0)
    train = pd.DataFrame({"x": rng.normal(size=40), "c": rng.choice(["a", "b"], 40)})
    y = rng.choice(["no", "yes"], 40)
    pipeline = whole_pipeline(build_preprocessor(TableCleaner(), CONFIG), LogisticRegression())
    pipeline.fit(train, y)
    blank = pd.DataFrame({"x": [np.nan, np.nan], "c": [None, None]})
    assert pipeline.predict_proba(blank).shape == (2, 2)
