"""The data contract: what the model was trained on, on the raw side and on the cleaned side.

Written by `clean` to `contracts/<data.name>.json` (tracked by DVC, committed to git, kept between
runs). The input side (raw column names, JSON types, nullability, categories seen, numeric ranges)
is what the service and batch predictor validate requests against; the cleaned side (columns, dtypes, numeric
ranges) is what `features` and `evaluate` check: the structure strictly with pandera, the ranges
as counts of values outside them (`check_cleaned`). A new version of the data that changes
the structure fails `clean` with every difference listed, until the contract is regenerated on
purpose (`autotab contract --reset`); a change of the cleaning config regenerates it by itself.

The contract is a typed model (`DataContract`): every reader gets attributes, and a file that is not
a contract of this version fails with one line naming the file and the field. The JSON file stays the
readable format on disk, with `contract_version` to tell formats apart.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, ValidationError

from autotab.data.profile import ColumnProfile, column_profile
from autotab.errors import UserError
from autotab.estimators.table_cleaner import TableCleaner
from autotab.tables import write_json

CONTRACT_VERSION = 1


class InputField(BaseModel):
    """A raw column a prediction request may carry, as the cleaner saw it in training."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str
    types: tuple[str, ...]  # JSON types accepted: integer, number, string, boolean
    nullable: bool
    used: bool  # False: dropped by the cleaner (id-like, constant, listed in data.drop...)
    kind: str  # numeric | boolean | categorical | text | datetime (the cleaner's `infer_kind`)
    categories: tuple[str | int | float | bool, ...] | None = None  # a used categorical's training levels
    min: float | None = None  # a used numeric field's training range (raw values, before any clipping)
    max: float | None = None


class CleanedColumn(BaseModel):
    """A column of the cleaned table: its dtype, for a numeric one the training range, and the
    training distribution that new data's drift is measured against (`autotab.data.profile`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str
    dtype: str
    min: float | None = None
    max: float | None = None
    profile: ColumnProfile | None = None


class DataContract(BaseModel):
    """What the model was trained on: the target and task, the raw input fields and the cleaned columns."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    contract_version: Literal[1] = CONTRACT_VERSION
    config_fingerprint: str
    target: str
    task: Literal["binary", "multiclass", "regression"]
    task_reason: str
    classes: tuple[str, ...] | None = None  # classification: every class, as strings
    positive_label: str | None = None  # binary: the class whose probability is scored
    time_column: str | None = None  # data.split: time: the raw column the split and folds order rows by
    missing_markers: tuple[str, ...]
    input: tuple[InputField, ...]
    renamed: dict[str, str]  # raw name -> the cleaned (safe) name, where they differ
    dropped_columns: dict[str, str]  # raw column -> why the cleaner dropped it
    cleaned: tuple[CleanedColumn, ...]

    @property
    def used_fields(self) -> list[InputField]:
        return [field for field in self.input if field.used]

    def to_json(self) -> dict[str, Any]:
        """The file's content: keys that do not apply (categories of a numeric field...) left out."""
        return self.model_dump(mode="json", exclude_none=True)

    def write(self, path: Path) -> None:
        write_json(self.to_json(), path)

    @classmethod
    def from_json(cls, data: Any, where: str) -> DataContract:
        try:
            return cls.model_validate(data)
        except ValidationError as error:
            first = error.errors()[0]
            location = ".".join(map(str, first["loc"])) or "(top level)"
            raise UserError(
                f"{where}: not a data contract of version {CONTRACT_VERSION}: {location}: {first['msg']} "
                f"({error.error_count()} problem(s)); rerun `dvc repro` to write it, or `autotab contract --reset`"
            ) from None

    @classmethod
    def read(cls, path: Path) -> DataContract:
        try:
            data = json.loads(Path(path).read_text())
        except FileNotFoundError:
            raise UserError(f"{path}: no data contract yet; the clean stage writes it (`dvc repro`)") from None
        except json.JSONDecodeError as error:
            raise UserError(f"{path}: not valid JSON ({error}); `autotab contract --reset` and rerun") from None
        return cls.from_json(data, str(path))


def config_fingerprint(settings: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode()).hexdigest()[:16]


def build_contract(
    cleaner: TableCleaner,
    cleaned_train: pd.DataFrame,
    target: dict[str, Any],
    fingerprint: str,
) -> DataContract:
    """`target` holds name, task, task_reason, for classification classes (+ positive_label), and
    with a time split the time_column."""
    cleaned = []
    for column in cleaned_train.columns:
        values = cleaned_train[column]
        entry: dict[str, Any] = {"name": column, "dtype": str(values.dtype), "profile": column_profile(values)}
        if pd.api.types.is_numeric_dtype(values) and values.notna().any():
            entry |= {"min": float(values.min()), "max": float(values.max())}
        cleaned.append(CleanedColumn(**entry))
    return DataContract(
        config_fingerprint=fingerprint,
        **target,
        missing_markers=cleaner.missing_markers,
        input=[InputField(**field) for field in cleaner.input_schema()],
        renamed={raw: safe for raw, safe in cleaner.names_.items() if raw != safe},
        dropped_columns=dict(cleaner.dropped_),
        cleaned=cleaned,
    )


def differences(old: DataContract, new: DataContract) -> list[str]:
    """Every structural difference between two contracts (categories and ranges may vary)."""
    found: list[str] = []
    for key in ("target", "task"):
        if getattr(old, key) != getattr(new, key):
            found.append(f"{key} was {getattr(old, key)!r}, now {getattr(new, key)!r}")
    old_classes, new_classes = set(old.classes or []), set(new.classes or [])
    if old_classes - new_classes:
        found.append(f"classes gone: {', '.join(sorted(old_classes - new_classes))}")
    if new_classes - old_classes:
        found.append(f"new classes: {', '.join(sorted(new_classes - old_classes))}")
    old_fields = {f.name: f for f in old.input}
    new_fields = {f.name: f for f in new.input}
    for name, field in old_fields.items():
        now = new_fields.get(name)
        if now is None:
            if field.used:
                found.append(f"column {name!r} is gone")
        elif field.used and not now.used:
            found.append(f"column {name!r} is no longer used ({new.dropped_columns.get(name)})")
        elif now.used and not field.used:
            found.append(f"column {name!r} is now used (it was dropped: {old.dropped_columns.get(name)})")
        elif field.used and field.types != now.types:
            found.append(f"column {name!r} was {'/'.join(field.types)}, now {'/'.join(now.types)}")
    for name, field in new_fields.items():
        if name not in old_fields and field.used:
            found.append(f"new column {name!r}")
    old_cleaned = {c.name: c.dtype for c in old.cleaned}
    new_cleaned = {c.name: c.dtype for c in new.cleaned}
    for name in sorted(old_cleaned.keys() & new_cleaned.keys()):
        if old_cleaned[name] != new_cleaned[name]:
            found.append(f"cleaned column {name!r} was {old_cleaned[name]}, now {new_cleaned[name]}")
    return found


def enforce(old: DataContract | None, new: DataContract, where: str) -> str:
    """Check a new contract against the recorded one. Returns what happened, or raises."""
    if old is None:
        return "recorded"
    if old.config_fingerprint != new.config_fingerprint:
        return "regenerated (the cleaning config changed)"
    found = differences(old, new)
    if found:
        raise UserError(
            f"the data no longer matches its contract {where}: {'; '.join(found)}. "
            f"If the change is intended, run `autotab contract --reset` and rerun"
        )
    return "unchanged" if old == new else "updated (categories or ranges)"


def cleaned_schema(contract: DataContract):
    """A pandera schema of the cleaned table: exactly these columns, in this order, with these dtypes."""
    import pandera.pandas as pa

    columns = {c.name: pa.Column(c.dtype, nullable=True, coerce=False) for c in contract.cleaned}
    return pa.DataFrameSchema(columns, strict=True, ordered=True)


def check_cleaned(frame: pd.DataFrame, contract: DataContract, what: str) -> dict[str, int]:
    """Fail with every problem listed if a cleaned table does not conform to the contract: its
    columns, their order and dtypes. Values outside the training range are no failure (a holdout or
    a new data version can rightly hold some): returns how many each numeric column has."""
    import pandera.errors

    try:
        cleaned_schema(contract).validate(frame, lazy=True)
    except pandera.errors.SchemaErrors as error:
        cases = error.failure_cases
        # Column-level failures name the column; table-level ones (a column missing or unexpected)
        # carry it as the failure case.
        names = cases["column"].where(cases["column"].notna(), cases["failure_case"]).astype(str)
        listed = "; ".join(dict.fromkeys(f"{n}: {c}" for n, c in zip(names, cases["check"], strict=True)))
        raise UserError(f"{what} does not conform to the data contract: {listed}") from None
    # The ranges are counted in one comparison over the numeric block, not as a pandera check per
    # column: pandera builds a failure report per failing column (about 7 ms each), which took 10 s
    # on a 2,000-column holdout with values outside the range in 734 of them.
    ranged = [c for c in contract.cleaned if c.min is not None]
    if not ranged:
        return {}
    values = frame[[c.name for c in ranged]].to_numpy(dtype=np.float64, na_value=np.nan)
    low, high = np.array([c.min for c in ranged]), np.array([c.max for c in ranged])
    with np.errstate(invalid="ignore"):  # a missing value compares false: not outside
        outside = ((values < low) | (values > high)).sum(axis=0)
    return {c.name: int(n) for c, n in zip(ranged, outside, strict=True) if n}
