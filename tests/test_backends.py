"""Tuning trials on every backend: local worker processes and a real Dask LocalCluster on 127.0.0.1."""

import os
import signal

import numpy as np
import pandas as pd
import pytest

from autotab.config import BackendConfig, ModelConfig
from autotab.data.splits import make_folds
from autotab.errors import UserError
from autotab.estimators.table_cleaner import TableCleaner
from autotab.modeling.backends import scheduler_address, trial_runner
from autotab.modeling.features import build_preprocessor
from autotab.modeling.search import Problem
from autotab.modeling.tuning import open_study, run_study
from tests.support import FEATURES

FAMILIES = {
    "logistic_regression": ModelConfig(
        name="logistic_regression", C=1.0, max_iter=200, search_space={"C": {"low": 0.01, "high": 10, "log": True}}
    ),
}


@pytest.fixture(scope="module")
def problem() -> Problem:
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"a": rng.normal(size=150), "b": rng.normal(size=150), "c": rng.choice(["x", "y"], 150)})
    y = pd.Series(np.where(X["a"] + rng.normal(scale=0.8, size=150) > 0, "yes", "no"), name="target")
    recipe = build_preprocessor(TableCleaner(), FEATURES, "binary", 0)
    return Problem(X, y, "binary", "roc_auc", make_folds("binary", 3, 0), recipe, 0, positive="yes")


def scores_through(backend: BackendConfig, problem: Problem) -> list[float]:
    with trial_runner(backend, problem, FAMILIES) as submit:
        futures = [submit("logistic_regression", {"C": c}, {}, fold) for c in (0.1, 1.0) for fold in range(3)]
        return [f.result(timeout=120) for f in futures]


def test_local_worker_processes_score_folds_exactly_as_in_process(problem):
    expected = [
        problem.fold_score(FAMILIES["logistic_regression"], {"C": c}, {}, fold) for c in (0.1, 1.0) for fold in range(3)
    ]
    assert scores_through(BackendConfig(name="local", parallelism=2), problem) == expected


@pytest.mark.slow
def test_a_study_on_a_dask_local_cluster_survives_a_killed_worker(problem, tmp_path):
    from distributed import default_client

    storage = f"sqlite:///{tmp_path}/studies.db"
    backend = BackendConfig(name="dask_local", parallelism=2)
    killed = []

    def kill_one_worker(study, trial):
        if trial.number == 2 and not killed:
            pids = default_client().run(os.getpid)  # worker address -> its process id
            killed.append(next(iter(pids.values())))
            os.kill(killed[0], signal.SIGKILL)  # its nanny starts a fresh one; lost tasks rerun

    with trial_runner(backend, problem, FAMILIES) as submit:
        # Asked of the workers themselves: scheduler_info() may answer from the client's cache, which
        # holds no per-worker entries (distributed's docstring), and once listed none here though the
        # runner had waited for both.
        workers = default_client().run(os.getpid)
        assert len(workers) == 2 and all(address.startswith("tcp://127.0.0.1:") for address in workers)
        study = open_study("dask", storage, seed=0, pruner="median")
        ran = run_study(study, FAMILIES, submit, 3, 12, parallelism=2, on_trial=kill_one_worker)
    assert killed and ran == 12
    stored = open_study("dask", storage, seed=0, pruner="median")  # the same storage, read afresh
    finished = [t for t in stored.trials if t.state.name in ("COMPLETE", "PRUNED")]
    assert len(finished) == 12 and stored.best_value > 0.5


def test_dask_needs_a_scheduler_address(monkeypatch):
    monkeypatch.delenv("AUTOTAB_DASK_ADDRESS", raising=False)
    with pytest.raises(UserError, match="AUTOTAB_DASK_ADDRESS"):
        scheduler_address(BackendConfig(name="dask"))
    monkeypatch.setenv("AUTOTAB_DASK_ADDRESS", "tcp://127.0.0.1:8786")
    assert scheduler_address(BackendConfig(name="dask", address="tcp://elsewhere:1")) == "tcp://127.0.0.1:8786"


@pytest.mark.slow
def test_an_unreachable_scheduler_is_one_clear_error(problem, monkeypatch):
    monkeypatch.setenv("AUTOTAB_DASK_ADDRESS", "tcp://127.0.0.1:9")
    with pytest.raises(UserError, match="cannot reach the Dask scheduler at tcp://127.0.0.1:9"):
        scores_through(BackendConfig(name="dask"), problem)
