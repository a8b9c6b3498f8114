"""Scoring raw rows with the packaged model, shared by the service and the batch predictor."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.model_selection import FixedThresholdClassifier


def labels_from_probabilities(model: Any, frame: pd.DataFrame, proba: np.ndarray) -> np.ndarray:
    """What `model.predict(frame)` returns, without running the Pipeline a second time where the
    labels follow from the probabilities: a binary model's tuned threshold on the positive class."""
    if isinstance(model, FixedThresholdClassifier) and model.response_method == "predict_proba":
        classes = model.classes_
        positive = list(classes).index(model.pos_label) if model.pos_label is not None else 1
        return classes[np.where(proba[:, positive] >= model.threshold, positive, 1 - positive)]
    return model.predict(frame)  # e.g. an SVM's labels come from its decision function, not its probabilities


def classify(model: Any, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Labels and class probabilities (columns in `model.classes_` order) of raw rows."""
    proba = model.predict_proba(frame)
    return labels_from_probabilities(model, frame, proba), proba
