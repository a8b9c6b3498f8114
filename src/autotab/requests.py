"""The request contract of the service, derived from the data contract written by `clean`.

A record carries the raw file's columns under their original names and with their raw JSON types.
Columns the model uses are required (null allowed where training data had missing values);
columns the cleaner dropped are accepted and ignored; anything else is an error naming the field.
"""

from __future__ import annotations

from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    create_model,
)

JSON_TYPES: dict[str, Any] = {
    "integer": StrictInt,
    "number": StrictFloat | StrictInt,
    "string": StrictStr,
    "boolean": StrictBool,
}
ANY_SCALAR = StrictFloat | StrictInt | StrictStr | StrictBool | None


class RecordBase(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, frozen=True)


def field_type(types: list[str], nullable: bool) -> Any:
    annotation: Any = None
    for name in types:
        annotation = JSON_TYPES[name] if annotation is None else annotation | JSON_TYPES[name]
    return annotation | None if nullable else annotation


def record_model(fields: list[dict[str, Any]]) -> type[BaseModel]:
    """A pydantic model of one record. Python field names are positional; aliases are the columns."""
    definitions: dict[str, Any] = {}
    for index, field in enumerate(fields):
        alias = field["name"]
        if field["used"]:
            annotation = field_type(field["types"], field["nullable"])
            definitions[f"f{index}"] = (annotation, Field(alias=alias))
        else:
            definitions[f"f{index}"] = (ANY_SCALAR, Field(default=None, alias=alias))
    return create_model("Record", __base__=RecordBase, **definitions)


def records_frame_data(records: list[BaseModel]) -> list[dict[str, Any]]:
    """Validated records back to {column: value} rows, every contract column present."""
    return [record.model_dump(by_alias=True) for record in records]
