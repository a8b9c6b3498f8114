"""Feature engineering: the ColumnTransformer that follows the cleaner in the served Pipeline.

Columns are chosen by the dtype the cleaner gives them (numbers and booleans are float, categories
are text), so the recipe is built before any data is seen and learns everything inside `fit`.
"""

from __future__ import annotations

import numpy as np
from sklearn.compose import ColumnTransformer, make_column_selector
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import MinMaxScaler, OneHotEncoder, RobustScaler, StandardScaler

from autotab.cleaner import TableCleaner
from autotab.config import FeaturesConfig

SCALERS = {"standard": StandardScaler, "robust": RobustScaler, "minmax": MinMaxScaler}


def numeric_steps(config: FeaturesConfig) -> Pipeline:
    steps = [
        (
            "impute",
            SimpleImputer(
                strategy=config.numeric_imputer,
                fill_value=0.0,
                add_indicator=config.missing_indicator,
                keep_empty_features=True,
            ),
        )
    ]
    if config.scaler != "none":
        steps.append(("scale", SCALERS[config.scaler]()))
    return Pipeline(steps)


def categorical_steps(config: FeaturesConfig) -> Pipeline:
    return Pipeline(
        [
            (
                "impute",
                SimpleImputer(
                    strategy=config.categorical_imputer,
                    fill_value="missing",
                    missing_values=np.nan,
                    keep_empty_features=True,
                ),
            ),
            (
                "encode",
                OneHotEncoder(
                    handle_unknown="infrequent_if_exist",
                    min_frequency=config.one_hot_min_frequency,
                    max_categories=config.one_hot_max_categories,
                    sparse_output=False,
                ),
            ),
        ]
    )


def build_encoder(config: FeaturesConfig) -> ColumnTransformer:
    return ColumnTransformer(
        [
            ("numeric", numeric_steps(config), make_column_selector(dtype_include="number")),
            ("categorical", categorical_steps(config), make_column_selector(dtype_include=object)),
        ],
        verbose_feature_names_out=True,
    )


def build_preprocessor(cleaner: TableCleaner, config: FeaturesConfig) -> Pipeline:
    """The unfitted preprocessing recipe: column cleaning, then imputation, scaling and encoding."""
    return Pipeline([("clean", cleaner), ("encode", build_encoder(config))])
