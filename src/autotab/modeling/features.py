"""Feature engineering: everything between the cleaner and the model, inside one Pipeline.

Columns are chosen by the dtype the cleaner gives them (numbers and booleans are float, categories
are text), so the recipe is built before any data is seen and learns everything inside `fit`:
imputation, transforms, scaling and encoding per column type, then optional selection and PCA.
Unseen categories at predict time never fail.
"""

from __future__ import annotations

from functools import partial

import numpy as np
from sklearn.compose import make_column_selector
from sklearn.decomposition import PCA
from sklearn.experimental import enable_iterative_imputer  # noqa: F401  (makes IterativeImputer importable)
from sklearn.feature_selection import (
    SelectFromModel,
    SelectKBest,
    SelectPercentile,
    VarianceThreshold,
    f_classif,
    f_regression,
    mutual_info_classif,
    mutual_info_regression,
)
from sklearn.impute import IterativeImputer, KNNImputer, SimpleImputer
from sklearn.linear_model import Lasso, LogisticRegression
from sklearn.model_selection import KFold, StratifiedKFold
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import (
    MinMaxScaler,
    OneHotEncoder,
    OrdinalEncoder,
    PowerTransformer,
    QuantileTransformer,
    RobustScaler,
    StandardScaler,
    TargetEncoder,
)

from autotab.config import FeaturesConfig
from autotab.estimators.column_budget import ColumnBudget
from autotab.estimators.column_groups import ColumnGroups
from autotab.estimators.imputation import observed_median
from autotab.estimators.table_cleaner import TableCleaner

SCALERS = {"standard": StandardScaler, "robust": RobustScaler, "minmax": MinMaxScaler}
TARGET_TYPES = {"binary": "binary", "multiclass": "multiclass", "regression": "continuous"}


def numeric_imputer(config: FeaturesConfig, seed: int):
    indicator = config.missing_indicator
    if config.numeric_imputer == "knn":
        return KNNImputer(add_indicator=indicator, keep_empty_features=True)
    if config.numeric_imputer == "iterative":
        return IterativeImputer(add_indicator=indicator, random_state=seed, keep_empty_features=True)
    strategy = observed_median if config.numeric_imputer == "median" else config.numeric_imputer
    return SimpleImputer(strategy=strategy, fill_value=0.0, add_indicator=indicator, keep_empty_features=True)


def numeric_steps(config: FeaturesConfig, seed: int) -> Pipeline:
    steps = [("impute", numeric_imputer(config, seed))]
    if config.numeric_transform == "quantile":
        steps.append(("transform", QuantileTransformer(output_distribution="normal", random_state=seed)))
    elif config.numeric_transform == "power":
        steps.append(("transform", PowerTransformer()))
    if config.scaler != "none":
        steps.append(("scale", SCALERS[config.scaler]()))
    return Pipeline(steps)


def categorical_encoder(config: FeaturesConfig, task: str, seed: int):
    if config.categorical_encoder == "ordinal":
        return OrdinalEncoder(
            handle_unknown="use_encoded_value",
            unknown_value=-1,
            encoded_missing_value=-1,
            min_frequency=config.one_hot_min_frequency,
            max_categories=config.one_hot_max_categories,
        )
    if config.categorical_encoder == "target":
        # Cross-fitted in fit_transform, so a row's own target never encodes its category. The target
        # type is the task's, never inferred: scikit-learn's "auto" calls an integer-valued regression
        # target "multiclass" and writes one column per distinct target value per feature.
        folds = KFold if task == "regression" else StratifiedKFold
        return TargetEncoder(target_type=TARGET_TYPES[task], cv=folds(n_splits=5, shuffle=True, random_state=seed))
    return OneHotEncoder(
        handle_unknown="infrequent_if_exist",
        min_frequency=config.one_hot_min_frequency,
        max_categories=config.one_hot_max_categories,
        sparse_output=False,
    )


def categorical_steps(config: FeaturesConfig, task: str, seed: int) -> Pipeline:
    imputer = SimpleImputer(
        strategy=config.categorical_imputer,
        fill_value="missing",
        missing_values=np.nan,
        keep_empty_features=True,
    )
    return Pipeline([("impute", imputer), ("encode", categorical_encoder(config, task, seed))])


def build_encoder(config: FeaturesConfig, task: str, seed: int) -> ColumnGroups:
    return ColumnGroups(
        [
            ("numeric", numeric_steps(config, seed), make_column_selector(dtype_include="number")),
            ("categorical", categorical_steps(config, task, seed), make_column_selector(dtype_include=object)),
        ],
        max_expansion=config.max_expansion,
    )


def selector(config: FeaturesConfig, task: str, seed: int):
    classification = task != "regression"
    if config.selection == "variance":
        return VarianceThreshold(config.variance_threshold)
    if config.selection == "kbest":
        if config.kbest_score == "mutual_info":
            base = mutual_info_classif if classification else mutual_info_regression
            score = partial(base, random_state=seed)
        else:
            score = f_classif if classification else f_regression
        if isinstance(config.kbest_k, float):
            return SelectPercentile(score, percentile=100 * config.kbest_k)
        return SelectKBest(score, k=config.kbest_k)
    if config.selection == "l1":
        if classification:
            model = LogisticRegression(C=config.l1_C, l1_ratio=1.0, solver="saga", max_iter=5000, random_state=seed)
        else:
            model = Lasso(alpha=config.l1_alpha, random_state=seed, max_iter=10_000)
        return SelectFromModel(model)
    return None


def build_preprocessor(cleaner: TableCleaner, config: FeaturesConfig, task: str, seed: int) -> Pipeline:
    """The unfitted recipe: column cleaning, per-type imputation/scaling/encoding, selection, the
    column budget, PCA."""
    steps = [("clean", cleaner), ("encode", build_encoder(config, task, seed))]
    select = selector(config, task, seed)
    if select is not None:
        steps.append(("select", select))
    if config.max_columns is not None:
        steps.append(("budget", ColumnBudget(config.max_columns, task, sure_screening=config.sure_screening)))
    if config.pca is not None:
        steps.append(("pca", PCA(n_components=config.pca, random_state=seed)))
    return Pipeline(steps)


def describe(fitted: Pipeline) -> dict:
    """What the fitted recipe kept: encoded features, those selection dropped, PCA's variance."""
    encoded = [str(n) for n in fitted.named_steps["encode"].get_feature_names_out()]
    report: dict = {
        "encoded_features": encoded, "selected_features": encoded, "dropped_by_selection": [], "dropped_by_budget": [],
    }  # fmt: skip
    if "select" in fitted.named_steps:
        support = fitted.named_steps["select"].get_support()
        report["selected_features"] = [n for n, keep in zip(encoded, support, strict=True) if keep]
        report["dropped_by_selection"] = [n for n, keep in zip(encoded, support, strict=True) if not keep]
    if "budget" in fitted.named_steps:
        kept = set(fitted.named_steps["budget"].get_feature_names_out(report["selected_features"]))
        report["dropped_by_budget"] = [n for n in report["selected_features"] if n not in kept]
        report["selected_features"] = [n for n in report["selected_features"] if n in kept]
    if "pca" in fitted.named_steps:
        ratios = fitted.named_steps["pca"].explained_variance_ratio_
        report["pca_components"] = len(ratios)
        report["pca_explained_variance"] = [round(float(r), 6) for r in ratios]
        report["pca_explained_variance_total"] = round(float(ratios.sum()), 6)
    report["model_features"] = [str(n) for n in fitted.get_feature_names_out()]
    return report
