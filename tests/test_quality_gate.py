"""The quality gate before packaging, on the scores the tune and evaluate stages write."""

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_val_predict, train_test_split

from autotab.config import PackageConfig
from autotab.data.splits import make_folds
from autotab.errors import UserError
from autotab.metrics import classification_metric, skill
from autotab.modeling.selection import Referee
from autotab.modeling.training import baseline_oof
from autotab.reporting.quality_gate import judge

GATE = PackageConfig(min_gain_se=2.0, min_skill=0.0, allow_weak_model=False)


def scores(X: pd.DataFrame, y: pd.Series) -> tuple[dict, dict]:
    """What tune's summary and evaluate's metrics hold for a logistic regression on this table."""
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, stratify=y, random_state=0)
    folds, classes = make_folds("binary", 5, seed=0), np.array([0, 1])
    model = LogisticRegression()
    oof = cross_val_predict(model, X_train, y_train, cv=folds, method="predict_proba")
    trivial = baseline_oof(X_train, y_train, "binary", folds, groups=None)
    referee = Referee(y_train, "binary", "roc_auc", classes, 1, min_gain_se=2.0, resamples=200, seed=0)
    summary = {
        "oof_chosen": classification_metric("roc_auc", y_train, oof, classes, 1),
        "oof_baseline": classification_metric("roc_auc", y_train, trivial, classes, 1),
        "oof_gain_over_baseline_se": referee.paired_gain([oof], [trivial])[1],
    }
    held = model.fit(X_train, y_train).predict_proba(X_test)
    holdout = {"primary_metric": "roc_auc", "roc_auc": classification_metric("roc_auc", y_test, held, classes, 1)}
    return summary, holdout | {"baseline": {"roc_auc": 0.5}}


def table(rows: int, signal: float, seed: int) -> tuple[pd.DataFrame, pd.Series]:
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(rng.normal(size=(rows, 5)), columns=[f"x{i}" for i in range(5)])
    y = pd.Series((signal * X["x0"] + rng.normal(size=rows) > 0).astype(int))
    return X, y


@pytest.mark.parametrize("seed", range(4))
def test_a_model_of_random_labels_is_refused_and_packaged_only_when_allowed(seed):
    summary, holdout = scores(*table(400, signal=0.0, seed=seed))  # labels independent of every column
    with pytest.raises(UserError, match="does not clearly beat the trivial baseline") as refused:
        judge(summary, holdout, GATE)
    assert "allow_weak_model=true" in str(refused.value) and "out of fold roc_auc" in str(refused.value)
    allowed = judge(summary, holdout, GATE.model_copy(update={"allow_weak_model": True}))
    assert allowed.startswith("WARNING: packaging a model that does not clearly beat the trivial baseline")


def test_a_model_with_signal_passes_and_both_margins_are_configurable():
    summary, holdout = scores(*table(400, signal=1.0, seed=3))
    assert judge(summary, holdout, GATE).startswith("the model beats the trivial baseline")
    with pytest.raises(UserError, match=r"package.min_skill \(0.99\)"):
        judge(summary, holdout, GATE.model_copy(update={"min_skill": 0.99}))
    with pytest.raises(UserError, match=r"package.min_gain_se \(1000\)"):
        judge(summary, holdout, GATE.model_copy(update={"min_gain_se": 1000}))


@pytest.mark.parametrize(
    "score,baseline,metric,expected",
    [
        (0.41, 0.5, "roc_auc", -0.18),
        (0.75, 0.5, "roc_auc", 0.5),
        (0.32, 0.64, "log_loss", 0.5),  # half the baseline's log loss: McFadden's pseudo-R² of 0.5
        (3.0, 2.0, "rmse", -0.5),  # worse than predicting the mean
        (0.7, 0.7, "accuracy", 0.0),
    ],
)
def test_skill_is_one_scale_for_every_metric(score, baseline, metric, expected):
    assert skill(score, baseline, metric) == pytest.approx(expected)
