"""Which rows the served model is fitted on (`autotab.modeling.final_fit.plan`); the refit itself is
checked on the real pipeline in test_end_to_end.py."""

from autotab.modeling.final_fit import plan


def test_by_default_the_served_model_learns_from_the_holdout_rows_too():
    final = plan("all", tuning={}, train_rows=800, holdout_rows=200)
    assert final.on_holdout_too and final.rows == 1000 and "1,000 training and holdout rows" in final.why


def test_fit_rows_train_serves_the_evaluated_model():
    final = plan("train", tuning={}, train_rows=800, holdout_rows=200)
    assert not final.on_holdout_too and final.rows == 800 and "package.fit_rows: train" in final.why


def test_a_model_the_budget_fitted_on_a_sample_is_served_as_it_is():
    final = plan("all", tuning={"refit_rows": 500}, train_rows=800, holdout_rows=200)
    assert not final.on_holdout_too and final.rows == 500 and "budget_s" in final.why
    # A budget that afforded every training row refits on the holdout rows too.
    assert plan("all", tuning={"refit_rows": 800}, train_rows=800, holdout_rows=200).on_holdout_too


def test_a_model_fitted_on_the_dask_cluster_is_served_as_it_is():
    tuning = {"distributed_fit": {"rows": 800, "recipe_rows": 100}}
    final = plan("all", tuning=tuning, train_rows=800, holdout_rows=200)
    assert not final.on_holdout_too and "Dask cluster" in final.why
