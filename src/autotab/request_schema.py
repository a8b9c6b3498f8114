"""The request contract of the service, derived from the data contract written by `clean`.

A record carries the raw file's columns under their original names, with their raw JSON types.
Columns the model uses are required (null is allowed where training data had missing values);
columns the cleaner dropped are accepted and ignored; any other field is an error naming it.
"""

from __future__ import annotations

from typing import Annotated, Any

from annotated_types import Len
from pydantic import BaseModel, ConfigDict, Field, create_model

# Strict: a number field takes 1 and 1.5 but not "1.5" or true; an integer field refuses 3.0.
JSON_TYPES: dict[str, Any] = {"integer": int, "number": float, "string": str, "boolean": bool}
ANY_SCALAR = float | str | bool | None
RECORD_CONFIG = ConfigDict(extra="forbid", allow_inf_nan=False, strict=True, frozen=True)


def field_type(types: list[str], nullable: bool) -> Any:
    annotation: Any = None
    for name in types:
        annotation = JSON_TYPES[name] if annotation is None else annotation | JSON_TYPES[name]
    return annotation | None if nullable else annotation


def record_model(fields: list[dict[str, Any]]) -> type[BaseModel]:
    """A pydantic model of one record; Python names are positional, aliases are the column names."""
    definitions: dict[str, Any] = {}
    for index, field in enumerate(fields):
        if field["used"]:
            annotation, default = field_type(field["types"], field["nullable"]), ...
        else:
            annotation, default = ANY_SCALAR, None
        definitions[f"f{index}"] = (annotation, Field(default, alias=field["name"]))
    return create_model("Record", __config__=RECORD_CONFIG, **definitions)


def request_model(record: type[BaseModel], max_records: int) -> type[BaseModel]:
    """The body of POST /predict: {"records": [record, ...]} with 1..max_records records."""
    records = Annotated[list[record], Len(min_length=1, max_length=max_records)]
    return create_model("PredictRequest", __config__=ConfigDict(extra="forbid"), records=(records, ...))


def records_to_rows(records: list[BaseModel]) -> list[dict[str, Any]]:
    """Validated records back to {column: value} rows with every contract column present."""
    return [record.model_dump(by_alias=True) for record in records]
