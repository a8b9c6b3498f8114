"""The real pipeline in a temporary copy of the repository: dvc, the Bento, a real server.

These tests share one copy and run in file order: the experiment and bad-config tests come last
because `dvc exp run` changes the copy's workspace.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest
import yaml
from sklearn.base import clone
from sklearn.pipeline import Pipeline

from autotab.tables import file_digest
from tests.conftest import REPO
from tests.support import QUICK, built_clone, post, run, served_bento

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> Path:
    return built_clone(tmp_path_factory, "end_to_end")


def test_holdout_quality_on_the_built_in_data(repo):
    metrics = json.loads((repo / "reports/metrics.json").read_text())
    assert metrics["task"] == "binary"
    assert metrics["roc_auc"] >= 0.98
    assert metrics["roc_auc_ci95_low"] <= metrics["roc_auc"] <= metrics["roc_auc_ci95_high"]
    assert metrics["baseline"]["roc_auc"] == 0.5
    card = (repo / "reports/model_card.md").read_text()
    assert "## Performance" in card and f"{metrics['roc_auc']:.4f}" in card
    # The contributions' summary says how many holdout rows it explained: a seeded sample, capped.
    explained = re.search(r"on a seeded sample of (\d+) of the (\d+) holdout rows \(SHAP values", card)
    assert explained and 20 <= int(explained[1]) < int(explained[2]) == metrics["holdout_rows"]


def test_every_declared_plot_has_its_file_and_columns(repo):
    declared = yaml.safe_load((repo / "dvc.yaml").read_text())["plots"]
    for plot in declared:
        ((name, spec),) = plot.items()
        for path, y_column in spec["y"].items():
            frame = pd.read_csv(repo / path)
            columns = y_column if isinstance(y_column, list) else [y_column]
            assert {spec["x"], *columns} <= set(frame.columns), (name, path)
            assert frame.empty == ("regression" in name), (name, path)  # the built-in task is binary


def test_the_leaderboard_ranks_at_least_six_families(repo):
    board = pd.read_csv(repo / "reports/leaderboard.csv")
    ranked = board[board["status"] == "ok"]
    assert len(ranked) >= 6
    assert ranked["roc_auc_mean"].is_monotonic_decreasing and ranked["roc_auc_std"].notna().all()
    markdown = (repo / "reports/leaderboard.md").read_text()
    assert markdown.count(" ± ") >= 6 * 7
    tuned = json.loads((repo / "reports/tuning/best_params.json").read_text())
    summary = json.loads((repo / "reports/tuning/summary.json").read_text())
    # model: auto searches the top 3; the anchor (the linear default) stays unless one clearly beats it
    assert tuned["best_single"] in [*ranked["model"].head(3), summary["anchor"]]
    assert summary["n_trials"] == 30 and summary["cv_single_chosen"] >= summary["cv_default_best"]
    # The built-in table's committed choice is a blend (README, Tuning), kept because it gained out of fold.
    assert tuned["model"] == "ensemble" and len(tuned["ensemble_weights"]) == summary["ensemble_members"] > 1
    assert summary["oof_ensemble"] > summary["oof_single"]
    oof = pd.read_parquet(repo / "models/oof.parquet")
    assert len(oof) == len(pd.read_parquet(repo / "data/clean/train.parquet"))


def test_the_built_in_table_reports_no_leak_and_the_card_says_so(repo):
    report = json.loads((repo / "reports/leakage.json").read_text())
    assert report["shortcut_columns"] == {} and report["predictive_id_columns"] == {}
    assert report["suggestions"] == [] and 0.9 < report["best_single_column_score"] < report["leak_score"]
    card = (repo / "reports/model_card.md").read_text()
    assert "## Leakage checks" in card and "grouped by `sample_id`" in card


def test_a_fresh_run_rewrites_dvc_lock_identically(repo):
    """Every data, model and metric hash reproduces, the Bento archive's included: the copy is a new
    repository (another commit, other file times), and its run leaves `git status` clean."""
    assert (repo / "dvc.lock").read_text() == (REPO / "dvc.lock").read_text()
    assert run(["git", "status", "--porcelain"], repo).stdout == ""


def test_a_second_run_does_no_stage_work(repo):
    assert "Data and pipelines are up to date." in run(["dvc", "repro"], repo).stdout
    assert "Data and pipelines are up to date." in run(["dvc", "status"], repo).stdout
    assert "up to date" in run(["autotab", "params", "--check"], repo).stdout


def test_the_served_model_is_the_evaluated_recipe_refit_on_the_holdout_rows_too(repo):
    """package.fit_rows: all (the default): the evaluated Pipeline's cleaner, and the steps after it
    fitted again on the training + holdout rows."""
    target = json.loads((repo / "contracts/breast_biopsy.json").read_text())["target"]
    rows = pd.concat(
        [pd.read_parquet(repo / f"data/clean/{split}.parquet") for split in ("train", "test")], ignore_index=True
    )
    evaluated, served = (joblib.load(repo / f"models/{name}.joblib") for name in ("model", "served"))
    _, X = holdout_records(repo)
    cleaner, after = evaluated.estimator_.steps[0][1], Pipeline(evaluated.estimator_.steps[1:])
    expected = clone(after).fit(cleaner.transform(rows.drop(columns=[target])), rows[target])
    assert joblib.hash(served.estimator_.steps[0][1]) == joblib.hash(cleaner)  # the contract's cleaner
    # To the last bit or so: BLAS may sum in another order in this process than in the stage's.
    expected_proba = expected.predict_proba(cleaner.transform(X))
    np.testing.assert_allclose(served.predict_proba(X), expected_proba, rtol=0, atol=1e-12)
    assert served.threshold == evaluated.threshold  # chosen out of fold on the training split, kept
    assert not np.array_equal(served.predict_proba(X), evaluated.predict_proba(X))  # it learnt from more rows
    report = json.loads((repo / "reports/served.json").read_text())
    clean = json.loads((repo / "reports/clean.json").read_text())
    assert report["fitted_rows"] == len(rows) == clean["train_rows"] + clean["test_rows"]
    assert report["holdout_rows_included"] and report["served_model"] in (repo / "reports/model_card.md").read_text()


def test_fit_rows_train_serves_the_evaluated_model_byte_for_byte(tmp_path_factory):
    clone_repo = built_clone(tmp_path_factory, "fit_rows_train")
    params = clone_repo / "params.yaml"
    params.write_text(params.read_text().replace("fit_rows: all", "fit_rows: train"))
    assert "the evaluated model itself" in run(["dvc", "repro", "--single-item", "refit"], clone_repo).stdout
    assert (clone_repo / "models/served.joblib").read_bytes() == (clone_repo / "models/model.joblib").read_bytes()
    assert json.loads((clone_repo / "reports/served.json").read_text())["holdout_rows_included"] is False


@pytest.fixture(scope="module")
def server(repo, tmp_path_factory):
    with served_bento(repo, tmp_path_factory.mktemp("serve")) as base:
        yield base


def holdout_records(repo: Path) -> tuple[list[dict], pd.DataFrame]:
    contract = json.loads((repo / "contracts/breast_biopsy.json").read_text())
    X = pd.read_parquet(repo / "data/clean/test.parquet").drop(columns=[contract["target"]])
    records = json.loads(X.to_json(orient="records"))  # NaN -> null, as a JSON client sends it
    return records, X


def test_the_server_predicts_what_the_served_pipeline_predicts(repo, server):
    records, X = holdout_records(repo)
    status, body = post(f"{server}/predict", json.dumps({"records": records}).encode())
    assert status == 200, body
    answers = json.loads(body)
    pipeline = joblib.load(repo / "models/served.joblib")
    expected = pipeline.predict_proba(X)
    assert [a["label"] for a in answers] == list(pipeline.predict(X))
    for answer, row in zip(answers, expected, strict=True):
        for label, p in zip(pipeline.classes_, row, strict=True):
            assert math.isclose(answer["probabilities"][label], p, abs_tol=1e-6)


def test_the_readmes_curl_example_gives_what_the_readme_shows(server):
    readme = (REPO / "README.md").read_text()
    block = readme.split("curl -s localhost:3000/predict", 1)[1].split("```", 1)[0]
    body = block.split("-d '", 1)[1].split("'", 1)[0]
    shown = next(line for line in block.splitlines() if line.startswith("# ["))
    status, answer = post(f"{server}/predict", body.encode())
    assert status == 200, answer
    (got,) = json.loads(answer)
    # The README shows two digits of each probability ("0.98..."): the served ones must start so.
    expected = (
        f'[{{"label": "{got["label"]}", "probabilities": {{'
        + ", ".join(f'"{label}": {math.floor(p * 100) / 100:.2f}...' for label, p in got["probabilities"].items())
        + "}}]"
    )
    assert shown == f"# {expected}", (shown, got)


def bad(record: dict, **changes) -> dict:
    changed = {**record, **changes}
    return {k: v for k, v in changed.items() if v is not ...}


@pytest.mark.parametrize(
    "case,make_body,field",
    [
        ("missing field", lambda r: {"records": [bad(r, clump_thickness=...)]}, "clump_thickness"),
        ("wrong type", lambda r: {"records": [bad(r, mitoses="many")]}, "mitoses"),
        ("unknown field", lambda r: {"records": [bad(r, colour="red")]}, "colour"),
        ("null where never missing", lambda r: {"records": [bad(r, mitoses=None)]}, "mitoses"),
        ("empty list", lambda r: {"records": []}, "records"),
        ("too many records", lambda r: {"records": [r] * 1001}, "records"),
        ("unknown top-level key", lambda r: {"records": [r], "extra": 1}, "extra"),
    ],
)
def test_bad_requests_get_a_400_naming_the_field(repo, server, case, make_body, field):
    record = holdout_records(repo)[0][0]
    status, body = post(f"{server}/predict", json.dumps(make_body(record)).encode())
    assert status == 400, (case, body)
    assert field in body, (case, body)


def test_bodies_that_are_not_json_get_a_415(repo, server):
    record = holdout_records(repo)[0][0]
    body = json.dumps({"records": [record]}).encode()
    for content_type in (
        "text/plain",
        "multipart/form-data; boundary=abc",
        "application/x-www-form-urlencoded",
    ):
        status, text = post(f"{server}/predict", body, content_type)
        assert status == 415 and "application/json" in text, (content_type, status, text)


def test_an_integer_too_large_for_a_float_gets_a_400(repo, server):
    record = {**holdout_records(repo)[0][0], "mitoses": 10**400}
    status, body = post(f"{server}/predict", json.dumps({"records": [record]}).encode())
    assert status == 400 and "mitoses" in body, body


def test_nan_infinity_and_malformed_json_get_a_400(repo, server):
    record = holdout_records(repo)[0][0]
    for token in ("NaN", "Infinity"):
        text = json.dumps({"records": [{**record, "bland_chromatin": 0}]}).replace(
            '"bland_chromatin": 0', f'"bland_chromatin": {token}'
        )
        status, body = post(f"{server}/predict", text.encode())
        assert status == 400 and "bland_chromatin" in body, (token, body)
    status, body = post(f"{server}/predict", b'{"records": [{"mitoses": 1,')
    assert status == 400, body


def test_autotab_drift_flags_a_shifted_copy_and_not_a_resample_of_the_training_rows(repo, tmp_path):
    """The command a scheduled job runs on each new batch: exit 0 when the batch looks like the
    training data, 1 when a column drifted, 2 for a file it cannot compare."""
    training = pd.read_parquet(repo / "data/clean/train.parquet")
    resample, shifted, broken = (tmp_path / name for name in ("resample.csv", "shifted.csv", "broken.csv"))
    training.sample(frac=1, replace=True, random_state=1).to_csv(resample, index=False)
    raw = pd.read_csv(REPO / "data/raw/breast_biopsy.csv")
    raw.assign(clump_thickness=(raw["clump_thickness"] + 3).clip(upper=10)).to_csv(shifted, index=False)
    raw.drop(columns=["mitoses", "bare_nuclei"]).to_csv(broken, index=False)

    calm = run(["autotab", "drift", str(resample)], repo, check=False)
    assert calm.returncode == 0 and "no column drifted" in calm.stdout, calm.stderr
    report = json.loads((repo / "reports/drift.json").read_text())
    assert report["drifted"] == [] and report["rows"] == len(training)

    out = tmp_path / "out"
    alarm = run(["autotab", "drift", str(shifted), "--output", str(out / "d.json"), "--html", str(out / "d.html")],
                repo, check=False)  # fmt: skip
    assert alarm.returncode == 1 and "clump_thickness (PSI" in alarm.stdout, alarm.stderr
    report = json.loads((out / "d.json").read_text())
    assert report["drifted"] == ["clump_thickness"] and report["columns"]["clump_thickness"]["p_value"] < 1e-6
    page = (out / "d.html").read_text()
    assert "1 of 9 columns drifted" in page and "<script" not in page

    failed = run(["autotab", "drift", str(broken), "--output", str(tmp_path / "none.json")], repo, check=False)
    assert failed.returncode == 2 and "Traceback" not in failed.stderr
    assert "the columns the model uses are missing: bare_nuclei, mitoses" in failed.stderr
    assert not (tmp_path / "none.json").exists()
    assert run(["git", "check-ignore", "reports/drift.json", "reports/drift.html"], repo).returncode == 0  # not tracked


def test_the_raw_penguins_table_goes_through_the_same_pipeline_split_by_time(repo):
    """The messy raw table, dated by its egg-laying date: held out and cross-validated in time order
    (`data.split: time`, the column found as the table's only date)."""
    run(["dvc", "exp", "run", "-n", "penguins", "-S", "data=penguins", "-S", "data.split=time", *QUICK], repo)
    report = json.loads((repo / "reports/clean.json").read_text())
    assert report["task"] == "multiclass" and report["rows_in"] == 344
    train, test = (pd.read_parquet(repo / f"data/clean/{part}.parquet")["Date Egg"] for part in ("train", "test"))
    assert train.max() < test.min() and report["test_rows"] >= 0.2 * 344  # every holdout egg is newer
    dropped = report["columns_dropped"]
    assert dropped["Region"] == dropped["Stage"] == "constant"
    assert dropped["Individual ID"].startswith("id-like")
    assert dropped["Comments"].startswith("free text")
    leaks = json.loads((repo / "reports/leakage.json").read_text())
    assert leaks["shortcut_columns"] == {} and leaks["predictive_id_columns"] == {} and leaks["suggestions"] == []
    columns = json.loads((repo / "reports/clean_columns.json").read_text())
    assert columns["Date Egg"]["kind"] == "datetime"
    assert columns["Delta 15 N (o/oo)"]["markers_to_missing"] > 0
    assert leaks["random_split_mixes_time"]["Date Egg"]["holdout_rows_older_than_newest_training_row"] == 0
    contract = json.loads((repo / "contracts/penguins.json").read_text())
    assert contract["time_column"] == "Date Egg"
    assert "5 forward-chaining folds" in (repo / "reports/model_card.md").read_text()
    oof = pd.read_parquet(repo / "models/oof.parquet")
    assert 0.7 * report["train_rows"] < len(oof) < 0.9 * report["train_rows"]  # the oldest block is never scored
    (culmen,) = [field for field in contract["input"] if field["name"] == "Culmen Length (mm)"]
    assert 32.1 <= culmen.pop("min") < 40 < culmen.pop("max") <= 59.6  # the training rows' range, in mm
    assert culmen == {
        "name": "Culmen Length (mm)",
        "types": ["number", "string"],
        "nullable": True,
        "used": True,
        "kind": "numeric",
    }
    metrics = json.loads((repo / "reports/metrics.json").read_text())
    assert metrics["accuracy"] >= 0.9


def test_a_run_that_stops_half_way_leaves_no_model_scored_against_another_contract(repo, tmp_path):
    """After the penguins run, a run back on the built-in data fails at train: params.yaml and the
    contract are the built-in table's again, the model and the Bento still the penguins'. Neither
    `autotab predict`, `autotab serve` nor the package stage may use them together."""
    recorded = json.loads((repo / "reports/served.json").read_text())["contract_sha256"]
    assert recorded != file_digest(repo / "contracts/breast_biopsy.json", "sha256"), "needs the penguins run first"
    failed = run(["dvc", "exp", "run", "-S", "model=random_forest", "-S", "model.n_estimators=-3"], repo, check=False)
    assert failed.returncode != 0 and "autotab train: error: model.n_estimators" in failed.stderr + failed.stdout
    assert yaml.safe_load((repo / "params.yaml").read_text())["data"]["name"] == "breast_biopsy"
    rows = tmp_path / "rows.csv"
    pd.read_csv(REPO / "data/raw/breast_biopsy.csv").head(5).to_csv(rows, index=False)
    package = ["python", "-m", "autotab.stages.package"]  # as `dvc repro` runs it
    for command in (["autotab", "predict", str(rows), str(tmp_path / "scores.csv")], ["autotab", "serve"], package):
        result = run(command, repo, check=False)
        assert result.returncode == 2 and "Traceback" not in result.stderr, (command, result.stderr)
        assert "is not from the same run as contracts/breast_biopsy.json" in result.stderr, (command, result.stderr)
        assert "dvc repro" in result.stderr
    assert not (tmp_path / "scores.csv").exists()
    # A run stopped after tune (which records the new contract with its model) and before refit: the
    # served model is still the penguins', and says so itself.
    best = repo / "reports/tuning/best_params.json"
    kept = best.read_text()
    current = file_digest(repo / "contracts/breast_biopsy.json", "sha256")
    best.write_text(json.dumps(json.loads(kept) | {"contract_sha256": current}))
    try:
        result = run(["autotab", "predict", str(rows), str(tmp_path / "scores.csv")], repo, check=False)
        assert result.returncode == 2 and "models/served.joblib is not from the same run" in result.stderr
    finally:
        best.write_text(kept)


@pytest.mark.parametrize(
    "overrides,expected",
    [
        (
            ["-S", "model=random_forest", "-S", "model.n_estimators=-3"],
            "autotab train: error: model.n_estimators: ",
        ),
        (["-S", "+data.targte=diagnosis"], "data.targte: unknown key; accepted keys: name, path"),
        (["-S", "+foo=1"], "autotab validate: error: params.yaml: foo: unknown key; accepted keys: data,"),
    ],
)
def test_a_bad_config_fails_its_stage_with_one_line(repo, overrides, expected):
    result = run(["dvc", "exp", "run", *overrides], repo, check=False)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert expected in output, output
    assert "Traceback" not in output
    lines = [line for line in output.splitlines() if "autotab" in line and "error:" in line]
    assert len(lines) == 1, output
