import pytest
from pydantic import ValidationError

from autotab.request_schema import record_model, records_to_rows, request_model

FIELDS = [
    {"name": "Body Mass (g)", "types": ["number"], "nullable": True, "used": True},
    {"name": "count", "types": ["integer"], "nullable": False, "used": True},
    {"name": "island", "types": ["string"], "nullable": False, "used": True},
    {"name": "dose", "types": ["number", "string"], "nullable": False, "used": True},
    {"name": "sample_id", "types": ["integer"], "nullable": False, "used": False},
]
Record = record_model(FIELDS)
GOOD = {"Body Mass (g)": 3750.5, "count": 2, "island": "Biscoe", "dose": "1,5"}


def errors(payload):
    with pytest.raises(ValidationError) as caught:
        Record.model_validate(payload)
    return {(".".join(map(str, e["loc"])), e["type"]) for e in caught.value.errors()}


def test_a_raw_record_validates_and_round_trips_with_original_names():
    rows = records_to_rows([Record.model_validate({**GOOD, "sample_id": 7})])
    assert rows == [{**GOOD, "sample_id": 7}]
    assert records_to_rows([Record.model_validate(GOOD)])[0]["sample_id"] is None


@pytest.mark.parametrize(
    "change,expected",
    [
        ({"count": "2"}, ("count", "int_type")),
        ({"count": 2.0}, ("count", "int_type")),
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
    Request = request_model(Record, max_records=2)
    Request.model_validate({"records": [GOOD]})
    for body in ({"records": []}, {"records": [GOOD] * 3}, {"records": [GOOD], "x": 1}):
        with pytest.raises(ValidationError):
            Request.model_validate(body)
