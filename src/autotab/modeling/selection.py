"""Step up from a simpler model only when it clearly pays: the one-standard-error rule (Breiman et
al. 1984; Hastie, Tibshirani & Friedman, ESL 7.10) applied to each choice the tune stage makes.

On a few hundred rows every comparison is optimistic for the more flexible side: it was picked as
the best of many (families, trials, greedy blends) on the very rows that judge it. So a challenger
replaces the incumbent only if its gain exceeds `min_gain_se` standard errors of that gain.

The gain is the primary metric on the out-of-fold rows, challenger minus incumbent (larger is
better), and its standard error comes from a seeded paired bootstrap over those rows: both
predictions are scored on the same resampled rows, so what they share cancels out. It measures
how much the gain depends on which rows happen to be in the table, the same variation a holdout of
new rows shows; it needs no refit and works for any metric, ROC AUC and log loss included.

When the metric scores the probabilities themselves (log loss), each side is judged in the form it
would be served in: temperature-scaled (`autotab.estimators.calibration`) if that pays for it cross-fitted,
else raw. So a timid anchor is not beaten merely by a bolder challenger,
only by one that knows more; and a temperature fitted around a few confident mistakes, which would
cost more on new rows than it gains, is not used.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from autotab.estimators.calibration import cross_fitted
from autotab.metrics import oof_score


@dataclass(frozen=True)
class Step:
    """One choice: did the challenger clearly beat the incumbent?"""

    step: str  # what was judged: "defaults", "search" or "ensemble"
    incumbent: str
    challenger: str
    gain: float  # out of fold, challenger minus incumbent, larger is better
    se: float  # bootstrap standard error of the gain
    threshold: float  # min_gain_se * se: what the gain had to exceed

    @property
    def replaced(self) -> bool:
        return self.gain > self.threshold

    def record(self) -> dict[str, Any]:
        return {**asdict(self), "replaced": self.replaced}


@dataclass(frozen=True)
class Referee:
    """Judges challengers on one table's out-of-fold rows with one rule (`min_gain_se`) and one
    seeded bootstrap (`resamples` row resamples); with `calibrates`, on served-form predictions."""

    y: pd.Series
    task: str
    metric: str
    classes: Any
    positive: Any
    min_gain_se: float
    resamples: int
    seed: int
    calibrates: bool = False

    def calibration(self, predictions: Sequence[np.ndarray]) -> tuple[Step, list[np.ndarray]]:
        """Does temperature scaling pay for one model? Its out-of-fold predictions (one per K-fold
        split), cross-fitted calibrated, against the raw ones; and the calibrated ones. Taken on
        any gain: the temperature is one number, not the best of many candidates, and cross-fitting
        leaves its gain no optimism for an SE bar to discount."""
        scaled = [cross_fitted(p, self.y, self.classes, self.seed) for p in predictions]
        gain, se = self.paired_gain(scaled, predictions)
        return Step("calibration", "raw", "temperature-scaled", gain, se, 0.0), scaled

    def served(self, predictions: Sequence[np.ndarray]) -> list[np.ndarray]:
        """The predictions as the model would be served: temperature-scaled if that clearly pays."""
        if not self.calibrates:
            return list(predictions)
        step, scaled = self.calibration(predictions)
        return scaled if step.replaced else list(predictions)

    def score(self, prediction: np.ndarray, rows: np.ndarray | None = None) -> float:
        if rows is None:
            return oof_score(prediction, self.y, self.task, self.metric, self.classes, self.positive)
        return oof_score(prediction[rows], self.y.iloc[rows], self.task, self.metric, self.classes, self.positive)

    def paired_gain(self, challenger: Sequence[np.ndarray], incumbent: Sequence[np.ndarray]) -> tuple[float, float]:
        """The challenger's gain over the incumbent and its paired bootstrap standard error.

        Each argument holds out-of-fold predictions of the training rows, one per K-fold split
        (fresh splits of the same rows, paired by position); the gain is averaged over the splits.
        Resamples the metric cannot be scored on (a single class drawn) are skipped."""

        if all(np.array_equal(c, i) for c, i in zip(challenger, incumbent, strict=True)):
            return 0.0, 0.0  # the same predictions (the best trial was the defaults): no resample differs

        def gain(rows: np.ndarray | None) -> float:
            pairs = zip(challenger, incumbent, strict=True)
            return float(np.mean([self.score(c, rows) - self.score(i, rows) for c, i in pairs]))

        rng = np.random.default_rng(self.seed)
        gains = []
        for _ in range(self.resamples):
            rows = rng.integers(0, len(self.y), len(self.y))
            try:
                gains.append(gain(rows))
            except ValueError:
                continue
        se = float(np.std(gains, ddof=1)) if len(gains) > 1 else 0.0
        return round(gain(None), 6), round(se, 6)

    def judge(
        self,
        step: str,
        incumbent: str,
        challenger: str,
        challenger_oof: Sequence[np.ndarray],
        incumbent_oof: Sequence[np.ndarray],
        min_gain_se: float | None = None,
    ) -> Step:
        """`min_gain_se`: this step's bar, if not the referee's (0 for a cross-fitted challenger,
        whose out-of-fold score carries no optimism from its own choice)."""
        gain, se = self.paired_gain(self.served(challenger_oof), self.served(incumbent_oof))
        bar = self.min_gain_se if min_gain_se is None else min_gain_se
        return Step(step, incumbent, challenger, gain, se, round(bar * se, 6))
