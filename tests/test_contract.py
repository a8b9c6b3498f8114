import json

import numpy as np
import pandas as pd
import pytest

from autotab.data.contract import DataContract, build_contract, check_cleaned, differences, enforce
from autotab.errors import UserError
from autotab.estimators.table_cleaner import TableCleaner

TARGET = {"target": "y", "task": "binary", "task_reason": "2 classes", "classes": ["a", "b"]}


def contract_of(frame: pd.DataFrame, fingerprint: str = "f1") -> DataContract:
    cleaner = TableCleaner().fit(frame)
    return build_contract(cleaner, cleaner.transform(frame), TARGET, fingerprint)


@pytest.fixture
def frame() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame(
        {
            "Mass (g)": rng.normal(4000, 300, 40),
            "island": rng.choice(["x", "y"], 40),
            "count": rng.integers(0, 5, 40),
        }
    )


def test_contract_has_both_sides(frame):
    contract = contract_of(frame)
    assert [f.name for f in contract.input] == ["Mass (g)", "island", "count"]
    assert contract.renamed == {"Mass (g)": "mass_g"}
    cleaned = {c.name: c for c in contract.cleaned}
    assert cleaned["mass_g"].dtype == "float64"
    assert cleaned["mass_g"].min == pytest.approx(frame["Mass (g)"].min())
    assert cleaned["island"].dtype == "object"


def test_every_structural_difference_is_listed(frame):
    old = contract_of(frame)
    changed = frame.drop(columns=["island"]).assign(count=frame["count"].astype(str) + "x", new=frame["Mass (g)"] / 2)
    found = differences(old, contract_of(changed))
    assert "column 'island' is gone" in found
    assert "column 'count' was integer, now string" in found
    assert "new column 'new'" in found
    assert any("cleaned column 'count' was float64, now object" in f for f in found)


def test_enforce_fails_on_new_data_but_not_on_a_config_change(frame):
    old = contract_of(frame)
    broken = contract_of(frame.drop(columns=["island"]))
    with pytest.raises(UserError, match=r"no longer matches its contract.*'island' is gone.*--reset"):
        enforce(old, broken, "(contracts/x.json)")
    assert enforce(old, contract_of(frame.drop(columns=["island"]), "f2"), "").startswith("regenerated")
    assert enforce(None, old, "") == "recorded"
    assert enforce(old, contract_of(frame), "") == "unchanged"
    assert (
        enforce(old, contract_of(frame.assign(island=frame["island"].map({"x": "p", "y": "q"}))), "")
        == "updated (categories or ranges)"
    )


def test_check_cleaned_lists_every_problem(frame):
    contract = contract_of(frame)
    cleaned = TableCleaner().fit(frame).transform(frame)
    check_cleaned(cleaned, contract, "the table")
    bad = cleaned.drop(columns=["island"]).assign(mass_g=cleaned["mass_g"].astype(str), extra=1)
    with pytest.raises(UserError, match=r"^the table does not conform to the data contract") as error:
        check_cleaned(bad, contract, "the table")
    message = str(error.value)
    assert "island: column_in_dataframe" in message and "extra: column_in_schema" in message
    assert "mass_g: dtype('float64')" in message and "\n" not in message


def test_values_outside_the_training_range_are_counted_not_refused(frame):
    contract = contract_of(frame)
    cleaned = TableCleaner().fit(frame).transform(frame)
    assert check_cleaned(cleaned, contract, "the table") == {}
    wider = cleaned.copy()
    wider.loc[:2, "mass_g"] = [1e9, -1e9, 1e300]  # three values no training row came near
    wider.loc[0, "count"] = 99
    assert check_cleaned(wider, contract, "the table") == {"mass_g": 3, "count": 1}


def test_the_contract_file_round_trips_and_a_broken_one_is_named(frame, tmp_path):
    contract = contract_of(frame)
    path = tmp_path / "c.json"
    contract.write(path)
    assert DataContract.read(path) == contract
    written = json.loads(path.read_text())
    assert "categories" in written["input"][1] and "categories" not in written["input"][0]  # only where they apply
    written["input"][0]["used"] = "sometimes"
    path.write_text(json.dumps(written))
    with pytest.raises(
        UserError, match=r"c\.json: not a data contract of version 1: input\.0\.used: .*contract --reset"
    ):
        DataContract.read(path)
    path.write_text("{")
    with pytest.raises(UserError, match=r"c\.json: not valid JSON"):
        DataContract.read(path)
    with pytest.raises(UserError, match=r"no data contract yet"):
        DataContract.read(tmp_path / "none.json")
