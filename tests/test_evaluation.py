import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm

from autotab.errors import UserError
from autotab.metrics import classification_metric, classification_metrics, positive_class, regression_metrics
from autotab.reporting.evaluation import confusion_rows, plot_tables

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


@pytest.mark.parametrize("classes", [CLASSES, np.array(["a", "b", "c"])])
def test_one_metric_alone_is_the_same_number_as_among_all(classes):
    rng = np.random.default_rng(0)
    y = pd.Series(rng.choice(classes, 40))
    proba = rng.dirichlet(np.ones(len(classes)), 40)
    every = classification_metrics(y, proba, classes, classes[-1])
    assert {name: classification_metric(name, y, proba, classes, classes[-1]) for name in every} == every


def test_regression_metrics_match_scikit_learn():
    y, p = pd.Series([1.0, 2.0, 3.0]), np.array([1.5, 2.0, 2.0])
    got = regression_metrics(y, p)
    assert got["rmse"] == pytest.approx(skm.root_mean_squared_error(y, p), abs=1e-6)
    assert got["r2"] == pytest.approx(skm.r2_score(y, p), abs=1e-6)


def test_plot_data():
    tables = plot_tables("binary", Y, PROBA, CLASSES[(P_MALIGNANT > 0.5).astype(int)], CLASSES, "malignant")
    roc = tables["roc.csv"]
    assert list(roc.columns) == ["fpr", "tpr"] and roc["tpr"].iloc[-1] == 1.0
    assert tables["residuals.csv"].empty and list(tables["residuals.csv"].columns) == ["predicted", "residual"]
    multiclass = plot_tables("multiclass", Y, PROBA, CLASSES[(P_MALIGNANT > 0.5).astype(int)], CLASSES)
    assert not multiclass["roc.csv"].empty and multiclass["calibration.csv"].empty
    regression = plot_tables("regression", pd.Series([1.0, 2.0]), np.array([1.5, 2.0]), np.array([1.5, 2.0]))
    assert regression["residuals.csv"]["residual"].tolist() == [-0.5, 0.0] and regression["roc.csv"].empty
    confusion = confusion_rows(Y, CLASSES[(P_MALIGNANT > 0.5).astype(int)])
    assert len(confusion) == len(Y) and list(confusion.columns) == ["actual", "predicted"]


def test_positive_class():
    assert positive_class(CLASSES, None) == "malignant"
    assert positive_class(CLASSES, "benign") == "benign"
    with pytest.raises(UserError, match="data.positive_label 'cancer' is not a class"):
        positive_class(CLASSES, "cancer")


def test_the_bootstrap_interval_is_seeded_and_brackets_the_estimate():
    from autotab.reporting.evaluation import bootstrap_interval

    rng = np.random.default_rng(0)
    y = pd.Series(rng.choice(CLASSES, 200))
    p = np.clip((y == "malignant") * 0.3 + rng.random(200) * 0.7, 0, 1).to_numpy()
    proba = np.column_stack([1 - p, p])

    def score(rows):
        return classification_metrics(y.iloc[rows], proba[rows], CLASSES, "malignant")["roc_auc"]

    low, high = bootstrap_interval(score, len(y), seed=1, resamples=300)
    assert (low, high) == bootstrap_interval(score, len(y), seed=1, resamples=300)
    assert low < score(np.arange(len(y))) < high


def test_the_trivial_baseline_and_calibration_data():
    from autotab.reporting.evaluation import calibration_points, prior_probabilities

    prior = prior_probabilities(pd.Series(["benign"] * 3 + ["malignant"]), CLASSES, 2)
    assert prior.tolist() == [[0.75, 0.25], [0.75, 0.25]]
    points = calibration_points(Y, P_MALIGNANT, "malignant", bins=2)
    assert list(points.columns) == ["mean_predicted", "fraction_positive"] and len(points) == 2


def test_the_decision_threshold_maximises_f1_out_of_fold():
    from autotab.metrics import best_threshold

    y = pd.Series(["benign"] * 6 + ["malignant"] * 4)
    p = np.array([0.05, 0.1, 0.2, 0.25, 0.3, 0.45, 0.35, 0.4, 0.8, 0.9])
    threshold = best_threshold(y, p, "malignant")
    assert threshold == 0.35  # everything from 0.35 up is malignant except one benign at 0.45
    labels = np.where(p >= threshold, "malignant", "benign")
    assert skm.f1_score(y, labels, pos_label="malignant") == pytest.approx(8 / 9)
