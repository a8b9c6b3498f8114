"""The request contract of the service, derived from the data contract written by `clean`.

A record carries the raw file's columns under their original names, with their raw JSON types.
Columns the model uses are required (null is allowed where training data had missing values);
columns the cleaner dropped are accepted and ignored; any other field is an error naming it.
Text sent for a numeric or boolean column must be what the cleaner can read (a number, a yes/no
word, or a missing-value marker where the column may be missing), checked with the cleaner's own
parsing so that the service accepts exactly what training accepted. A number outside the range of
a field's training values is counted, and flagged or refused as `serve.out_of_range` says
(`outside_training_range`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from operator import attrgetter
from typing import Annotated, Any

import numpy as np
import pandas as pd
from annotated_types import Len
from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model, model_validator

from autotab.data.contract import InputField
from autotab.estimators.frames import column_index, column_values
from autotab.estimators.table_cleaner import FALSE_WORDS, TRUE_WORDS, lower_markers, normalise_missing, parse_numbers

# Integers beyond float precision are no measurement; they would overflow the float conversion.
BOUNDED_INT = Annotated[int, Field(ge=-(2**53), le=2**53)]
# Strict: a number field takes 1 and 1.5 but not "1.5" or true; an integer field refuses 3.0.
JSON_TYPES: dict[str, Any] = {"integer": BOUNDED_INT, "number": float, "string": str, "boolean": bool}
ANY_SCALAR = float | str | bool | None
RECORD_CONFIG = ConfigDict(extra="forbid", allow_inf_nan=False, strict=True, frozen=True)


def field_type(types: list[str], nullable: bool) -> Any:
    annotation: Any = None
    for name in types:
        annotation = JSON_TYPES[name] if annotation is None else annotation | JSON_TYPES[name]
    return annotation | None if nullable else annotation


def record_model(fields: Sequence[InputField]) -> type[BaseModel]:
    """A pydantic model of one record; Python names are positional, aliases are the column names."""
    definitions: dict[str, Any] = {}
    for index, field in enumerate(fields):
        if field.used:
            annotation, default = field_type(field.types, field.nullable), ...
        else:
            annotation, default = ANY_SCALAR, None
        definitions[f"f{index}"] = (annotation, Field(default, alias=field.name))
    return create_model("Record", __config__=RECORD_CONFIG, **definitions)


def request_model(
    record: type[BaseModel],
    max_records: int,
    fields: Sequence[InputField],
    markers: list[str],
    refuse_out_of_range: Callable[[dict[str, int]], None] | None = None,
) -> type[BaseModel]:
    """The body of POST /predict: {"records": [record, ...]} with 1..max_records records.

    Text in numeric or boolean fields is checked here, while the request is parsed, so a bad record
    gets its own 400 before the service may batch it with other clients' requests. So are numbers
    outside their field's training range when `refuse_out_of_range` is given: it is called with the
    count per field before the 400 (the service counts them).
    """
    records_type = Annotated[list[record], Len(min_length=1, max_length=max_records)]
    ranged = ranged_fields(fields)
    # Only fields that take text can hold text to check: on a 1000-record request the loop below
    # costs about 0.1 ms per field it looks at.
    checked = [
        f"f{i}" for i, f in enumerate(fields) if f.used and f.kind in ("numeric", "boolean") and "string" in f.types
    ]

    class PredictRequest(BaseModel):
        model_config = ConfigDict(extra="forbid")
        records: records_type  # type: ignore[valid-type]

        @model_validator(mode="after")
        def _text_the_cleaner_can_read(self) -> PredictRequest:
            if checked and any(isinstance(getattr(r, name), str) for r in self.records for name in checked):
                raise_for(unreadable_text(records_frame(self.records, fields), fields, markers))
            return self

        @model_validator(mode="after")
        def _within_the_training_range(self) -> PredictRequest:
            if refuse_out_of_range is not None and ranged:
                frame = records_frame(self.records, fields)
                outside = outside_training_range(frame, ranged, markers)
                if outside.any():
                    refuse_out_of_range(counts_per_field(outside, ranged))
                    raise_for(range_errors(frame, outside, ranged))
            return self

    return PredictRequest


def records_frame(records: list[BaseModel], fields: Sequence[InputField]) -> pd.DataFrame:
    """Validated records as the raw table the Pipeline expects, every contract column present."""
    # A record's attributes are f0, f1, ... in contract order (see record_model). Rows as tuples under
    # the final names: several times faster than model_dump(by_alias=True) on a 1000-record request,
    # and a third faster than dicts renamed afterwards on a single record.
    values = attrgetter(*[f"f{i}" for i in range(len(fields))])
    rows = [values(record) for record in records]
    if len(fields) == 1:  # attrgetter of one name gives the value, not a 1-tuple
        rows = [(value,) for value in rows]
    return pd.DataFrame(rows, columns=column_index(tuple(field.name for field in fields)))


def _is_boolean_word(value: Any) -> bool:
    return isinstance(value, str) and value.lower() in TRUE_WORDS | FALSE_WORDS


def unreadable_text(frame: pd.DataFrame, fields: Sequence[InputField], markers: list[str]) -> list[dict]:
    """Pydantic-style errors for text the cleaner could not read as the column's number or boolean."""
    marker_set = lower_markers(markers)
    errors: list[dict] = []
    for field in fields:
        if not field.used or field.kind not in ("numeric", "boolean"):
            continue
        values = frame[field.name]
        text = values[values.map(lambda v: isinstance(v, str))]
        if text.empty:
            continue
        normalised = normalise_missing(text.astype(object), marker_set)
        is_marker = normalised.isna()
        if field.kind == "numeric":
            readable = np.isfinite(parse_numbers(normalised).to_numpy(dtype=float, na_value=np.nan))
            expected = "a finite number"
        else:
            readable = normalised.map(_is_boolean_word).to_numpy(bool)
            expected = "a yes/no or true/false word"
        for position, index in enumerate(text.index):
            if is_marker.iloc[position]:
                if field.nullable:
                    continue
                why = "a missing-value marker, but this field is never missing in the training data"
            elif readable[position]:
                continue
            else:
                why = f"text that is not {expected}"
            errors.append(
                {
                    "type": "value_error",
                    "loc": ("records", int(index), field.name),
                    "input": text.iloc[position],
                    "ctx": {"error": ValueError(why)},
                }
            )
    return errors


def raise_for(errors: list[dict]) -> None:
    """Raise errors found after parsing as the same ValidationError (and 400) pydantic gives."""
    if errors:
        raise ValidationError.from_exception_data("PredictRequest", errors)


def unseen_categories(cleaned: pd.DataFrame, fields: Sequence[InputField], names: dict[str, str]) -> dict[str, int]:
    """Per categorical field, how many values (as the cleaner normalised them) training never saw.

    `cleaned` is the cleaner's output and `names` its raw-to-safe column names. Such values are not
    errors: the encoders treat them as unknown; they are counted so that drift shows.
    """
    counts: dict[str, int] = {}
    for field in fields:
        if field.used and field.kind == "categorical" and field.categories is not None:
            values = cleaned[names[field.name]]
            unseen = int((values.notna() & ~values.isin(field.categories)).sum())
            if unseen:
                counts[field.name] = unseen
    return counts


def ranged_fields(fields: Sequence[InputField]) -> list[InputField]:
    """The used numeric fields whose training range the contract records."""
    return [f for f in fields if f.used and f.kind == "numeric" and f.min is not None and f.max is not None]


def outside_training_range(frame: pd.DataFrame, ranged: Sequence[InputField], markers: list[str]) -> np.ndarray:
    """Per record (row) and field of `ranged` (column, in that order): whether its number lies
    outside the field's training range. Numbers sent as text are read as the cleaner reads them;
    missing values are not outside."""
    marker_set = lower_markers(markers)
    outside = np.zeros((len(frame), len(ranged)), dtype=bool)
    for position, field in enumerate(ranged):
        values = column_values(frame, field.name)  # on one record, Series for every field cost 0.4 ms
        if values.dtype.kind in "iuf":
            numbers = np.asarray(values, dtype=float)
        elif values.dtype.kind == "O" and not any(isinstance(v, str) for v in values):
            numbers = np.array([np.nan if v is None else v for v in values], dtype=float)
        else:  # text: read as the cleaner reads it
            series = pd.Series(values, dtype=object)
            numbers = parse_numbers(normalise_missing(series, marker_set)).to_numpy(dtype=float)
        with np.errstate(invalid="ignore"):
            outside[:, position] = (numbers < field.min) | (numbers > field.max)
    return outside


def counts_per_field(outside: np.ndarray, ranged: Sequence[InputField]) -> dict[str, int]:
    """How many values of each field `outside_training_range` found, for the fields that have any."""
    return {field.name: int(n) for field, n in zip(ranged, outside.sum(axis=0), strict=True) if n}


def flag_out_of_range(
    answers: list[dict[str, Any]], outside: np.ndarray | None, ranged: Sequence[InputField], mode: str
) -> None:
    """With `mode` (serve.out_of_range) flag, name in each answer the fields of `ranged` that
    `outside_training_range` found outside the training range; with accept, leave the answers as they are."""
    if mode != "flag" or outside is None or not outside.any():
        return
    names = np.array([field.name for field in ranged])
    for answer, row in zip(answers, outside, strict=True):
        if row.any():
            answer["out_of_range"] = names[row].tolist()


def range_errors(frame: pd.DataFrame, outside: np.ndarray, ranged: Sequence[InputField]) -> list[dict]:
    """Pydantic-style errors for the values `outside_training_range` found, naming the range."""
    errors = []
    for position, column in zip(*np.nonzero(outside), strict=True):
        field = ranged[column]
        why = (
            f"outside the training range [{field.min:g}, {field.max:g}] of this field"
            " (serve.out_of_range is reject: such values are refused)"
        )
        errors.append(
            {
                "type": "value_error",
                "loc": ("records", int(position), field.name),
                "input": frame[field.name].iloc[position],
                "ctx": {"error": ValueError(why)},
            }
        )
    return errors
