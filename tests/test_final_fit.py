"""The served model (`autotab.modeling.final_fit`): which rows it is fitted on, and the refit that
keeps the training split's cleaner. The refit stage itself runs in test_end_to_end.py."""

import joblib
import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import FixedThresholdClassifier
from sklearn.pipeline import Pipeline

from autotab.estimators.table_cleaner import TableCleaner
from autotab.modeling.features import build_preprocessor
from autotab.modeling.final_fit import plan, refit_on_all_rows
from autotab.modeling.training import whole_pipeline
from tests.support import FEATURES


def test_by_default_the_served_model_learns_from_the_holdout_rows_too():
    final = plan("all", tuning={}, train_rows=800, holdout_rows=200, outliers="clip")
    assert final.on_holdout_too and final.rows == 1000 and "1,000 training and holdout rows" in final.why


def test_fit_rows_train_serves_the_evaluated_model():
    final = plan("train", tuning={}, train_rows=800, holdout_rows=200, outliers="none")
    assert not final.on_holdout_too and final.rows == 800 and "package.fit_rows: train" in final.why


def test_a_model_the_budget_fitted_on_a_sample_is_served_as_it_is():
    final = plan("all", tuning={"refit_rows": 500}, train_rows=800, holdout_rows=200, outliers="none")
    assert not final.on_holdout_too and final.rows == 500 and "budget_s" in final.why
    # A budget that afforded every training row refits on the holdout rows too.
    assert plan("all", tuning={"refit_rows": 800}, train_rows=800, holdout_rows=200, outliers="none").on_holdout_too


def test_a_model_whose_training_rows_lost_their_outliers_is_served_as_it_is():
    final = plan("all", tuning={}, train_rows=800, holdout_rows=200, outliers="isolation_forest")
    assert not final.on_holdout_too and "clean.outliers" in final.why


def test_a_model_fitted_on_the_dask_cluster_is_served_as_it_is():
    tuning = {"distributed_fit": {"rows": 800, "recipe_rows": 100}}
    final = plan("all", tuning=tuning, train_rows=800, holdout_rows=200, outliers="none")
    assert not final.on_holdout_too and "Dask cluster" in final.why


def test_the_refit_keeps_the_training_splits_cleaner_and_learns_the_rest_again():
    """Rows only the holdout has (a column constant in training, a new category) would change a
    refit cleaner's columns; the data contract describes the training split's cleaner, so it stays."""
    rng = np.random.default_rng(0)
    train = pd.DataFrame({"x": rng.normal(size=120), "colour": rng.choice(["red", "blue"], 120), "flag": "on"})
    holdout = pd.DataFrame({"x": rng.normal(size=40), "colour": rng.choice(["green", "red"], 40),
                            "flag": rng.choice(["on", "off"], 40)})  # fmt: skip
    y_train = pd.Series(np.where(train["x"] > 0, "yes", "no"))
    y_all = pd.concat([y_train, pd.Series(np.where(holdout["x"] > 0.3, "yes", "no"))], ignore_index=True)
    X_all = pd.concat([train, holdout], ignore_index=True)
    pipeline = whole_pipeline(build_preprocessor(TableCleaner(), FEATURES, "binary", 0), LogisticRegression())
    evaluated = FixedThresholdClassifier(pipeline, threshold=0.4, response_method="predict_proba").fit(train, y_train)

    served = refit_on_all_rows(evaluated, X_all, y_all)
    cleaner = served.estimator_.steps[0][1]
    assert isinstance(cleaner, TableCleaner) and joblib.hash(cleaner) == joblib.hash(evaluated.estimator_.steps[0][1])
    assert "flag" in cleaner.dropped_  # constant in training: dropped, though the holdout varies it
    assert TableCleaner().fit(X_all).dropped_ != cleaner.dropped_  # what a refit cleaner would have done
    # The rest learnt from every row: the same as fitting it on the cleaned rows directly.
    after = clone(Pipeline(pipeline.steps[1:])).fit(cleaner.transform(X_all), y_all)
    np.testing.assert_allclose(served.predict_proba(X_all), after.predict_proba(cleaner.transform(X_all)))
    assert not np.allclose(served.predict_proba(X_all), evaluated.predict_proba(X_all))
    assert served.threshold == 0.4 and served.estimator is evaluated.estimator
    assert joblib.hash(served) == joblib.hash(refit_on_all_rows(evaluated, X_all, y_all))  # seeded: the same bytes
