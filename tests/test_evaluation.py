import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm

from autotab.errors import UserError
from autotab.evaluation import (
    classification_metrics,
    confusion_rows,
    positive_class,
    regression_metrics,
    roc_points,
)

Y = pd.Series(["benign", "malignant", "malignant", "benign", "malignant"])
P_MALIGNANT = np.array([0.1, 0.8, 0.4, 0.3, 0.9])
PROBA = np.column_stack([1 - P_MALIGNANT, P_MALIGNANT])
CLASSES = np.array(["benign", "malignant"])


def test_binary_metrics_match_scikit_learn():
    got = classification_metrics(Y, PROBA, CLASSES, "malignant")
    is_positive = (Y == "malignant").astype(int)
    assert got["roc_auc"] == pytest.approx(skm.roc_auc_score(is_positive, P_MALIGNANT), abs=1e-6)
    assert got["pr_auc"] == pytest.approx(skm.average_precision_score(is_positive, P_MALIGNANT), abs=1e-6)
    assert got["accuracy"] == pytest.approx(0.8)
    assert got["log_loss"] == pytest.approx(skm.log_loss(Y, PROBA, labels=CLASSES), abs=1e-6)
    assert got["brier"] == pytest.approx(skm.brier_score_loss(is_positive, P_MALIGNANT), abs=1e-6)


def test_regression_metrics_match_scikit_learn():
    y, p = pd.Series([1.0, 2.0, 3.0]), np.array([1.5, 2.0, 2.0])
    got = regression_metrics(y, p)
    assert got["rmse"] == pytest.approx(skm.root_mean_squared_error(y, p), abs=1e-6)
    assert got["r2"] == pytest.approx(skm.r2_score(y, p), abs=1e-6)


def test_plot_data():
    roc = roc_points(Y, P_MALIGNANT, "malignant")
    assert list(roc.columns) == ["fpr", "tpr"] and roc["tpr"].iloc[-1] == 1.0
    confusion = confusion_rows(Y, CLASSES[(P_MALIGNANT > 0.5).astype(int)])
    assert len(confusion) == len(Y) and list(confusion.columns) == ["actual", "predicted"]


def test_positive_class():
    assert positive_class(CLASSES, None) == "malignant"
    assert positive_class(CLASSES, "benign") == "benign"
    with pytest.raises(UserError, match="data.positive_label 'cancer' is not a class"):
        positive_class(CLASSES, "cancer")
