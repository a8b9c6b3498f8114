"""The ingest and clean stages on bad input: one clear line, exit code 2, nothing half-written.

The stage entry points are run in-process through `run_stage`, the same wrapper `python -m` uses;
one case runs as a real subprocess to check what a user sees.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from autotab.errors import EXIT_USER_ERROR, run_stage
from autotab.stages import clean, ingest
from tests.conftest import REPO

GOOD = "id,x,colour,y\n" + "".join(
    f"{i},{i % 7}.5,{'red' if i % 3 else 'blue'},{'a' if i % 2 else 'b'}\n" for i in range(60)
)


@pytest.fixture
def workspace(tmp_path, monkeypatch):
    """An empty project folder with params.yaml; returns a function to set the data file."""
    monkeypatch.chdir(tmp_path)
    params = yaml.safe_load((REPO / "params.yaml").read_text())

    def use(content: bytes | str, name: str = "table.csv", clean: dict | None = None, **data) -> Path:
        path = tmp_path / name
        params["clean"].update(clean or {})
        path.write_bytes(content.encode() if isinstance(content, str) else content)
        params["data"].update(
            {
                "name": "t",
                "path": name,
                "target": "y",
                "drop": [],
                "group": None,
                "positive_label": None,
                **data,
            }
        )
        (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
        return path

    return use


def run_ingest_and_clean(capsys) -> tuple[int, str]:
    try:
        run_stage("ingest", ingest.main)
        run_stage("clean", clean.main)
    except SystemExit as stop:
        return stop.code, capsys.readouterr().err
    return 0, capsys.readouterr().err


OUTPUTS = [
    "data/clean/train.parquet",
    "data/clean/test.parquet",
    "contracts/t.json",
    "reports/clean.json",
    "reports/clean_columns.json",
]


def test_a_good_file_goes_through_and_is_not_modified(workspace, capsys):
    path = workspace(GOOD)
    before = hashlib.sha256(path.read_bytes()).hexdigest()
    code, err = run_ingest_and_clean(capsys)
    assert code == 0, err
    assert all(Path(p).exists() for p in OUTPUTS)
    assert hashlib.sha256(path.read_bytes()).hexdigest() == before


@pytest.mark.parametrize(
    "content,data,expected",
    [
        ("", {}, "the file is empty"),
        ("id,x,y\n", {}, "the table has no rows"),
        (GOOD, {"target": "label"}, "target column 'label' (data.target) is not in the table"),
        (GOOD.replace(",b\n", ",a\n"), {}, "the target has a single class ('a')"),
        ("x,y\n" + "1,a\n" * 30, {}, "the target has a single class"),
        ("x,x,y\n1,2,a\n", {}, "repeated column names: x"),
        (bytes(range(256)) * 8, {}, "looks like a binary file"),
        (GOOD.replace(",", ";"), {"delimiter": ","}, "read as a single column: is data.delimiter right?"),
        (GOOD, {"drop": ["nope"]}, "data.drop or data.group names columns that are not in the table: nope"),
        (GOOD.replace(",b\n", ",a\n", 25), {}, "classes with fewer than 7 rows (clean.min_class_count: auto"),
    ],
)
def test_bad_input_is_one_line_with_exit_2_and_no_outputs(workspace, capsys, content, data, expected):
    workspace(content, **data)
    code, err = run_ingest_and_clean(capsys)
    assert code == EXIT_USER_ERROR
    assert expected in err, err
    assert len(err.strip().splitlines()) == 1, err
    assert not any(Path(p).exists() for p in OUTPUTS)
    assert not list(Path().rglob("*.tmp"))


RARE = (
    "x,y\n"
    + "".join(f"{i}.5,{'a' if i % 2 else 'b'}\n" for i in range(60))
    + "".join(f"{i}.25,rare\n" for i in range(3))
)


def test_a_rare_class_is_dropped_named_and_never_predicted(workspace, capsys):
    workspace(RARE)
    run_stage("ingest", ingest.main)
    run_stage("clean", clean.main)
    out = capsys.readouterr().out
    assert "rare classes dropped (clean.rare_classes; the model never predicts them): 'rare' (3)" in out
    report = json.loads(Path("reports/clean.json").read_text())
    assert report["classes_dropped"] == {"rare": 3} and report["rows_dropped"]["rare_class"] == 3
    # three classes in the file, two kept: the task is inferred on the rows kept
    assert report["task"] == "binary" and report["task_reason"].endswith("after dropping 1 rare one")
    assert report["train_rows"] + report["test_rows"] == 60
    contract = json.loads(Path("contracts/t.json").read_text())
    assert contract["classes"] == ["a", "b"]
    for split in ("train", "test"):
        assert set(pd.read_parquet(f"data/clean/{split}.parquet")["y"]) == {"a", "b"}


def test_a_spreadsheets_error_values_are_missing_not_text(workspace, capsys):
    errors = ["#N/A", "#DIV/0!", "#VALUE!", "<NA>"]
    table = "x,z,y\n" + "".join(
        f"{errors[i % 4] if i % 3 == 0 else f'{i}.5'},{i % 7}.25,{'a' if i % 2 else 'b'}\n" for i in range(60)
    )
    workspace(table)
    run_stage("ingest", ingest.main)
    run_stage("clean", clean.main)
    columns = json.loads(Path("reports/clean_columns.json").read_text())
    assert columns["x"]["markers_to_missing"] == 20  # one row in three (no duplicates): numbers, not categories
    contract = json.loads(Path("contracts/t.json").read_text())
    assert [field["kind"] for field in contract["input"] if field["name"] == "x"] == ["numeric"]


def test_rare_classes_error_stops_the_run_naming_them(workspace, capsys):
    workspace(RARE, clean={"rare_classes": "error"})
    code, err = run_ingest_and_clean(capsys)
    assert code == EXIT_USER_ERROR
    bar = "7 rows (clean.min_class_count: auto, for train.folds=5, data.test_size=0.2)"
    assert f"classes with fewer than {bar}: 'rare' (3 rows); remove or merge" in err
    assert not any(Path(p).exists() for p in OUTPUTS)


def test_more_folds_raise_the_automatic_rare_class_bar_and_the_contract_is_regenerated_not_failed(workspace, capsys):
    table = "x,y\n" + "".join(f"{i}.5,{'a' if i % 2 else 'b'}\n" for i in range(80))
    workspace(table + "".join(f"{i}.25,c\n" for i in range(8)))
    code, err = run_ingest_and_clean(capsys)
    assert code == 0, err
    assert json.loads(Path("contracts/t.json").read_text())["classes"] == ["a", "b", "c"]  # 8 rows: the bar is 7
    params = yaml.safe_load(Path("params.yaml").read_text())
    params["train"]["folds"] = 10  # the bar becomes 13: c is dropped, a change of the cleaning, not of the data
    Path("params.yaml").write_text(yaml.safe_dump(params))
    code, err = run_ingest_and_clean(capsys)
    assert code == 0, err
    assert json.loads(Path("contracts/t.json").read_text())["classes"] == ["a", "b"]
    assert json.loads(Path("reports/clean.json").read_text())["classes_dropped"] == {"c": 8}


def test_a_missing_file_as_a_user_sees_it(workspace):
    workspace(GOOD)
    Path("table.csv").unlink()
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    result = subprocess.run([sys.executable, "-m", "autotab.stages.ingest"], capture_output=True, text=True, env=env)
    assert result.returncode == EXIT_USER_ERROR
    assert (
        result.stderr == "autotab ingest: error: table.csv: file not found; check data.path in your conf/data/ file\n"
    )


def test_nested_parquet_is_refused(workspace, capsys):
    import pyarrow as pa
    import pyarrow.parquet as pq

    workspace(b"", name="t.parquet")
    pq.write_table(pa.table({"x": [1, 2], "y": ["a", "b"], "tags": [["a"], ["b"]]}), "t.parquet")
    code, err = run_ingest_and_clean(capsys)
    assert code == EXIT_USER_ERROR and "nested columns cannot be features: tags" in err


def test_new_data_that_breaks_the_contract_fails_until_reset(workspace, capsys):
    workspace(GOOD)
    assert run_ingest_and_clean(capsys)[0] == 0
    workspace(GOOD.replace("colour", "color"))
    code, err = run_ingest_and_clean(capsys)
    assert code == EXIT_USER_ERROR
    assert "column 'colour' is gone; new column 'color'" in err
    Path("contracts/t.json").unlink()  # what `autotab contract --reset` does
    assert run_ingest_and_clean(capsys)[0] == 0


def test_a_new_version_beyond_the_recorded_ranges_is_reported_or_with_fail_stops(workspace, capsys):
    workspace(GOOD)
    assert run_ingest_and_clean(capsys)[0] == 0
    assert json.loads(Path("reports/clean.json").read_text())["outside_recorded_ranges"] == {}
    rows = GOOD.splitlines()
    wider = "\n".join([*rows, *(f"{100 + i},{50 + i}.5,red,{'a' if i % 2 else 'b'}" for i in range(20))]) + "\n"
    workspace(wider)  # x reached 6.5; now up to 69.5 (the same columns, the same types)
    assert run_ingest_and_clean(capsys)[0] == 0
    report = json.loads(Path("reports/clean.json").read_text())
    beyond = int((pd.read_parquet("data/clean/train.parquet")["x"] > 6.5).sum())  # the new rows drawn for training
    assert report["outside_recorded_ranges"] == {"x": beyond} and beyond > 10
    recorded = Path("contracts/t.json").read_bytes()  # the contract now holds the wider range
    workspace(wider.replace("69.5", "690.5"), clean={"on_range_drift": "fail"})
    before = {name: Path(name).read_bytes() for name in OUTPUTS}
    code, err = run_ingest_and_clean(capsys)
    assert code == EXIT_USER_ERROR and "x: 1" in err and "clean.on_range_drift" in err
    assert {name: Path(name).read_bytes() for name in OUTPUTS} == before and Path(
        "contracts/t.json"
    ).read_bytes() == recorded
