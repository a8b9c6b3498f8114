import time
from concurrent.futures import ThreadPoolExecutor

import pandas as pd
import pytest

from autotab.config import ModelConfig
from autotab.modeling.tuning import first_trials, open_study, params_of, run_study, trials_table

FAMILIES = {
    "a": ModelConfig(name="a", x=0.5, search_space={"x": {"low": 0.0, "high": 1.0}}),
    "b": ModelConfig(name="b", k=3, search_space={"k": {"low": 1, "high": 10}}),
}


def score(family, params, features, fold):
    """A stand-in for one fold of cross-validation."""
    return params["x"] if family == "a" else params["k"] / 20


def study_run(study, fold_score, n_trials, folds=3, **options):
    """run_study with each fold a task on a real (thread) executor, as the backends give."""
    with ThreadPoolExecutor(options.get("parallelism", 1) * options.get("fold_parallelism", 1)) as pool:

        def submit(family, params, features, fold):
            return pool.submit(fold_score, family, params, features, fold)

        return run_study(study, FAMILIES, submit, folds, n_trials, **options)


def test_a_tiny_study_is_deterministic_and_starts_from_the_defaults():
    tables = []
    for _ in range(2):
        study = open_study("s", None, seed=3, pruner="none")
        study_run(study, score, n_trials=8)
        tables.append(trials_table(study))
    pd.testing.assert_frame_equal(*tables)
    first_two = tables[0].head(2)
    assert first_two["params_family"].tolist() == ["a", "b"] and first_two["params_a.x"].iloc[0] == 0.5
    assert params_of(study.trials[1]) == ("b", {"k": 3}, {})
    assert set(tables[0].columns) == {"number", "state", "value", "params_family", "params_a.x", "params_b.k"}


def test_an_interrupted_study_resumes_from_its_storage(tmp_path):
    storage = f"sqlite:///{tmp_path}/studies/s.db"
    calls = []

    def flaky(family, params, features, fold):
        calls.append(fold)
        if len(calls) == 3 * 3 + 2:
            raise KeyboardInterrupt  # the machine went down in the fourth trial's third fold
        return score(family, params, features, fold)

    with pytest.raises(KeyboardInterrupt):
        study_run(open_study("s", storage, seed=0, pruner="none"), flaky, n_trials=6)
    resumed = open_study("s", storage, seed=0, pruner="none")
    assert len([t for t in resumed.trials if t.state.name == "COMPLETE"]) == 3
    ran = study_run(resumed, score, n_trials=6)
    assert ran == 3
    states = [t.state.name for t in resumed.trials]
    assert states.count("COMPLETE") == 6 and states[3] == "FAIL"


def test_hopeless_trials_are_pruned():
    study = open_study("s", None, seed=1, pruner="median")
    study_run(study, score, n_trials=25)
    assert any(t.state.name == "PRUNED" for t in study.trials)
    assert study.best_value >= 0.5


def test_a_trial_whose_later_folds_sink_is_pruned_though_its_first_fold_was_good():
    # Every trial's first fold scores 0.9 (an easy fold); from the second on, its own quality. Optuna's
    # MedianPruner would keep every trial: it compares the best running mean so far (the first fold's).
    def easy_first_fold(family, params, features, fold):
        return 0.9 if fold == 0 else score(family, params, features, fold)

    study = open_study("s", None, seed=1, pruner="median")
    study_run(study, easy_first_fold, n_trials=25, folds=4)
    pruned = [t for t in study.trials if t.state.name == "PRUNED"]
    assert len(pruned) >= 3 and all(t.last_step == 1 for t in pruned)
    complete = [t for t in study.trials if t.state.name == "COMPLETE"]
    # Each pruned trial was below the median, at its second fold, of the trials finished before it.
    for t in pruned:
        before = [c.intermediate_values[1] for c in complete if c.number < t.number]
        assert t.intermediate_values[1] < sorted(before)[len(before) // 2] + 1e-9


def test_feature_choices_are_searched_with_the_model_and_start_from_the_preset():
    space = {"scaler": {"choices": ["standard", "robust"]}}
    from autotab.config import SearchDimension

    dims = {k: SearchDimension(**v) for k, v in space.items()}
    seen = []

    def record(family, params, features, fold):
        if fold == 0:
            seen.append(features["scaler"])
        return score(family, params, features, fold)

    study = open_study("s", None, seed=0, pruner="none")
    study_run(study, record, n_trials=10, feature_space=dims, feature_defaults={"scaler": "robust"})
    assert seen[:2] == ["robust", "robust"] and set(seen) == {"standard", "robust"}
    assert params_of(study.best_trial)[2]["scaler"] in ("standard", "robust")


def test_a_failing_trial_is_marked_failed_and_the_study_completes():
    def fragile(family, params, features, fold):
        if family == "b" and params["k"] > 7:
            raise ValueError("k too large for this fold")
        return score(family, params, features, fold)

    study = open_study("s", None, seed=0, pruner="none")
    ran = study_run(study, fragile, n_trials=15)
    states = [t.state.name for t in study.trials]
    assert ran == 15 and states.count("COMPLETE") == 15 and "FAIL" in states


def test_trials_run_in_parallel_and_the_budget_holds():
    in_flight, most = set(), [0]

    def slow(family, params, features, fold):
        import threading
        import time

        in_flight.add(threading.get_ident())
        most[0] = max(most[0], len(in_flight))
        time.sleep(0.01)
        in_flight.discard(threading.get_ident())
        return score(family, params, features, fold)

    study = open_study("s", None, seed=0, pruner="median")
    ran = study_run(study, slow, n_trials=12, parallelism=3)
    finished = [t for t in study.trials if t.state.name in ("COMPLETE", "PRUNED")]
    assert ran == len(finished) == 12 and most[0] > 1


def test_a_trials_value_is_the_mean_of_its_fold_scores():
    fold_values = [0.9, 0.7, 0.8, 0.95]

    def by_fold(family, params, features, fold):
        return fold_values[fold]

    study = open_study("s", None, seed=0, pruner="none")
    study_run(study, by_fold, n_trials=1, folds=4)
    running = [study.trials[0].intermediate_values[k] for k in range(4)]
    assert running == pytest.approx([sum(fold_values[: k + 1]) / (k + 1) for k in range(4)], abs=1e-6)
    assert study.trials[0].value == round(sum(fold_values) / 4, 6)


def test_a_trial_whose_task_cannot_even_be_submitted_is_not_left_running(tmp_path):
    storage = f"sqlite:///{tmp_path}/s.db"
    study = open_study("s", storage, seed=0, pruner="none")

    def refuse(family, params, features, fold):
        raise RuntimeError("the engine is gone")

    with pytest.raises(RuntimeError, match="engine is gone"):
        run_study(study, FAMILIES, refuse, 3, 4)
    states = [t.state.name for t in open_study("s", storage, seed=0, pruner="none").trials]
    assert "RUNNING" not in states and states[0] == "FAIL"


def test_the_portfolio_follows_the_defaults_family_by_family_in_turn():
    families = {
        "a": ModelConfig(name="a", x=0.5, search_space={"x": {"low": 0.0, "high": 1.0}},
                         portfolio=[{"x": 0.9}, {"x": 0.1}]),
        "b": ModelConfig(name="b", k=3, search_space={"k": {"low": 1, "high": 10}}, portfolio=[{"k": 7}]),
    }  # fmt: skip
    study = open_study("portfolio", None, seed=0, pruner="none")
    with ThreadPoolExecutor(1) as pool:
        run_study(study, families, lambda *args: pool.submit(score, *args[:3], args[3]), 1, n_trials=7)
    first = [params_of(trial)[:2] for trial in study.trials[:5]]
    assert first == [("a", {"x": 0.5}), ("b", {"k": 3}), ("a", {"x": 0.9}), ("b", {"k": 7}), ("a", {"x": 0.1})]


def test_a_portfolio_point_outside_the_search_space_is_refused():
    with pytest.raises(ValueError, match=r"portfolio\[0\]\.x: 2\.0 is outside search_space\.x"):
        ModelConfig(name="a", search_space={"x": {"low": 0.0, "high": 1.0}}, portfolio=[{"x": 2.0}])
    with pytest.raises(ValueError, match=r"portfolio\[0\]\.y: not in search_space"):
        ModelConfig(name="a", search_space={"x": {"low": 0.0, "high": 1.0}}, portfolio=[{"y": 0.5}])


def test_raising_the_trial_budget_continues_the_study_and_a_lower_one_sees_its_first_trials(tmp_path):
    storage = f"sqlite:///{tmp_path}/studies.db"
    fresh = open_study("fresh", storage, seed=0, pruner="none")
    study_run(fresh, score, n_trials=6)
    stored = open_study("grown", storage, seed=0, pruner="none")
    assert study_run(stored, score, n_trials=6) == 6
    assert study_run(open_study("grown", storage, seed=0, pruner="none"), score, n_trials=10) == 4  # continued
    grown = open_study("grown", storage, seed=0, pruner="none")
    assert len(grown.trials) == 10
    as_six = first_trials(grown, 6)  # what a run with n_trials=6 chooses from: the fresh run's trials
    pd.testing.assert_frame_equal(trials_table(as_six), trials_table(fresh))
    assert as_six.best_trial.params == fresh.best_trial.params


def test_folds_run_side_by_side_give_the_same_study_pruning_included():
    def noisy(family, params, features, fold):
        time.sleep(0.002 * ((fold * 7 + 3) % 4))  # folds finish out of order
        return score(family, params, features, fold) + 0.05 * fold

    tables = []
    for folds_at_once in (1, 3):
        study = open_study("side-by-side", None, seed=0, pruner="median")
        study_run(study, noisy, n_trials=20, folds=4, fold_parallelism=folds_at_once)
        tables.append(trials_table(study))
    pd.testing.assert_frame_equal(*tables)
    assert (tables[0]["state"] == "PRUNED").any()  # the pruner took part
