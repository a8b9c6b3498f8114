"""Boosted trees from LightGBM, XGBoost and CatBoost as scikit-learn estimators.

Each estimator stops early inside its own `fit`: it sees only the rows the Pipeline gives it (a
training fold, or the whole training split), holds out a seeded slice of those rows (stratified for
classification), boosts up to `n_estimators` rounds while the slice's loss improves, then refits on
all of its rows with the best round count. The rows a fold scores are never seen. Refitting costs
about one more fit of the best length and returns the slice's rows to the model, which matters on
the small tables autotab is made for (a 15% slice of a 500-row fold is 75 rows of training data).

Every fit uses exactly `n_jobs` threads, writes no files and prints nothing; the same
`random_state` gives byte-identical pickles. Labels may be any sortable values (strings included):
they are encoded to 0..K-1 inside. The libraries are imported when a model is fitted or unpickled,
so importing the zoo stays cheap.
"""

from __future__ import annotations

from numbers import Integral, Real
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.model_selection import train_test_split
from sklearn.utils import compute_sample_weight
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

MAX_ESTIMATORS = 2000  # boosting rounds are a ceiling for early stopping, bounded for cost
# The slice has at least this many rows (more than validation_fraction on small fits) and at most a
# third of the fit's rows: a fit with fewer than 60 rows boosts `n_estimators` rounds, without a slice.
MIN_VALIDATION_ROWS = 20

COMMON_CONSTRAINTS: dict[str, list] = {
    "n_estimators": [Interval(Integral, 1, MAX_ESTIMATORS, closed="both")],
    "learning_rate": [Interval(Real, 0, 1, closed="right")],
    "early_stopping_rounds": [Interval(Integral, 1, None, closed="left"), None],
    "validation_fraction": [Interval(Real, 0.05, 0.5, closed="both")],
    "n_jobs": [Interval(Integral, 1, None, closed="left")],
    "random_state": [Interval(Integral, 0, 2**31 - 1, closed="both"), None],
}
CLASS_WEIGHT = {"class_weight": [StrOptions({"balanced"}), None]}
FRACTION = [Interval(Real, 0, 1, closed="right")]
PENALTY = [Interval(Real, 0, None, closed="left")]


class BoostedTrees(BaseEstimator):
    """What the three libraries share: input checks, the validation slice, early stopping, refit.

    A subclass says how to build its library's model (`_library_model`), fit it with or without a
    validation slice (`_fit_library`) and read the best round (`_best_round`).
    """

    _classifier = False

    def fit(self, X, y):
        self._validate_params()
        X, y = validate_data(self, X, y, dtype=np.float64, ensure_all_finite="allow-nan", y_numeric=False)
        if len(y) < 2:
            raise ValueError(f"{type(self).__name__} cannot learn from 1 sample")
        if self._classifier:
            check_classification_targets(y)  # a continuous target is an error, not hundreds of classes
            self.classes_, y = np.unique(y, return_inverse=True)
            if len(self.classes_) < 2:
                raise ValueError(f"{type(self).__name__} needs at least two classes, got 1 class")
            weight = compute_sample_weight(self.class_weight, y) if self.class_weight else None
        else:
            y = np.asarray(y, dtype=np.float64)
            weight = None
        seed = 0 if self.random_state is None else int(self.random_state)
        self.n_samples_fit_ = len(y)  # the probe and the final fit are configured alike from it
        slice_rows = self._validation_rows(y, seed)
        if slice_rows is None:
            self.best_iteration_ = None
            self.n_estimators_ = int(self.n_estimators)
        else:
            keep = np.setdiff1d(np.arange(len(y)), slice_rows)
            probe = self._library_model(self.n_estimators, seed, early_stopping=True)
            validation = (X[slice_rows], y[slice_rows], _rows(weight, slice_rows))
            self._fit_library(probe, X[keep], y[keep], _rows(weight, keep), validation=validation)
            self.best_iteration_ = int(self._best_round(probe))
            self.n_estimators_ = self.best_iteration_ + 1
        self.model_ = self._library_model(self.n_estimators_, seed, early_stopping=False)
        self._fit_library(self.model_, X, y, weight, validation=None)
        return self

    def _validation_rows(self, y: np.ndarray, seed: int) -> np.ndarray | None:
        """The held-out slice's row indices, or None when there are too few rows to early-stop on."""
        if self.early_stopping_rounds is None:
            return None
        size = max(int(round(self.validation_fraction * len(y))), MIN_VALIDATION_ROWS)
        if len(y) - size < 2 * size:
            return None
        stratify = None
        if self._classifier:
            counts = np.bincount(y)
            if counts.min() < 2 or size < len(counts) or len(y) - size < len(counts):
                return None  # a class could miss the slice or the rows boosting learns from
            stratify = y
        _, held_out = train_test_split(np.arange(len(y)), test_size=size, stratify=stratify, random_state=seed)
        return np.sort(held_out)

    def final_library_model(self) -> Any:
        """The library estimator that `fit` fits last, unfitted: the round count found, no early
        stopping. A fit elsewhere (a Dask cluster) builds its own twin of it from its parameters."""
        check_is_fitted(self, "model_")
        return self._library_model(
            self.n_estimators_, 0 if self.random_state is None else int(self.random_state), False
        )

    def _features(self, X) -> np.ndarray:
        check_is_fitted(self, "model_")
        return validate_data(self, X, dtype=np.float64, ensure_all_finite="allow-nan", reset=False)

    def _library_model(self, n_estimators: int, seed: int, early_stopping: bool) -> Any:
        raise NotImplementedError

    def _fit_library(self, model, X, y, weight, validation) -> None:
        raise NotImplementedError

    def _best_round(self, model) -> int:
        raise NotImplementedError

    def _library_proba(self, X: np.ndarray) -> np.ndarray:
        return self.model_.predict_proba(X)

    def _library_predict(self, X: np.ndarray) -> np.ndarray:
        return self.model_.predict(X)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        return tags


class BoostedClassifier(ClassifierMixin, BoostedTrees):
    _classifier = True

    def predict_proba(self, X) -> np.ndarray:
        # XGBoost answers in float32, whose rows miss 1 by more than scikit-learn's metrics accept.
        proba = np.asarray(self._library_proba(self._features(X)), dtype=np.float64)
        return proba / proba.sum(axis=1, keepdims=True)

    def predict(self, X) -> np.ndarray:
        proba = self.predict_proba(X)  # first: an unfitted model raises NotFittedError there
        return self.classes_[np.argmax(proba, axis=1)]


class BoostedRegressor(RegressorMixin, BoostedTrees):
    def predict(self, X) -> np.ndarray:
        return np.asarray(self._library_predict(self._features(X)), dtype=np.float64)


def _rows(weight: np.ndarray | None, rows: np.ndarray) -> np.ndarray | None:
    return None if weight is None else weight[rows]


# LightGBM ---------------------------------------------------------------------------------------


class LightGBMTrees(BoostedTrees):
    """LightGBM (leaf-wise growth), deterministic and row-wise histograms on `n_jobs` threads."""

    _parameter_constraints = {
        **COMMON_CONSTRAINTS,
        "num_leaves": [Interval(Integral, 2, 1024, closed="both")],
        "max_depth": [Interval(Integral, -1, 16, closed="both")],
        "min_child_samples": [Interval(Integral, 1, None, closed="left")],
        "subsample": FRACTION,
        "colsample_bytree": FRACTION,
        "reg_alpha": PENALTY,
        "reg_lambda": PENALTY,
    }

    def _library_model(self, n_estimators, seed, early_stopping):
        import lightgbm

        library = lightgbm.LGBMClassifier if self._classifier else lightgbm.LGBMRegressor
        return library(
            n_estimators=n_estimators,
            learning_rate=self.learning_rate,
            num_leaves=self.num_leaves,
            max_depth=self.max_depth,
            min_child_samples=self.min_child_samples,
            subsample=self.subsample,
            subsample_freq=1 if self.subsample < 1 else 0,  # LightGBM bags rows only with a frequency
            colsample_bytree=self.colsample_bytree,
            reg_alpha=self.reg_alpha,
            reg_lambda=self.reg_lambda,
            random_state=seed,
            n_jobs=self.n_jobs,
            deterministic=True,
            force_row_wise=True,
            verbose=-1,
        )

    def _fit_library(self, model, X, y, weight, validation):
        if validation is None:
            model.fit(X, y, sample_weight=weight)
            return
        import lightgbm

        X_val, y_val, weight_val = validation
        model.fit(
            X, y, sample_weight=weight,
            eval_X=(X_val,), eval_y=(y_val,), eval_sample_weight=None if weight_val is None else [weight_val],
            callbacks=[lightgbm.early_stopping(self.early_stopping_rounds, first_metric_only=True, verbose=False)],
        )  # fmt: skip

    def _best_round(self, model):
        # LightGBM counts rounds from 1 (0: no improvement was recorded); autotab counts from 0.
        return max(model.best_iteration_, 1) - 1


class LightGBMRegressor(BoostedRegressor, LightGBMTrees):
    """LightGBM regression with early stopping inside `fit`.

    Parameters
    ----------
    n_estimators : int
        Most boosting rounds (a ceiling when early stopping is on).
    learning_rate : float
        Shrinkage of each tree.
    num_leaves, max_depth, min_child_samples : int
        Tree size: leaves per tree, depth (-1: limited by num_leaves only), rows per leaf.
    subsample, colsample_bytree : float
        Share of rows per round and of features per tree.
    reg_alpha, reg_lambda : float
        L1 and L2 penalties on leaf values.
    early_stopping_rounds : int or None
        Rounds without improvement on the validation slice before stopping; None: no slice.
    validation_fraction : float
        Share of the fit's own rows held out to early-stop on.
    n_jobs : int
        Threads every fit uses.
    random_state : int or None
        Seed of the slice and of the library (None: 0).
    """

    def __init__(
        self, *, n_estimators=1000, learning_rate=0.05, num_leaves=31, max_depth=-1, min_child_samples=20,
        subsample=1.0, colsample_bytree=1.0, reg_alpha=0.0, reg_lambda=0.0, early_stopping_rounds=50,
        validation_fraction=0.15, n_jobs=1, random_state=None,
    ):  # fmt: skip
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.max_depth = max_depth
        self.min_child_samples = min_child_samples
        self.subsample = subsample
        self.colsample_bytree = colsample_bytree
        self.reg_alpha = reg_alpha
        self.reg_lambda = reg_lambda
        self.early_stopping_rounds = early_stopping_rounds
        self.validation_fraction = validation_fraction
        self.n_jobs = n_jobs
        self.random_state = random_state


class LightGBMClassifier(BoostedClassifier, LightGBMTrees):
    """LightGBM classification (binary or multiclass) with early stopping inside `fit`.

    Parameters are LightGBMRegressor's, and `class_weight` (None or "balanced").
    """

    _parameter_constraints = {**LightGBMTrees._parameter_constraints, **CLASS_WEIGHT}

    def __init__(
        self, *, n_estimators=1000, learning_rate=0.05, num_leaves=31, max_depth=-1, min_child_samples=20,
        subsample=1.0, colsample_bytree=1.0, reg_alpha=0.0, reg_lambda=0.0, early_stopping_rounds=50,
        validation_fraction=0.15, n_jobs=1, random_state=None, class_weight=None,
    ):  # fmt: skip
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.max_depth = max_depth
        self.min_child_samples = min_child_samples
        self.subsample = subsample
        self.colsample_bytree = colsample_bytree
        self.reg_alpha = reg_alpha
        self.reg_lambda = reg_lambda
        self.early_stopping_rounds = early_stopping_rounds
        self.validation_fraction = validation_fraction
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.class_weight = class_weight


# XGBoost ----------------------------------------------------------------------------------------


class XGBoostTrees(BoostedTrees):
    """XGBoost (depth-wise growth, histogram method) on `n_jobs` threads."""

    _parameter_constraints = {
        **COMMON_CONSTRAINTS,
        "max_depth": [Interval(Integral, 1, 16, closed="both")],
        "min_child_weight": PENALTY,
        "subsample": FRACTION,
        "colsample_bytree": FRACTION,
        "reg_alpha": PENALTY,
        "reg_lambda": PENALTY,
    }

    def _library_model(self, n_estimators, seed, early_stopping):
        import xgboost

        library = xgboost.XGBClassifier if self._classifier else xgboost.XGBRegressor
        return library(
            n_estimators=n_estimators,
            learning_rate=self.learning_rate,
            max_depth=self.max_depth,
            min_child_weight=self.min_child_weight,
            subsample=self.subsample,
            colsample_bytree=self.colsample_bytree,
            reg_alpha=self.reg_alpha,
            reg_lambda=self.reg_lambda,
            tree_method="hist",
            early_stopping_rounds=self.early_stopping_rounds if early_stopping else None,
            random_state=seed,
            n_jobs=self.n_jobs,
            verbosity=0,
        )

    def _fit_library(self, model, X, y, weight, validation):
        if validation is None:
            model.fit(X, y, sample_weight=weight, verbose=False)
            return
        X_val, y_val, weight_val = validation
        model.fit(
            X, y, sample_weight=weight, eval_set=[(X_val, y_val)],
            sample_weight_eval_set=None if weight_val is None else [weight_val], verbose=False,
        )  # fmt: skip

    def _best_round(self, model):
        return model.best_iteration


class XGBoostRegressor(BoostedRegressor, XGBoostTrees):
    """XGBoost regression with early stopping inside `fit`.

    Parameters
    ----------
    n_estimators : int
        Most boosting rounds (a ceiling when early stopping is on).
    learning_rate : float
        Shrinkage of each tree.
    max_depth : int
        Depth of each tree.
    min_child_weight : float
        Least hessian weight in a leaf.
    subsample, colsample_bytree : float
        Share of rows per round and of features per tree.
    reg_alpha, reg_lambda : float
        L1 and L2 penalties on leaf values.
    early_stopping_rounds : int or None
        Rounds without improvement on the validation slice before stopping; None: no slice.
    validation_fraction : float
        Share of the fit's own rows held out to early-stop on.
    n_jobs : int
        Threads every fit uses.
    random_state : int or None
        Seed of the slice and of the library (None: 0).
    """

    def __init__(
        self, *, n_estimators=1000, learning_rate=0.1, max_depth=6, min_child_weight=1.0, subsample=1.0,
        colsample_bytree=1.0, reg_alpha=0.0, reg_lambda=1.0, early_stopping_rounds=50,
        validation_fraction=0.15, n_jobs=1, random_state=None,
    ):  # fmt: skip
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.max_depth = max_depth
        self.min_child_weight = min_child_weight
        self.subsample = subsample
        self.colsample_bytree = colsample_bytree
        self.reg_alpha = reg_alpha
        self.reg_lambda = reg_lambda
        self.early_stopping_rounds = early_stopping_rounds
        self.validation_fraction = validation_fraction
        self.n_jobs = n_jobs
        self.random_state = random_state


class XGBoostClassifier(BoostedClassifier, XGBoostTrees):
    """XGBoost classification (binary or multiclass) with early stopping inside `fit`.

    Parameters are XGBoostRegressor's, and `class_weight` (None or "balanced").
    """

    _parameter_constraints = {**XGBoostTrees._parameter_constraints, **CLASS_WEIGHT}

    def __init__(
        self, *, n_estimators=1000, learning_rate=0.1, max_depth=6, min_child_weight=1.0, subsample=1.0,
        colsample_bytree=1.0, reg_alpha=0.0, reg_lambda=1.0, early_stopping_rounds=50,
        validation_fraction=0.15, n_jobs=1, random_state=None, class_weight=None,
    ):  # fmt: skip
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.max_depth = max_depth
        self.min_child_weight = min_child_weight
        self.subsample = subsample
        self.colsample_bytree = colsample_bytree
        self.reg_alpha = reg_alpha
        self.reg_lambda = reg_lambda
        self.early_stopping_rounds = early_stopping_rounds
        self.validation_fraction = validation_fraction
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.class_weight = class_weight


# CatBoost ---------------------------------------------------------------------------------------


# At most this many columns scored per tree level, and borders per column between MIN_BORDERS and
# CatBoost's own 254, at least ROWS_PER_BORDER rows apart (CatBoostTrees._library_model).
LEVEL_COLUMNS = 100
ROWS_PER_BORDER, MIN_BORDERS, MAX_BORDERS = 4, 32, 254


class CatBoostTrees(BoostedTrees):
    """CatBoost (symmetric trees) on `n_jobs` threads, silent, writing no `catboost_info/`."""

    _parameter_constraints = {
        **COMMON_CONSTRAINTS,
        "depth": [Interval(Integral, 1, 10, closed="both")],
        "l2_leaf_reg": PENALTY,
        "colsample_bylevel": FRACTION,
    }

    def _library_model(self, n_estimators, seed, early_stopping):
        import catboost

        library = catboost.CatBoostClassifier if self._classifier else catboost.CatBoostRegressor
        # A symmetric tree scores every column at every level, so a fit costs in proportion to the
        # width: on a wide table each level samples at most LEVEL_COLUMNS of them (CatBoost's rsm,
        # which its documentation suggests for many features). Tables this narrow are unchanged.
        rsm = min(self.colsample_bylevel, LEVEL_COLUMNS / self.n_features_in_)
        # Each level scores every border of every sampled column: on a few hundred rows, CatBoost's
        # 254 borders per column resolve single rows (noise, not signal) at 10 times the cost of 64
        # (depth 8, 500 columns: 129 against 13 ms a round). At least ROWS_PER_BORDER rows a border.
        borders = int(np.clip(self.n_samples_fit_ // ROWS_PER_BORDER, MIN_BORDERS, MAX_BORDERS))
        return library(
            iterations=n_estimators,
            learning_rate=self.learning_rate,
            depth=self.depth,
            l2_leaf_reg=self.l2_leaf_reg,
            rsm=rsm,
            border_count=borders,
            random_seed=seed,
            thread_count=self.n_jobs,
            logging_level="Silent",
            allow_writing_files=False,
        )

    def _fit_library(self, model, X, y, weight, validation):
        if validation is None:
            model.fit(X, y, sample_weight=weight)
            # A random id and the finishing time, the only bytes two seeded fits would not share.
            metadata = model.get_metadata()
            for key in ("model_guid", "train_finish_time"):
                if key in metadata:
                    del metadata[key]
            return
        import catboost

        X_val, y_val, weight_val = validation
        model.fit(
            X, y, sample_weight=weight, eval_set=catboost.Pool(X_val, y_val, weight=weight_val),
            early_stopping_rounds=self.early_stopping_rounds, use_best_model=True,
        )  # fmt: skip

    def _best_round(self, model):
        return model.get_best_iteration()

    # CatBoost predicts on every core unless told otherwise (LightGBM and XGBoost keep n_jobs).
    def _library_proba(self, X):
        return self.model_.predict_proba(X, thread_count=self.n_jobs)

    def _library_predict(self, X):
        return self.model_.predict(X, thread_count=self.n_jobs)


class CatBoostRegressor(BoostedRegressor, CatBoostTrees):
    """CatBoost regression with early stopping inside `fit`.

    Parameters
    ----------
    n_estimators : int
        Most boosting rounds (CatBoost's `iterations`; a ceiling when early stopping is on).
    learning_rate : float
        Shrinkage of each tree.
    depth : int
        Depth of each (symmetric) tree.
    l2_leaf_reg : float
        L2 penalty on leaf values.
    colsample_bylevel : float
        Share of features considered per split level (CatBoost's `rsm`).
    early_stopping_rounds : int or None
        Rounds without improvement on the validation slice before stopping; None: no slice.
    validation_fraction : float
        Share of the fit's own rows held out to early-stop on.
    n_jobs : int
        Threads every fit uses (CatBoost's `thread_count`).
    random_state : int or None
        Seed of the slice and of the library (None: 0).
    """

    def __init__(
        self, *, n_estimators=1000, learning_rate=0.05, depth=6, l2_leaf_reg=3.0, colsample_bylevel=1.0,
        early_stopping_rounds=50, validation_fraction=0.15, n_jobs=1, random_state=None,
    ):  # fmt: skip
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.depth = depth
        self.l2_leaf_reg = l2_leaf_reg
        self.colsample_bylevel = colsample_bylevel
        self.early_stopping_rounds = early_stopping_rounds
        self.validation_fraction = validation_fraction
        self.n_jobs = n_jobs
        self.random_state = random_state


class CatBoostClassifier(BoostedClassifier, CatBoostTrees):
    """CatBoost classification (binary or multiclass) with early stopping inside `fit`.

    Parameters are CatBoostRegressor's, and `class_weight` (None or "balanced").
    """

    _parameter_constraints = {**CatBoostTrees._parameter_constraints, **CLASS_WEIGHT}

    def __init__(
        self, *, n_estimators=1000, learning_rate=0.05, depth=6, l2_leaf_reg=3.0, colsample_bylevel=1.0,
        early_stopping_rounds=50, validation_fraction=0.15, n_jobs=1, random_state=None, class_weight=None,
    ):  # fmt: skip
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.depth = depth
        self.l2_leaf_reg = l2_leaf_reg
        self.colsample_bylevel = colsample_bylevel
        self.early_stopping_rounds = early_stopping_rounds
        self.validation_fraction = validation_fraction
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.class_weight = class_weight
