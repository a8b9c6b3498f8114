"""Temperature scaling (Guo et al. 2017): one number, fitted on out-of-fold predictions, that makes a
classifier's probabilities as sharp as its out-of-fold record supports.

Log loss punishes probabilities that are too timid as well as too bold. A regularised model (the
linear anchor with C=1) is typically too timid: dividing its log-probabilities by a temperature
below 1 sharpens them, above 1 softens a too-confident model. Labels never change (the order of
the classes for each row is kept). A table-wide scalar fitted on a few hundred out-of-fold rows
barely overfits, but its risk is lopsided: fitted on rows that hold no confident mistake, it
sharpens, and the next mistake costs many times more. So calibration is judged cross-fitted
(`cross_fitted`): each row softened with a temperature fitted on (nearly) all the other rows, as a
new row will be with the temperature fitted on all of them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.optimize import minimize_scalar
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.model_selection import KFold
from sklearn.utils import get_tags
from sklearn.utils.validation import check_is_fitted

BOUNDS = (0.05, 20.0)  # temperatures searched: from 20 times sharper to 20 times softer
TINY = 1e-15  # log loss clips probabilities here too


def soften(proba: np.ndarray, temperature: float) -> np.ndarray:
    """Class probabilities with their log-probabilities divided by `temperature`, renormalised."""
    logits = np.log(np.clip(proba, TINY, 1.0)) / temperature
    logits -= logits.max(axis=1, keepdims=True)
    scaled = np.exp(logits)
    return scaled / scaled.sum(axis=1, keepdims=True)


def fit_temperature(proba: np.ndarray, y: pd.Series | np.ndarray, classes: np.ndarray) -> float:
    """The temperature that minimises the log loss of out-of-fold `proba` (columns in `classes`
    order) on labels `y`; searched on a log scale, so sharper and softer weigh alike."""
    truth = np.searchsorted(classes, np.asarray(y))
    rows = np.arange(len(truth))

    def loss(log_temperature: float) -> float:
        return float(-np.log(np.clip(soften(proba, np.exp(log_temperature))[rows, truth], TINY, 1.0)).mean())

    found = minimize_scalar(loss, bounds=np.log(BOUNDS), method="bounded", options={"xatol": 1e-6})
    return round(float(np.exp(found.x)), 6)


def cross_fitted(proba: np.ndarray, y: pd.Series, classes: np.ndarray, seed: int, folds: int = 20) -> np.ndarray:
    """Out-of-fold predictions calibrated without their own labels: each of `folds` seeded slices of
    the rows is softened with the temperature fitted on the other slices. Many thin slices: a fit on
    95% of the rows errs as the final fit does; on 80% (5 slices) the slice that holds the table's
    few confident mistakes is scored with a temperature fitted without any of them."""
    calibrated = np.empty_like(proba, dtype=float)
    labels = np.asarray(y)
    for fit_rows, apply_rows in KFold(min(folds, len(labels)), shuffle=True, random_state=seed).split(proba):
        temperature = fit_temperature(proba[fit_rows], labels[fit_rows], classes)
        calibrated[apply_rows] = soften(proba[apply_rows], temperature)
    return calibrated


class TemperatureScaled(ClassifierMixin, BaseEstimator):
    """A classifier whose probabilities are softened by a fixed temperature (fitted beforehand on
    its out-of-fold predictions); its labels are the wrapped classifier's."""

    def __init__(self, estimator: BaseEstimator, temperature: float = 1.0) -> None:
        self.estimator = estimator
        self.temperature = temperature

    def fit(self, X, y):
        self.estimator_ = clone(self.estimator).fit(X, y)
        self.classes_ = self.estimator_.classes_
        self.n_features_in_ = self.estimator_.n_features_in_
        return self

    def predict_proba(self, X) -> np.ndarray:
        check_is_fitted(self, "estimator_")
        return soften(self.estimator_.predict_proba(X), self.temperature)

    def predict(self, X) -> np.ndarray:
        check_is_fitted(self, "estimator_")
        return self.estimator_.predict(X)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags = get_tags(self.estimator).input_tags  # what it takes is what it wraps takes
        return tags
