import optuna
import pandas as pd
import pytest

from autotab.config import ModelConfig
from autotab.tuning import open_study, params_of, run_study, trials_table

FAMILIES = {
    "a": ModelConfig(name="a", x=0.5, search_space={"x": {"low": 0.0, "high": 1.0}}),
    "b": ModelConfig(name="b", k=3, search_space={"k": {"low": 1, "high": 10}}),
}


def score(family, params, features, trial):
    """A stand-in for cross-validation: three 'folds' reported as the trial goes."""
    value = params["x"] if family == "a" else params["k"] / 20
    for fold in range(3):
        trial.report(value, fold)
        if trial.should_prune():
            raise optuna.TrialPruned()
    return value


def test_a_tiny_study_is_deterministic_and_starts_from_the_defaults():
    tables = []
    for _ in range(2):
        study = open_study("s", None, seed=3, pruner="none")
        run_study(study, FAMILIES, score, n_trials=8)
        tables.append(trials_table(study))
    pd.testing.assert_frame_equal(*tables)
    first_two = tables[0].head(2)
    assert first_two["family"].tolist() == ["a", "b"] and first_two["a.x"].iloc[0] == 0.5
    assert params_of(study.trials[1]) == ("b", {"k": 3}, {})
    assert {"number", "state", "value", "family"} <= set(tables[0].columns)  # and no times


def test_an_interrupted_study_resumes_from_its_storage(tmp_path):
    storage = f"sqlite:///{tmp_path}/studies/s.db"
    calls = []

    def flaky(family, params, features, trial):
        calls.append(trial.number)
        if len(calls) == 4:
            raise KeyboardInterrupt  # the machine went down mid-trial
        return score(family, params, features, trial)

    with pytest.raises(KeyboardInterrupt):
        run_study(open_study("s", storage, seed=0, pruner="none"), FAMILIES, flaky, n_trials=6)
    resumed = open_study("s", storage, seed=0, pruner="none")
    assert len([t for t in resumed.trials if t.state.name == "COMPLETE"]) == 3
    ran = run_study(resumed, FAMILIES, score, n_trials=6)
    assert ran == 3
    states = [t.state.name for t in resumed.trials]
    assert states.count("COMPLETE") == 6 and states[3] == "FAIL"


def test_hopeless_trials_are_pruned():
    study = open_study("s", None, seed=1, pruner="median")
    run_study(study, FAMILIES, score, n_trials=25)
    assert any(t.state.name == "PRUNED" for t in study.trials)
    assert study.best_value >= 0.5


def test_feature_choices_are_searched_with_the_model_and_start_from_the_preset():
    space = {"scaler": {"choices": ["standard", "robust"]}}
    from autotab.config import SearchDimension

    dims = {k: SearchDimension(**v) for k, v in space.items()}
    seen = []

    def record(family, params, features, trial):
        seen.append(features["scaler"])
        return score(family, params, features, trial)

    study = open_study("s", None, seed=0, pruner="none")
    run_study(study, FAMILIES, record, n_trials=10, feature_space=dims, feature_defaults={"scaler": "robust"})
    assert seen[:2] == ["robust", "robust"] and set(seen) == {"standard", "robust"}
    assert params_of(study.best_trial)[2]["scaler"] in ("standard", "robust")
