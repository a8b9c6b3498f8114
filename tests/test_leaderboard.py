import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.dummy import DummyClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier
from sklearn.tree import DecisionTreeClassifier

from autotab.data.splits import make_folds
from autotab.errors import UserError
from autotab.estimators.table_cleaner import TableCleaner
from autotab.modeling import leaderboard
from autotab.modeling.budget import Deadline, worker_pool
from autotab.modeling.features import build_preprocessor
from autotab.modeling.training import fit_and_score_fold, whole_pipeline, with_fitted_clean
from tests.support import FEATURES


class Broken(ClassifierMixin, BaseEstimator):
    def fit(self, X, y):
        raise ValueError("cannot handle this data\nsecond line")


def data(n=90):
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"x": rng.normal(size=n), "c": rng.choice(["a", "b"], n)})
    y = pd.Series(np.where(X["x"] + rng.normal(scale=0.5, size=n) > 0, "pos", "neg"))
    return X, y


def rank(candidates, n_jobs=1):
    X, y = data()
    preprocessor = build_preprocessor(TableCleaner(), FEATURES, "binary", 0)
    folds = make_folds("binary", 3, seed=0)
    return leaderboard.rank(candidates, preprocessor, X, y, "binary", folds, "roc_auc", positive="pos", n_jobs=n_jobs)


def test_ranked_best_first_with_a_failure_recorded_last():
    table, results = rank({"broken": Broken(), "dummy": DummyClassifier(), "logistic": LogisticRegression()})
    assert table["model"].tolist() == ["logistic", "dummy", "broken"]
    assert table["rank"].tolist()[:2] == [1, 2] and pd.isna(table["rank"].iloc[2])
    assert table.loc[2, "status"] == "failed" and table.loc[2, "error"] == "ValueError: cannot handle this data"
    assert set(results) == {"logistic", "dummy"}
    assert table.loc[0, "roc_auc_mean"] > 0.8 and table.loc[1, "roc_auc_mean"] == 0.5
    assert {"log_loss_mean", "log_loss_std", "accuracy_mean", "brier_mean"} <= set(table.columns)


def test_the_same_folds_give_the_same_board_in_parallel():
    candidates = {"dummy": DummyClassifier(), "logistic": LogisticRegression()}
    serial, _ = rank(candidates)
    parallel, _ = rank(candidates, n_jobs=2)
    pd.testing.assert_frame_equal(serial, parallel)


def test_all_failing_is_an_error():
    with pytest.raises(UserError, match="every candidate model failed: broken: ValueError"):
        rank({"broken": Broken()})


def test_out_of_fold_predictions_and_markdown():
    table, results = rank({"logistic": LogisticRegression()})
    _, y = data()
    oof = leaderboard.oof_frame(results, y)
    assert list(oof.columns) == ["target", "logistic__neg", "logistic__pos"]
    assert np.allclose(oof[["logistic__neg", "logistic__pos"]].sum(axis=1), 1.0)
    text = leaderboard.markdown(table, "binary", "roc_auc")
    header = [cell.strip() for cell in text.splitlines()[0].split("|")[1:-1]]
    assert header[:4] == ["rank", "model", "roc_auc (primary)", "log_loss"] and header[-1] == "status"
    assert " ± " in text.splitlines()[2]


def screened_rank(candidates, **budget):
    X, y = data(n=150)
    preprocessor = build_preprocessor(TableCleaner(), FEATURES, "binary", 0)
    folds = make_folds("binary", 3, seed=0)
    return leaderboard.rank(
        candidates, preprocessor, X, y, "binary", folds, "roc_auc", positive="pos",
        screen_rows=100, screen_keep=0.33, seed=0, **budget,
    )  # fmt: skip


SCREENED = {
    "logistic": LogisticRegression(),
    "stump": DecisionTreeClassifier(max_depth=1, random_state=0),
    "uniform": DummyClassifier(strategy="uniform", random_state=0),
    "broken": Broken(),
    "knn": KNeighborsClassifier(n_neighbors=15),
    "prior": DummyClassifier(),
}


def test_a_table_over_screen_rows_screens_on_a_sample_and_fits_the_best_on_all_rows():
    table, results = screened_rank(SCREENED)
    # 5 passed the screening round on 100 of the 150 rows; the best third, but at least 3, go on.
    assert set(results) == {"logistic", "stump", "knn"}
    assert all(len(result.oof) == 150 for result in results.values())
    assert table["model"].tolist()[:3] == sorted(results, key=lambda n: -results[n].summary["roc_auc"]["mean"])
    out = table.set_index("model").loc[["uniform", "prior"]]
    assert (out["status"] == "screened").all() and out["rank"].isna().all() and out["roc_auc_mean"].isna().all()
    assert out["error"].str.match(r"screened out on 100 rows: roc_auc 0\.\d{4} \(the kept reached 0\.\d{4}\)").all()
    # A failure in the screening round is recorded once, not fitted again on all rows.
    assert table.set_index("model").loc["broken", "error"] == "ValueError: cannot handle this data"
    assert "screened out on 100 rows" in leaderboard.markdown(table, "binary", "roc_auc")


def test_screening_is_seeded_and_a_table_under_screen_rows_is_not_screened():
    first, _ = screened_rank(SCREENED)
    again, _ = screened_rank(SCREENED)
    pd.testing.assert_frame_equal(first, again)
    X, y = data(n=90)
    preprocessor = build_preprocessor(TableCleaner(), FEATURES, "binary", 0)
    table, results = leaderboard.rank(
        SCREENED, preprocessor, X, y, "binary", make_folds("binary", 3, seed=0), "roc_auc", positive="pos",
        screen_rows=100,
    )  # fmt: skip
    assert set(results) == {"logistic", "stump", "knn", "uniform", "prior"} and "screened" not in set(table["status"])


def test_the_screening_round_under_a_budget_keeps_its_pool_for_the_full_round():
    table, results = screened_rank(SCREENED, deadline=Deadline.after(120), pool=worker_pool(2), threads=1)
    assert set(results) == {"logistic", "stump", "knn"}
    assert (table.set_index("model").loc[["uniform", "prior"], "status"] == "screened").all()


def test_a_screening_sample_is_stratified_or_takes_whole_groups():
    y = pd.Series(["a"] * 900 + ["b"] * 100)
    sample = leaderboard.screening_sample(y, None, task="binary", rows=200, seed=0)
    assert len(sample) == 200 and (y.iloc[sample] == "b").sum() == 20
    groups = pd.Series(np.repeat(np.arange(100), 10))
    sample = leaderboard.screening_sample(y, groups, task="binary", rows=205, seed=0)
    taken = groups.iloc[sample]
    assert len(sample) == 210 and (taken.value_counts() == 10).all()


def test_a_fit_stopped_at_max_iter_is_scored_without_a_warning_from_the_worker_processes(capfd):
    from sklearn.neural_network import MLPClassifier

    X, y = data()
    recipe = build_preprocessor(TableCleaner(), FEATURES, "binary", 0)
    candidates = {"mlp": MLPClassifier(max_iter=2, random_state=0)}  # stops at max_iter on every fold
    board, _ = leaderboard.rank(
        candidates, recipe, X, y, "binary", make_folds("binary", 3, 0), "roc_auc", positive="pos", n_jobs=2
    )
    assert board["status"].tolist() == ["ok"]
    assert "ConvergenceWarning" not in capfd.readouterr().err


@pytest.mark.parametrize("n_jobs", [1, 2])
def test_each_candidate_is_reported_as_it_finishes_in_each_round(n_jobs):
    X, y = data(n=300)
    preprocessor = build_preprocessor(TableCleaner(), FEATURES, "binary", 0)
    candidates = {"broken": Broken(), "dummy": DummyClassifier(), "logistic": LogisticRegression(),
                  "tree": DecisionTreeClassifier(random_state=0)}  # fmt: skip
    heard = []
    table, _ = leaderboard.rank(
        candidates, preprocessor, X, y, "binary", make_folds("binary", 3, seed=0), "roc_auc", positive="pos",
        n_jobs=n_jobs, screen_rows=150, progress=lambda *call: heard.append(call),
    )  # fmt: skip
    screening = [call for call in heard if call[2] == "screening on 150 rows"]
    full = [call for call in heard if call[2] == "all rows"]
    assert len(heard) == len(screening) + len(full)
    assert sorted(name for name, *_ in screening) == sorted(candidates)  # every one, failures included
    assert [(done, total) for *_, done, total in screening] == [(1, 4), (2, 4), (3, 4), (4, 4)]
    assert sorted(name for name, *_ in full) == sorted(table.query("status == 'ok'")["model"])
    assert isinstance(dict((name, result) for name, result, *_ in screening)["broken"], str)  # why it failed


def test_each_folds_cleaner_is_fitted_once_and_scores_as_a_fresh_fit():
    X, y = data(120)
    X["when"] = pd.Series(pd.date_range("2020-01-01", periods=120, freq="D")).astype(str)
    preprocessor = build_preprocessor(TableCleaner(), FEATURES, "binary", 0)
    pipeline = whole_pipeline(preprocessor, LogisticRegression())
    classes = np.unique(y)
    (train, test), (other, _) = list(make_folds("binary", 3, seed=0).split(X, y))[:2]
    first = with_fitted_clean(clone(pipeline), X.iloc[train]).steps[0][1]
    again = with_fitted_clean(clone(pipeline), X.iloc[train].copy()).steps[0][1]
    assert first.estimator is again.estimator  # the same rows' content: fitted once
    assert with_fitted_clean(clone(pipeline), X.iloc[other]).steps[0][1].estimator is not first.estimator
    cached = fit_and_score_fold(pipeline, X, y, "binary", classes, train, test, "pos")
    fresh = clone(pipeline).fit(X.iloc[train], y.iloc[train]).predict_proba(X.iloc[test])
    np.testing.assert_array_equal(cached.prediction, fresh)
    # Other dtypes with the same values (a bool flag, an integer one) are another table.
    flags = pd.DataFrame({"flag": [True, False] * 30})
    as_bool = with_fitted_clean(clone(pipeline), flags).steps[0][1].estimator
    as_int = with_fitted_clean(clone(pipeline), flags.astype(int)).steps[0][1].estimator
    assert as_bool is not as_int and as_bool.kinds_ != as_int.kinds_
    # Another cleaner setting is another fitted cleaner.
    recoded = whole_pipeline(
        build_preprocessor(TableCleaner(date_parts=("year",)), FEATURES, "binary", 0), LogisticRegression()
    )
    assert with_fitted_clean(clone(recoded), X.iloc[train]).steps[0][1].estimator is not first.estimator


def test_a_fold_with_a_column_constant_on_its_rows_fits_univariate_selection_without_a_warning():
    # A date's year is one number on a year's rows: its feature is constant, and the F test has no
    # statistic for it. Two warnings per fold and trial used to fill the tune stage's output.
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"seen": pd.date_range("2024-01-01", periods=40, freq="W").astype(str), "x": rng.normal(size=40)})
    y = pd.Series(rng.choice(["a", "b"], 40))
    features = FEATURES.model_copy(update={"selection": "kbest", "kbest_k": 1})
    pipeline = whole_pipeline(build_preprocessor(TableCleaner(), features, "binary", 0), LogisticRegression())
    classes, train_rows, test_rows = np.array(["a", "b"]), np.arange(30), np.arange(30, 40)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = fit_and_score_fold(pipeline, X, y, "binary", classes, train_rows, test_rows, "b")
    assert 0 <= result.scores["roc_auc"] <= 1
