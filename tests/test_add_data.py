"""`autotab add-data`: the checks as functions, then the command in a real git + DVC copy of the repo.

The command tests run real `dvc add` (a few seconds each), so they are marked slow; the pipeline run
on added data is in tests/test_versioning.py.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pandas as pd
import pytest
import yaml

from autotab.data.add_data import TEMPLATE, check_name, check_target, default_name, render_config
from autotab.errors import UserError
from tests.conftest import REPO
from tests.support import copy_repository, run
from tests.test_leakage import subjects_table

TABLE = pd.DataFrame(
    {
        "Body Mass (g)": [3750, 3800, None, 3250, 3450, 3650] * 10,
        "island": ["Torgersen", "Biscoe", "Dream"] * 20,
        "Species: common name": ["Adelie", "Gentoo"] * 30,
    }
)
TARGET = "Species: common name"


@pytest.mark.parametrize(
    "file,name",
    [
        ("table.csv", "table"),
        ("Sales Data 2024.CSV", "sales_data_2024"),
        ("2024-q1.parquet", "data_2024_q1"),
        ("sales.v2.csv.gz", "sales_v2"),
    ],
)
def test_the_default_name_is_a_safe_identifier_from_the_file_name(file, name):
    assert default_name(Path("/some/where") / file) == name
    assert check_name(name) == name


@pytest.mark.parametrize("name", ["", "../etc", "My-Data", "1st", "a.b", "with space", "é"])
def test_unsafe_names_are_refused_with_the_rule(name):
    with pytest.raises(UserError, match="lowercase letters, digits and _ only"):
        check_name(name)


def test_a_missing_target_names_the_file_and_the_close_matches():
    columns = ["clump_thickness", "diagnosis", "mitoses"]
    check_target(columns, "diagnosis", Path("t.csv"))
    with pytest.raises(UserError, match=r"t.csv: no column 'diagnosys' for --target; did you mean 'diagnosis'\?"):
        check_target(columns, "diagnosys", Path("t.csv"))
    with pytest.raises(UserError, match="did you mean 'Diagnosis'"):
        check_target(["Diagnosis", "x"], "diagnosis", Path("t.csv"))
    with pytest.raises(UserError, match="columns: clump_thickness, diagnosis, mitoses$"):
        check_target(columns, "outcome", Path("t.csv"))


def test_the_config_is_the_template_with_the_values_filled_in():
    template = (REPO / TEMPLATE).read_text()
    values = {"name": "penguins2", "path": "data/raw/penguins2.csv", "target": 'Species: "common" #1', "task": "auto"}
    text = render_config(template, values)
    loaded = yaml.safe_load(text)
    assert {key: loaded[key] for key in values} == values
    assert loaded["test_size"] == 0.2 and loaded["drop"] == []  # the rest as the template has it
    kept = [line for line in template.splitlines() if line.startswith("#")]
    assert kept and all(line in text.splitlines() for line in kept)
    assert "# the column to predict" in text  # the comment on a replaced line stays


def test_a_config_that_would_not_validate_is_refused():
    template = (REPO / TEMPLATE).read_text()
    with pytest.raises(UserError, match="task"):
        render_config(template, {"name": "t", "path": "data/raw/t.csv", "target": "y", "task": "clustering"})
    with pytest.raises(UserError, match="no line for target"):
        render_config(template.replace("target:", "goal:"), {"target": "y"})


# The command, in a real repository copy.


@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> Path:
    destination = tmp_path_factory.mktemp("add-data")
    copy_repository(destination)
    return destination


@pytest.fixture(scope="module")
def tables(tmp_path_factory) -> dict[str, Path]:
    """The user's files, outside the repository."""
    folder = tmp_path_factory.mktemp("user-files")
    files = {"csv": folder / "penguin sizes.csv", "parquet": folder / "penguins.parquet"}
    files["broken"] = folder / "broken.csv"
    TABLE.to_csv(files["csv"], index=False)
    TABLE.to_parquet(files["parquet"], index=False)
    files["broken"].write_bytes(b"a,b\n\x00\x01\x02garbage\n")
    return files


def add_data(repo: Path, *args: object, check: bool = True):
    return run(["autotab", "add-data", *map(str, args)], repo, check=check)


def md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def check_added(repo: Path, original: Path, name: str, suffix: str, target: str) -> None:
    data = repo / f"data/raw/{name}{suffix}"
    assert data.read_bytes() == original.read_bytes()
    tracked = yaml.safe_load((repo / f"data/raw/{name}{suffix}.dvc").read_text())
    assert tracked["outs"][0]["md5"] == md5(original) and tracked["outs"][0]["path"] == f"{name}{suffix}"
    assert f"/{name}{suffix}" in (repo / "data/raw/.gitignore").read_text().splitlines()
    assert "Data and pipelines are up to date" in run(["dvc", "status", f"data/raw/{name}{suffix}.dvc"], repo).stdout
    config = yaml.safe_load((repo / f"conf/data/{name}.yaml").read_text())
    assert config["name"] == name and config["path"] == f"data/raw/{name}{suffix}" and config["target"] == target


@pytest.mark.slow
def test_a_csv_is_copied_tracked_by_dvc_and_configured(repo, tables):
    before = tables["csv"].read_bytes()
    result = add_data(repo, tables["csv"], "--target", TARGET)
    check_added(repo, tables["csv"], "penguin_sizes", ".csv", TARGET)
    assert tables["csv"].read_bytes() == before  # the original is kept, unchanged
    assert "dvc exp run -S data=penguin_sizes" in result.stdout
    assert "git add data/raw/penguin_sizes.csv.dvc data/raw/.gitignore conf/data/penguin_sizes.yaml" in result.stdout
    assert "git add contracts/penguin_sizes.json" in result.stdout  # what the first run writes
    # the clean stage's leakage checks, before the first run: this table is 6 rows repeated (kept:
    # clean.drop_duplicates is off), each scored once, and every holdout row repeats a training row
    assert "leakage checks: best single column Body Mass (g) (roc_auc 0.5000 alone)" in result.stdout
    assert "12 of 12 holdout rows repeat a training row's values" in result.stdout
    assert "clean.drop_duplicates: true" in result.stdout
    # The binary metrics' positive class, which the template leaves to the sorted order, is named.
    assert "positive class: 'Gentoo', the last of the two in sorted order" in result.stdout
    assert "set positive_label in conf/data/penguin_sizes.yaml" in result.stdout
    assert run(["git", "check-ignore", "data/raw/penguin_sizes.csv"], repo).returncode == 0  # DVC's, not git's


@pytest.mark.slow
def test_a_parquet_file_with_a_name_and_a_task(repo, tables):
    add_data(repo, tables["parquet"], "--target", TARGET, "--name", "pq_penguins", "--task", "binary")
    check_added(repo, tables["parquet"], "pq_penguins", ".parquet", TARGET)
    assert yaml.safe_load((repo / "conf/data/pq_penguins.yaml").read_text())["task"] == "binary"


def fails_cleanly(repo: Path, args: list, expected: str) -> None:
    status = run(["git", "status", "--porcelain", "--ignored"], repo).stdout
    result = add_data(repo, *args, check=False)
    assert result.returncode == 2, result
    assert result.stderr.strip().splitlines() == [result.stderr.strip()], result.stderr  # one line
    assert expected in result.stderr and "Traceback" not in result.stderr, result.stderr
    assert run(["git", "status", "--porcelain", "--ignored"], repo).stdout == status  # nothing written


@pytest.mark.slow
@pytest.mark.parametrize(
    "args,expected",
    [
        (["{broken}", "--target", "a"], "broken.csv: looks like a binary file, not a CSV text file"),
        (["{csv}", "--target", "species", "--name", "x"], "no column 'species' for --target; columns: Body Mass"),
        (["{csv}", "--target", "Species: common nam", "--name", "x"], "did you mean 'Species: common name'?"),
        (["{parquet}", "--target", "island", "--name", "Bad-Name"], "--name 'Bad-Name': use lowercase letters"),
        (["{csv}", "--target", TARGET, "--name", "penguins"], "conf/data/penguins.yaml already exists: choose another"),
        (["{csv}", "--target", TARGET, "--name", "penguins_raw", "--force"], "data/raw/penguins_raw.csv is committed"),
        (["missing.csv", "--target", "y"], "missing.csv: file not found"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_writes_nothing(repo, tables, args, expected):
    fails_cleanly(repo, [arg.format(**tables) for arg in args], expected)


@pytest.mark.slow
def test_an_existing_name_needs_force_and_move_moves(repo, tables, tmp_path):
    add_data(repo, tables["csv"], "--target", TARGET, "--name", "versioned")
    fails_cleanly(repo, [tables["parquet"], "--target", TARGET, "--name", "versioned"], "already exists")
    newer = tmp_path / "newer.csv"
    TABLE.head(40).to_csv(newer, index=False)
    add_data(repo, newer, "--target", TARGET, "--name", "versioned", "--force", "--move")
    assert not newer.exists()
    assert len(pd.read_csv(repo / "data/raw/versioned.csv")) == 40
    tracked = yaml.safe_load((repo / "data/raw/versioned.csv.dvc").read_text())
    assert tracked["outs"][0]["md5"] == md5(repo / "data/raw/versioned.csv")


@pytest.mark.slow
def test_the_leakage_checks_suggest_the_group_before_the_first_run(repo, tmp_path):
    path = tmp_path / "visits.csv"
    subjects_table().to_csv(path, index=False)
    result = add_data(repo, path, "--target", "y")
    assert "id-like column subject_id alone predicts the target" in result.stdout
    assert "suggestion: subject_id: data.group: subject_id" in result.stdout
