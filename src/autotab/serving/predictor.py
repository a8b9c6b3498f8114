"""Scoring raw rows with the packaged model, shared by the service and the batch predictor."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.model_selection import FixedThresholdClassifier


class Predictor:
    """The packaged model split after its cleaner, so that a caller cleans rows once and can look at
    the cleaned values (the service counts unseen categories on them) before scoring those same
    values. Each scikit-learn step costs an input check per call whatever the number of rows, which
    is most of a single-record prediction: cleaning twice would double the cleaner's share."""

    def __init__(self, model: Any) -> None:
        self.model = model
        self.threshold: FixedThresholdClassifier | None = None
        if isinstance(model, FixedThresholdClassifier):  # autotab's binary models (see the tune stage)
            if model.response_method != "predict_proba":
                raise ValueError("a FixedThresholdClassifier must cut predict_proba to be scored here")
            self.threshold = model
        pipeline = getattr(model, "estimator_", model)
        self.cleaner = pipeline.steps[0][1]
        self.after_cleaning = pipeline[1:]

    def clean(self, frame: pd.DataFrame) -> pd.DataFrame:
        return self.cleaner.transform(frame)

    def predict(self, cleaned: pd.DataFrame) -> np.ndarray:
        """What `model.predict` gives for the raw rows these cleaned rows came from."""
        if self.threshold is not None:
            return self.classify(cleaned)[0]
        return self.after_cleaning.predict(cleaned)

    def classify(self, cleaned: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """Labels and class probabilities (columns in `model.classes_` order) of cleaned rows."""
        proba = self.after_cleaning.predict_proba(cleaned)
        if self.threshold is None:
            # Every classifier of the zoo labels by the most probable class (a test holds each to it),
            # so the labels come from these probabilities, without a second Pipeline run.
            return self.after_cleaning.classes_[np.argmax(proba, axis=1)], proba
        # The tuned cut on the positive class, as model.predict applies it, without a second Pipeline run.
        classes, pos_label = self.threshold.classes_, self.threshold.pos_label
        positive = list(classes).index(pos_label) if pos_label is not None else 1
        return classes[np.where(proba[:, positive] >= self.threshold.threshold, positive, 1 - positive)], proba


def classify(model: Any, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Labels and class probabilities (columns in `model.classes_` order) of raw rows."""
    scorer = Predictor(model)
    return scorer.classify(scorer.clean(frame))


def labelled_answers(labels: np.ndarray, proba: np.ndarray, classes: np.ndarray) -> list[dict[str, Any]]:
    """Per record, the label and each class's probability (6 decimals) keyed by the class name.

    Whole arrays become Python values at once: per-value float() and round() calls cost more than
    the Pipeline itself on a 1000-record request.
    """
    names = [str(c) for c in classes.tolist()]
    return [
        {"label": label, "probabilities": dict(zip(names, row, strict=True))}
        for label, row in zip(labels.tolist(), np.round(proba, 6).tolist(), strict=True)
    ]
