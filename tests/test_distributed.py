"""The tune stage on Dask, inside the real pipeline: a private LocalCluster, then an existing
scheduler and two workers started as separate processes, all on 127.0.0.1."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import joblib
import pandas as pd
import pytest

from autotab.modeling.distributed_fit import fitted_parts
from tests.support import BIN, built_clone, environment, run

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> Path:
    return built_clone(tmp_path_factory, "distributed")


# The trials and the final refit on the cluster, in one experiment: a leaderboard of the linear anchor and
# the two families a cluster fits (the logistic anchor is not what a cluster fits).
DISTRIBUTED = ["-S", "train.distributed_fit=true", "-S", "train.candidates=[logistic_regression,lightgbm,xgboost]"]


def tuned_and_packaged(repo: Path, name: str, n_trials: int, ran: int, *overrides: str, **env: str) -> str:
    """The experiment's tune stage ran `ran` trials now (the rest were in the stored study), and the
    pipeline after it is up to date; its output."""
    result = run(["dvc", "exp", "run", "-n", name, "-S", f"tune.n_trials={n_trials}", *overrides], repo, **env)
    assert "Running stage 'tune'" in result.stdout and f"({ran} run now" in result.stdout, result.stdout
    summary = json.loads((repo / "reports/tuning/summary.json").read_text())
    assert summary["n_trials"] == n_trials
    # evaluate and package ran too, unless the refit model came out byte-identical to the last one
    assert "Data and pipelines are up to date." in run(["dvc", "status"], repo).stdout
    return result.stdout


def test_a_private_local_cluster_runs_the_trials_refits_the_boosting_model_and_the_model_is_packaged(repo):
    output = tuned_and_packaged(repo, "dask-local", 4, 4, "-S", "backend=dask_local", *DISTRIBUTED)  # a new study
    train_rows = len(pd.read_parquet(repo / "data/clean/train.parquet"))
    chosen = json.loads((repo / "reports/tuning/best_params.json").read_text())["model"]
    assert chosen in ("lightgbm", "xgboost")
    assert f"tune: {chosen} fitted on all {train_rows:,} training rows on the Dask cluster" in output
    summary = json.loads((repo / "reports/tuning/summary.json").read_text())
    assert summary["distributed_fit"] == {"rows": train_rows, "recipe_rows": train_rows}
    _, boosted = fitted_parts(joblib.load(repo / "models/model.joblib"))
    assert type(boosted.model_).__module__.split(".")[0] == chosen
    card = (repo / "reports/model_card.md").read_text()
    assert "every training row, on a Dask cluster (train.distributed_fit)" in card


@pytest.fixture
def dask_cluster(tmp_path):
    """`dask scheduler` and two `dask worker` processes, loopback only; yields the address."""
    scheduler_file = tmp_path / "scheduler.json"
    common = ["--host", "127.0.0.1", "--dashboard-address", "127.0.0.1:0"]
    processes = [
        subprocess.Popen(
            [BIN / "dask", "scheduler", "--port", "0", "--scheduler-file", scheduler_file, *common],
            env=environment(), stdout=subprocess.DEVNULL, stderr=(tmp_path / "scheduler.log").open("w"),
        )
    ]  # fmt: skip
    deadline = time.monotonic() + 60
    while not scheduler_file.exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    address = json.loads(scheduler_file.read_text())["address"]
    for n in range(2):
        processes.append(
            subprocess.Popen(
                [BIN / "dask", "worker", address, "--nthreads", "1", "--local-directory", tmp_path / f"w{n}", *common],
                env=environment(), stdout=subprocess.DEVNULL, stderr=(tmp_path / f"worker{n}.log").open("w"),
            )
        )  # fmt: skip
    from distributed import Client

    with Client(address, timeout="30s") as client:
        client.wait_for_workers(2, timeout=60)
    yield address
    for process in processes:
        process.terminate()
    for process in processes:
        process.wait(timeout=30)


def test_the_tune_stage_runs_its_trials_on_an_existing_scheduler(repo, dask_cluster):
    assert dask_cluster.startswith("tcp://127.0.0.1:")
    # The same search as the local cluster's (where trials run is not part of it), with a larger
    # budget: the stored study continues, and its 2 new trials run on the scheduler's workers.
    tuned_and_packaged(
        repo, "dask-cluster", 6, 2, "-S", "backend=dask", "-S", "backend.parallelism=2", *DISTRIBUTED,
        AUTOTAB_DASK_ADDRESS=dask_cluster,
    )  # fmt: skip
    from distributed import Client

    with Client(dask_cluster, timeout="30s") as client:
        ran_here = client.run_on_scheduler(lambda dask_scheduler: list(dask_scheduler.task_prefixes))
        workers = client.scheduler_info()["workers"]
    assert "fold_score" in ran_here
    assert len(workers) == 2 and all(address.startswith("tcp://127.0.0.1:") for address in workers)
    # Only the address changed from the last run's point of view if parallelism is kept: nothing reruns.
    again = run(["dvc", "status", "tune"], repo, AUTOTAB_DASK_ADDRESS="tcp://127.0.0.1:1")
    assert "changed" not in again.stdout, again.stdout


def test_backend_dask_without_an_address_fails_in_one_line(repo):
    # The last experiment's settings but the address: its stages before tune are the run cache's.
    result = run(["dvc", "exp", "run", "-S", "backend=dask", "-S", "tune.n_trials=6", *DISTRIBUTED], repo, check=False)
    output = result.stdout + result.stderr
    assert result.returncode != 0 and "Traceback" not in output
    assert "autotab tune: error: backend=dask needs the scheduler's address: set AUTOTAB_DASK_ADDRESS" in output


def test_a_distributed_fit_without_a_cluster_fails_in_one_line_at_the_first_stage(repo):
    result = run(["dvc", "exp", "run", "-S", "train.distributed_fit=true"], repo, check=False)
    output = result.stdout + result.stderr
    assert result.returncode != 0 and "Traceback" not in output and "Running stage 'ingest'" not in output
    expected = "autotab validate: error: params.yaml: train.distributed_fit: true needs a Dask cluster: add -S backend="
    assert expected in output
