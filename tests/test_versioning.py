"""Versioning end to end, in one built copy of the repository: the packaged model's lineage, a DVC remote
round trip to a fresh clone that serves, a registry version fetched by its tag, an experiment shown and
diffed, old commits restored exactly by `dvc checkout`, and the user's own data added, run, versioned
and compared.

The tests share the copy and run in file order: the later ones add commits to it.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pandas as pd
import pytest
import yaml
from sklearn.datasets import load_wine

from autotab.reporting import lineage
from tests.support import BENTO_OUT, QUICK, built_clone, post, run, served_bento

pytestmark = pytest.mark.slow

RESTORED = ("models/model.joblib", "models/served.joblib", "reports/metrics.json", "reports/model_card.md", BENTO_OUT)


def md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def commit(repo: Path, message: str) -> str:
    run(["git", "add", "-A"], repo)
    run(["git", "commit", "-qm", message], repo)
    return run(["git", "rev-parse", "HEAD"], repo).stdout.strip()


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> dict:
    """The copy, built; its commit, which is also the run's: the run reproduced every output the
    copy had committed, the Bento archive included, so there is nothing new to commit."""
    repo = built_clone(tmp_path_factory, "versioned")
    assert run(["git", "status", "--porcelain"], repo).stdout == ""
    head = run(["git", "rev-parse", "HEAD"], repo).stdout.strip()
    return {"repo": repo, "source_commit": head, "run_commit": head}


@pytest.fixture(scope="module")
def remote(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("remote")


def model_info(repo: Path, store: Path) -> dict:
    """The packaged model as a fresh BentoML store sees it after importing the exported Bento."""
    run(["bentoml", "import", str(repo / BENTO_OUT)], store.parent, BENTOML_HOME=str(store))
    tag = json.loads((repo / "models/bento.json").read_text())["model_tag"]
    shown = run(["bentoml", "models", "get", tag, "-o", "json"], store.parent, BENTOML_HOME=str(store))
    return json.loads(shown.stdout)


def test_the_packaged_model_carries_its_lineage(built, tmp_path):
    repo = built["repo"]
    info = model_info(repo, tmp_path / "store")
    lock = yaml.safe_load((repo / "dvc.lock").read_text())
    (locked_data,) = [dep for dep in lock["stages"]["ingest"]["deps"] if dep["path"].startswith("data/raw/")]
    expected = {
        "data_path": "data/raw/breast_biopsy.csv",
        "data_md5": locked_data["md5"],
        "params_md5": md5(repo / "params.yaml"),
        "code_sha256": lineage.code_digest(repo / "src/autotab", repo / "bentofile.yaml"),
    }
    assert info["labels"] == expected
    assert json.loads(info["metadata"]["lineage"]) == expected
    card = (repo / "reports/model_card.md").read_text()
    assert f"`{expected['data_md5']}`" in card and f"`{md5(repo / 'models/model.joblib')}`" in card
    # The card's model md5 finds the run's commit as the archive's does: it is what dvc.lock records.
    (locked_model,) = [out for out in lock["stages"]["tune"]["outs"] if out["path"] == "models/model.joblib"]
    assert locked_model["md5"] == md5(repo / "models/model.joblib")
    # The commit that records the model is found from the archive's md5, as the README shows.
    archive_md5 = md5(repo / BENTO_OUT)
    found = run(["git", "log", "--format=%H", "-S", archive_md5, "--", "dvc.lock"], repo).stdout.split()
    assert found == [built["source_commit"]]  # the copy's dvc.lock already named it: the run reproduced it


def test_push_then_a_fresh_clone_pulls_everything_and_serves(built, remote, tmp_path):
    repo = built["repo"]
    # The documented override: the default remote's url, for this clone only (.dvc/config.local).
    run(["dvc", "remote", "modify", "--local", "storage", "url", str(remote)], repo)
    pushed = run(["dvc", "push"], repo).stdout
    assert "pushed" in pushed, pushed
    clone = tmp_path / "clone"
    run(["git", "clone", "-q", str(repo), str(clone)], tmp_path)
    assert not (clone / "models/model.joblib").exists()
    run(["dvc", "remote", "modify", "--local", "storage", "url", str(remote)], clone)
    run(["dvc", "pull"], clone)
    assert "Data and pipelines are up to date." in run(["dvc", "status"], clone).stdout
    for path in RESTORED:
        assert (clone / path).read_bytes() == (repo / path).read_bytes(), path
    holdout = pd.read_parquet(clone / "data/clean/test.parquet").drop(columns=["diagnosis"]).head(3)
    records = json.loads(holdout.to_json(orient="records"))
    with served_bento(clone, tmp_path / "serve") as base:
        status, body = post(f"{base}/predict", json.dumps({"records": records}).encode())
    assert status == 200, body
    assert [answer["label"] in ("benign", "malignant") for answer in json.loads(body)] == [True] * 3


def test_a_tagged_registry_version_is_fetched_by_dvc_artifacts_get(built, remote, tmp_path):
    repo = built["repo"]
    run(["git", "tag", "-a", "autotab-model@v1.0.0", "-m", "first release", built["run_commit"]], repo)
    out = tmp_path / "v1.bento"
    run(["dvc", "artifacts", "get", str(repo), "autotab-model", "--rev", "v1.0.0", "-o", str(out)], tmp_path)
    assert out.read_bytes() == (repo / BENTO_OUT).read_bytes()


def test_an_experiment_swaps_the_model_and_is_compared(built):
    """A named experiment in the workspace, shown and diffed against the commit; the next test commits it."""
    repo = built["repo"]
    built["first"] = {path: (repo / path).read_bytes() for path in RESTORED}
    run(["dvc", "exp", "run", "-n", "rf", "-S", "model=random_forest", *QUICK], repo)
    shown = json.loads(run(["dvc", "exp", "show", "--json"], repo).stdout)
    experiments = {}
    for commit_shown in shown:
        for exp in commit_shown.get("experiments") or []:
            for revision in exp["revs"]:
                experiments[revision["name"]] = revision
    assert "rf" in experiments
    params = experiments["rf"]["data"]["params"]["params.yaml"]["data"]
    assert params["model"]["name"] == "random_forest"
    metrics = experiments["rf"]["data"]["metrics"]["reports/metrics.json"]["data"]
    assert metrics["roc_auc"] >= 0.95
    baseline = shown[0]["data"]["metrics"]["reports/metrics.json"]["data"]
    assert "roc_auc" in baseline
    assert "reports/metrics.json" in run(["dvc", "metrics", "diff"], repo).stdout
    assert "model.name" in run(["dvc", "params", "diff"], repo).stdout


def test_checking_out_an_old_commit_restores_its_model_and_metrics_exactly(built):
    """The random forest of the experiment above, committed, and the built model's commit before it."""
    repo, first = built["repo"], built["first"]
    assert yaml.safe_load((repo / "params.yaml").read_text())["model"]["name"] == "random_forest"
    second_commit = commit(repo, "a random forest")
    second = {path: (repo / path).read_bytes() for path in RESTORED}
    assert all(first[path] != second[path] for path in RESTORED)
    for revision, expected in ((built["run_commit"], first), (second_commit, second)):
        run(["git", "checkout", "-q", revision], repo)
        run(["dvc", "checkout"], repo)
        assert "Data and pipelines are up to date." in run(["dvc", "status"], repo).stdout
        for path in RESTORED:
            assert (repo / path).read_bytes() == expected[path], (revision, path)


def wine(rows: slice) -> pd.DataFrame:
    frame = load_wine(as_frame=True).frame.iloc[rows]
    return frame.assign(cultivar=frame.pop("target").map({0: "barolo", 1: "grignolino", 2: "barbera"}))


def test_added_data_runs_and_a_new_version_reruns_only_what_follows(built, tmp_path):
    repo = built["repo"]
    user_file = tmp_path / "wine.parquet"
    wine(slice(0, None, 2)).to_parquet(user_file, index=False)  # every other row: the first version
    added = run(["autotab", "add-data", str(user_file), "--target", "cultivar"], repo).stdout
    assert "dvc exp run -S data=wine" in added
    commit(repo, "add the wine data")
    run(["dvc", "exp", "run", "-S", "data=wine", *QUICK], repo)
    metrics = json.loads((repo / "reports/metrics.json").read_text())
    assert metrics["task"] == "multiclass" and metrics["accuracy"] >= 0.8
    assert (repo / "contracts/wine.json").exists()
    commit(repo, "a model of the wine data")

    wine(slice(None)).to_parquet(repo / "data/raw/wine.parquet", index=False)  # a new version: every row
    run(["dvc", "add", "data/raw/wine.parquet"], repo)
    result = run(["dvc", "repro"], repo)
    assert "Stage 'validate' didn't change, skipping" in result.stdout
    for stage in ("ingest", "clean", "features", "train", "tune", "evaluate", "refit", "package"):
        assert f"Running stage '{stage}'" in result.stdout
    assert json.loads((repo / "reports/metrics.json").read_text())["holdout_rows"] > metrics["holdout_rows"]
    diff = json.loads(run(["dvc", "metrics", "diff", "HEAD", "--json"], repo).stdout)
    assert diff["reports/metrics.json"]["holdout_rows"]["diff"] > 0
    assert diff["reports/clean.json"]["rows_in"] == {"old": 89, "new": 178, "diff": 89}
