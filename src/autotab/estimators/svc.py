"""A support vector classifier with calibrated probabilities (the zoo's `svm` family)."""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.calibration import CalibratedClassifierCV
from sklearn.svm import SVC
from sklearn.utils.validation import check_is_fitted, column_or_1d


class CalibratedSVC(ClassifierMixin, BaseEstimator):
    """An RBF (or other kernel) SVC with probabilities from sigmoid calibration on internal folds,
    the replacement scikit-learn recommends for the deprecated `SVC(probability=True)`."""

    _parameter_constraints = {
        key: SVC._parameter_constraints[key] for key in ("C", "kernel", "degree", "gamma", "class_weight")
    }

    def __init__(self, C=1.0, kernel="rbf", degree=3, gamma="scale", class_weight=None, random_state=None):
        self.C = C
        self.kernel = kernel
        self.degree = degree
        self.gamma = gamma
        self.class_weight = class_weight
        self.random_state = random_state

    def fit(self, X, y):
        y = column_or_1d(y, warn=True)
        svc = SVC(C=self.C, kernel=self.kernel, degree=self.degree, gamma=self.gamma,
                  class_weight=self.class_weight, random_state=self.random_state)  # fmt: skip
        self.calibrated_ = CalibratedClassifierCV(svc, method="sigmoid", cv=3, ensemble=False).fit(X, y)
        self.classes_ = self.calibrated_.classes_
        self.n_features_in_ = self.calibrated_.n_features_in_
        return self

    def predict_proba(self, X):
        check_is_fitted(self, "calibrated_")
        return self.calibrated_.predict_proba(X)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True  # as SVC
        return tags

    def predict(self, X):
        proba = self.predict_proba(X)  # first: an unfitted model raises NotFittedError there
        return self.classes_[np.argmax(proba, axis=1)]
