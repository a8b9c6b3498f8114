import datetime
import decimal

import pandas as pd
import pytest
from pydantic import ValidationError

from autotab.data.contract import InputField
from autotab.serving.request_schema import (
    raise_for,
    record_model,
    records_frame,
    request_model,
    unreadable_text,
)

FIELDS = [
    InputField(**field)
    for field in [
        {"name": "Body Mass (g)", "types": ["number"], "nullable": True, "used": True, "kind": "numeric"},
        {"name": "count", "types": ["integer"], "nullable": False, "used": True, "kind": "numeric"},
        {"name": "island", "types": ["string"], "nullable": False, "used": True, "kind": "categorical"},
        {"name": "dose", "types": ["number", "string"], "nullable": False, "used": True, "kind": "numeric"},
        {"name": "member", "types": ["boolean", "string"], "nullable": True, "used": True, "kind": "boolean"},
        {"name": "sample_id", "types": ["integer"], "nullable": False, "used": False, "kind": "numeric"},
    ]
]
MARKERS = ["", "NA", "?"]
Record = record_model(FIELDS)
GOOD = {"Body Mass (g)": 3750.5, "count": 2, "island": "Biscoe", "dose": "1,500", "member": "Yes"}


def errors(payload):
    with pytest.raises(ValidationError) as caught:
        Record.model_validate(payload)
    return {(".".join(map(str, e["loc"])), e["type"]) for e in caught.value.errors()}


def frame_of(*records):
    return records_frame([Record.model_validate(r) for r in records], FIELDS)


def test_a_raw_record_validates_and_round_trips_with_original_names():
    frame = frame_of({**GOOD, "sample_id": 7}, GOOD)
    assert frame.iloc[0].to_dict() == {**GOOD, "sample_id": 7}
    assert pd.isna(frame.loc[1, "sample_id"]) and list(frame.columns) == [f.name for f in FIELDS]
    assert unreadable_text(frame, FIELDS, MARKERS) == []


def test_text_is_checked_with_the_cleaners_own_parsing():
    frame = frame_of(
        {**GOOD, "dose": "lots"},
        {**GOOD, "dose": "inf"},
        {**GOOD, "dose": "NA"},
        {**GOOD, "member": "maybe"},
        {**GOOD, "member": "?"},
        {**GOOD, "dose": " 2,000 "},
    )
    found = {(e["loc"][1], e["loc"][2]): str(e["ctx"]["error"]) for e in unreadable_text(frame, FIELDS, MARKERS)}
    assert found == {
        (0, "dose"): "text that is not a finite number",
        (1, "dose"): "text that is not a finite number",
        (2, "dose"): "a missing-value marker, but this field is never missing in the training data",
        (3, "member"): "text that is not a yes/no or true/false word",
    }
    with pytest.raises(ValidationError) as error:
        raise_for(unreadable_text(frame, FIELDS, MARKERS))
    assert error.value.errors()[0]["loc"] == ("records", 0, "dose")


@pytest.mark.parametrize(
    "change,expected",
    [
        ({"count": "2"}, ("count", "int_type")),
        ({"count": 2.0}, ("count", "int_type")),
        ({"count": 10**400}, ("count", "less_than_equal")),
        ({"island": None}, ("island", "string_type")),
        ({"Body Mass (g)": float("nan")}, ("Body Mass (g)", "finite_number")),
        ({"Body Mass (g)": float("inf")}, ("Body Mass (g)", "finite_number")),
        ({"colour": "red"}, ("colour", "extra_forbidden")),
    ],
)
def test_mistakes_are_named(change, expected):
    assert expected in errors({**GOOD, **change})


def test_missing_fields_are_named_and_nullable_ones_take_null():
    assert ("count", "missing") in errors({k: v for k, v in GOOD.items() if k != "count"})
    Record.model_validate({**GOOD, "Body Mass (g)": None})


def test_the_request_takes_one_to_max_records():
    Request = request_model(Record, max_records=2, fields=FIELDS, markers=MARKERS)
    Request.model_validate({"records": [GOOD]})
    for body in ({"records": []}, {"records": [GOOD] * 3}, {"records": [GOOD], "x": 1}):
        with pytest.raises(ValidationError):
            Request.model_validate(body)


def test_the_request_refuses_text_the_cleaner_cannot_read_naming_record_and_field():
    Request = request_model(Record, max_records=3, fields=FIELDS, markers=MARKERS)
    with pytest.raises(ValidationError) as error:
        Request.model_validate({"records": [GOOD, {**GOOD, "dose": "lots"}]})
    assert [e["loc"] for e in error.value.errors()] == [("records", 1, "dose")]


def test_unseen_categories_are_counted_per_field_as_the_cleaner_normalises_them(messy_frame):
    from autotab.estimators.table_cleaner import TableCleaner
    from autotab.serving.request_schema import unseen_categories

    cleaner = TableCleaner(drop=("patient_id",)).fit(messy_frame.drop(columns=["outcome"]))
    fields = [InputField(**field) for field in cleaner.input_schema()]
    new = messy_frame.drop(columns=["outcome"]).head(4).copy()
    new["colour"] = [" RED ", "purple", "NA", "Purple"]  # seen (after trimming and case-folding), unseen, missing
    assert unseen_categories(cleaner.transform(new), fields, cleaner.names_) == {"colour": 2}
    assert unseen_categories(cleaner.transform(messy_frame), fields, cleaner.names_) == {}


def test_the_cleaner_records_each_numeric_fields_raw_range_before_clipping(messy_frame):
    from autotab.estimators.table_cleaner import TableCleaner

    raw = messy_frame.drop(columns=["outcome"])
    cleaner = TableCleaner(drop=("patient_id",), clip_quantiles=(0.1, 0.9)).fit(raw)
    fields = {field["name"]: field for field in cleaner.input_schema()}
    assert (fields["age"]["min"], fields["age"]["max"]) == (raw["age"].min(), raw["age"].max())
    doses = pd.to_numeric(raw["dose"], errors="coerce")  # " 5.1 " as text, "?" missing
    assert (fields["dose"]["min"], fields["dose"]["max"]) == (doses.min(), doses.max())
    assert "min" not in fields["colour"] and "min" not in fields["patient_id"]  # categorical; dropped


RANGED = [
    InputField(name="age", types=("integer", "string"), nullable=True, used=True, kind="numeric", min=20, max=80),
    InputField(name="dose", types=("number",), nullable=False, used=True, kind="numeric", min=0.5, max=9.5),
]
RangedRecord = record_model(RANGED)


def test_numbers_outside_the_training_range_are_found_as_text_or_numbers_and_missing_ones_are_not():
    from autotab.serving.request_schema import outside_training_range

    records = [
        {"age": 20, "dose": 9.5},
        {"age": " 81 ", "dose": 1e300},
        {"age": None, "dose": -1.0},
        {"age": "?", "dose": 1},
    ]
    frame = records_frame([RangedRecord.model_validate(r) for r in records], RANGED)
    outside = outside_training_range(frame, RANGED, MARKERS)
    assert outside.T.tolist() == [[False, True, False, False], [False, True, True, False]]  # age, dose


@pytest.mark.parametrize(
    ("mode", "flagged"), [("flag", [None, ["age", "dose"], ["dose"]]), ("accept", [None, None, None])]
)
def test_flag_names_the_fields_outside_the_range_in_each_answer_and_accept_leaves_the_answers_alone(mode, flagged):
    from autotab.serving.request_schema import flag_out_of_range, outside_training_range

    records = [{"age": 20, "dose": 9.5}, {"age": 81, "dose": 1e300}, {"age": None, "dose": -1.0}]
    frame = records_frame([RangedRecord.model_validate(r) for r in records], RANGED)
    answers = [{"label": "yes"} for _ in records]
    flag_out_of_range(answers, outside_training_range(frame, RANGED, MARKERS), RANGED, mode)
    assert [answer.get("out_of_range") for answer in answers] == flagged
    assert all(answer["label"] == "yes" for answer in answers)  # scored either way


def test_with_refusal_on_a_request_outside_the_range_gets_an_error_per_value_naming_the_range():
    from autotab.serving.request_schema import request_model

    counted = []
    Request = request_model(
        RangedRecord, max_records=3, fields=RANGED, markers=MARKERS, refuse_out_of_range=counted.append
    )
    Request.model_validate({"records": [{"age": 50, "dose": 1.0}]})
    with pytest.raises(ValidationError) as error:
        Request.model_validate({"records": [{"age": 50, "dose": 1.0}, {"age": 1234567890, "dose": 1e300}]})
    found = {e["loc"]: e["msg"] for e in error.value.errors()}
    assert found.keys() == {("records", 1, "age"), ("records", 1, "dose")}
    assert "training range [20, 80]" in found[("records", 1, "age")] and "reject" in found[("records", 1, "age")]
    assert counted == [{"age": 1, "dose": 1}]
    unrefused = request_model(RangedRecord, max_records=3, fields=RANGED, markers=MARKERS)
    unrefused.model_validate({"records": [{"age": 1234567890, "dose": 1e300}]})  # accept and flag: no error


def test_a_parquet_files_timestamps_dates_and_other_typed_cells_are_scored_as_the_training_rows_were_cleaned(tmp_path):
    """`autotab predict` on a Parquet file with timestamps (with a zone and without), dates, times of
    day, durations and decimals: each cell is sent as its text (a date's ISO text), as a JSON client
    sends it, and cleans to what the training rows became. Every row was refused before ("Input
    should be a valid string")."""
    from autotab.estimators.table_cleaner import TableCleaner
    from autotab.serving.batch_predict import read_chunks, validate

    rows = 40
    frame = pd.DataFrame({
        "zoned": pd.date_range("2024-03-30 21:00", periods=rows, freq="17h", tz="America/New_York"),
        "naive": pd.date_range("2023-12-31 22:30", periods=rows, freq="5h"),
        "day": [d.date() for d in pd.date_range("2024-02-27", periods=rows, freq="D")],
        "x": [float(i) for i in range(rows)],
        "at": [datetime.time(i % 24, 30) for i in range(rows)],  # a time of day, a duration, a decimal
        "wait": pd.to_timedelta(range(rows), unit="min"),
        "amount": [decimal.Decimal(f"{i}.25") for i in range(rows)],
    })  # fmt: skip
    frame.loc[3, "naive"] = pd.NaT
    frame.to_parquet(tmp_path / "new.parquet", index=False)
    cleaner = TableCleaner(date_parts=("year", "month", "day", "dayofweek", "hour", "epoch_days")).fit(frame)
    fields = [InputField(**field) for field in cleaner.input_schema()]
    (chunk,) = read_chunks(tmp_path / "new.parquet", chunk_rows=rows)
    labels, valid, reasons = validate(chunk, fields, record_model(fields), list(cleaner.missing_markers))
    assert reasons == {} and labels == list(range(rows))
    served = cleaner.transform(records_frame(valid, fields))
    pd.testing.assert_frame_equal(served, cleaner.transform(frame), check_index_type=False)


def test_a_decimal_cell_is_a_number_where_its_field_takes_only_numbers():
    from autotab.serving.batch_predict import json_value

    assert json_value(decimal.Decimal("97.53"), ["number"], frozenset()) == 97.53
    assert json_value(decimal.Decimal("97.53"), ["number", "string"], frozenset()) == "97.53"
    assert json_value(datetime.time(10, 30), ["string"], frozenset()) == "10:30:00"
