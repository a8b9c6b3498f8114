"""ColumnGroups gives what scikit-learn's ColumnTransformer gives for the same recipe: numbers and names."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.base import clone
from sklearn.compose import ColumnTransformer

from autotab.config import FeaturesConfig
from autotab.estimators.column_groups import ColumnGroups
from autotab.modeling.features import build_encoder

BASE = {"numeric_imputer": "median", "missing_indicator": True, "scaler": "standard",
        "categorical_imputer": "most_frequent"}  # fmt: skip
SETTINGS = [
    BASE,
    {**BASE, "numeric_imputer": "knn", "missing_indicator": False, "scaler": "robust", "categorical_encoder": "target"},
    {
        **BASE,
        "numeric_imputer": "mean",
        "numeric_transform": "quantile",
        "scaler": "none",
        "categorical_encoder": "ordinal",
        "categorical_imputer": "constant",
    },  # fmt: skip
]


def column_transformer_twin(groups: ColumnGroups) -> ColumnTransformer:
    """The same groups as scikit-learn's ColumnTransformer, the reference behaviour."""
    return ColumnTransformer([(n, clone(s), sel) for n, s, sel in groups.groups], verbose_feature_names_out=True)


def table(rows: int, seed: int, numeric: int, text: int, unseen: bool = False) -> tuple[pd.DataFrame, np.ndarray]:
    """Columns as the cleaner gives them: numbers as float with NaN, categories as object text with NaN."""
    rng = np.random.default_rng(seed)
    columns = {}
    for i in range(numeric):
        values = rng.normal(size=rows)
        values[rng.random(rows) < 0.2] = np.nan
        columns[f"n{i}"] = values
    for i in range(text):
        values = rng.choice(np.array(["red", "blue", "green", "rare"], dtype=object), rows, p=[0.4, 0.3, 0.25, 0.05])
        values[rng.random(rows) < 0.15] = np.nan
        if unseen:
            values[0] = "never seen"
        columns[f"t{i}"] = pd.Series(values, dtype=object)
    return pd.DataFrame(columns), rng.choice(["no", "yes"], rows)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(30, 80), st.integers(0, 10_000), st.integers(0, 3), st.integers(0, 2), st.sampled_from(SETTINGS))
def test_the_same_numbers_and_names_as_a_column_transformer(rows, seed, numeric, text, options):
    if numeric + text == 0:
        numeric = 1
    X, y = table(rows, seed, numeric, text)
    groups = build_encoder(FeaturesConfig(**options), "binary", 0)
    reference = column_transformer_twin(groups)
    np.testing.assert_allclose(groups.fit_transform(X, y), reference.fit_transform(X, y))
    unseen, _ = table(7, seed + 1, numeric, text, unseen=True)
    np.testing.assert_allclose(groups.transform(unseen), reference.transform(unseen))
    np.testing.assert_array_equal(groups.get_feature_names_out(), reference.get_feature_names_out())
    assert list(groups.named_transformers_) == [n for n, _, c in reference.transformers_ if len(c)]


def test_fit_equals_fit_transform_then_transform():
    X, y = table(60, 0, 2, 1)
    groups = build_encoder(FeaturesConfig(**BASE), "binary", 0)
    np.testing.assert_allclose(clone(groups).fit(X, y).transform(X), groups.fit_transform(X, y))


def test_a_frame_without_a_fitted_column_is_refused_by_name():
    X, y = table(40, 0, 2, 1)
    groups = build_encoder(FeaturesConfig(**BASE), "binary", 0).fit(X, y)
    with pytest.raises(ValueError, match="columns are missing: n1"):
        groups.transform(X.drop(columns=["n1"]))


def test_an_array_is_refused_at_fit():
    with pytest.raises(TypeError, match="needs a DataFrame"):
        build_encoder(FeaturesConfig(**BASE), "binary", 0).fit(np.zeros((3, 2)), [0, 1, 0])


def test_many_float_columns_are_read_as_one_block_with_the_same_values_and_layout():
    from autotab.estimators.column_groups import MANY_COLUMNS, group_array

    rng = np.random.default_rng(3)
    frame = pd.DataFrame(rng.normal(size=(50, 3 * MANY_COLUMNS)), columns=[f"m{i}" for i in range(3 * MANY_COLUMNS)])
    frame = frame.mask(rng.random(frame.shape) < 0.05)
    columns = list(frame.columns[::-2])  # a subset, out of order
    one_by_one = np.column_stack([frame[c].to_numpy() for c in columns])
    block = group_array(frame, columns)
    assert block.flags["C_CONTIGUOUS"] and block.dtype == np.float64
    np.testing.assert_array_equal(block, one_by_one)
    frame["m0"] = frame["m0"].astype("float32")  # not all float64: read one by one, as before
    np.testing.assert_array_equal(group_array(frame, columns), np.column_stack([frame[c].to_numpy() for c in columns]))


@pytest.mark.parametrize("numeric", [0, 2])
def test_a_one_hot_group_encoded_by_blocks_of_rows_is_the_same_array(monkeypatch, numeric):
    """Past ONE_HOT_ROWS rows the one-hot group is encoded block by block into the stacked array;
    with blocks of 7 rows (unknown and infrequent categories in them) the arrays are identical."""
    from autotab.estimators import column_groups

    X, y = table(100, 4, numeric, 2)
    unseen, _ = table(30, 5, numeric, 2, unseen=True)
    config = FeaturesConfig(**BASE, one_hot_min_frequency=0.1)  # "rare" (5%) is infrequent
    whole = build_encoder(config, "binary", 0)
    expected_fit, expected = whole.fit_transform(X, y), whole.transform(unseen)
    monkeypatch.setattr(column_groups, "ONE_HOT_ROWS", 7)
    blocks = build_encoder(config, "binary", 0)
    fit_out = blocks.fit_transform(X, y)
    assert fit_out.flags["C_CONTIGUOUS"] and fit_out.dtype == expected_fit.dtype
    np.testing.assert_array_equal(fit_out, expected_fit)
    np.testing.assert_array_equal(blocks.transform(unseen), expected)
    assert isinstance(column_groups.encoded(blocks.named_transformers_["categorical"], np.zeros((8, 2), object)),
                      column_groups.OneHotLater)  # fmt: skip
