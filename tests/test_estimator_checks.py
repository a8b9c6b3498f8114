"""scikit-learn's own estimator checks on the estimators autotab writes that end up inside the
served Pipeline (clone, fit, predict, pickle, input validation, tags).

Left out: TableCleaner and ColumnGroups take only pandas DataFrames with named columns (they clean
a user's table by column name), so the array-based checks do not apply; their own tests
(test_cleaner.py, test_column_groups.py) cover fit/transform, pickling and reproducibility."""

from sklearn.linear_model import LogisticRegression
from sklearn.utils.estimator_checks import parametrize_with_checks

from autotab.estimators.boosting import (
    CatBoostClassifier,
    CatBoostRegressor,
    LightGBMClassifier,
    LightGBMRegressor,
    XGBoostClassifier,
    XGBoostRegressor,
)
from autotab.estimators.calibration import TemperatureScaled
from autotab.estimators.column_budget import ColumnBudget
from autotab.estimators.svc import CalibratedSVC

# class_weight takes "balanced" or None in autotab's config (train.class_weight), not a dict.
BALANCED_ONLY = {"check_class_weight_classifiers": "class_weight is 'balanced' or None, not a dict"}
ESTIMATORS = [
    TemperatureScaled(LogisticRegression(), temperature=1.5),
    CalibratedSVC(random_state=0),
    LightGBMClassifier(n_estimators=20),
    LightGBMRegressor(n_estimators=20),
    XGBoostClassifier(n_estimators=20),
    XGBoostRegressor(n_estimators=20),
    CatBoostClassifier(n_estimators=20),
    CatBoostRegressor(n_estimators=20),
    ColumnBudget(max_columns=2),
    ColumnBudget(sure_screening=True),  # the checks' tables with more columns than rows are screened
]
EXPECTED_FAILURES = {
    # Its labels come from sigmoid-calibrated probabilities (scikit-learn's replacement for
    # SVC(probability=True)), which undo the shift class weights give the SVC's decision boundary.
    "CalibratedSVC": {"check_class_weight_classifiers": "calibrated probabilities undo the class weights"},
    "LightGBMClassifier": BALANCED_ONLY,
    "XGBoostClassifier": BALANCED_ONLY,
    "CatBoostClassifier": BALANCED_ONLY,
}


@parametrize_with_checks(ESTIMATORS, expected_failed_checks=lambda e: EXPECTED_FAILURES.get(type(e).__name__, {}))
def test_the_estimators_inside_the_served_pipeline_pass_scikit_learns_checks(estimator, check):
    check(estimator)
