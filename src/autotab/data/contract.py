"""The data contract: what the model was trained on, on the raw side and on the cleaned side.

Written by `clean` to `contracts/<data.name>.json` (tracked by DVC, committed to git, kept between
runs). The input side (raw column names, JSON types, nullability, categories seen) is what the
service and batch predictor validate requests against; the cleaned side (columns, dtypes, numeric
ranges) is what `features` and `evaluate` check with pandera. A new version of the data that changes
the structure fails `clean` with every difference listed, until the contract is regenerated on
purpose (`autotab contract --reset`); a change of the cleaning config regenerates it by itself.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pandas as pd

from autotab.errors import UserError
from autotab.estimators.table_cleaner import TableCleaner

CONTRACT_VERSION = 1


def config_fingerprint(settings: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode()).hexdigest()[:16]


def build_contract(
    cleaner: TableCleaner,
    cleaned_train: pd.DataFrame,
    target: dict[str, Any],
    fingerprint: str,
) -> dict[str, Any]:
    """`target` holds name, task, task_reason and, for classification, classes (+ positive_label)."""
    cleaned = []
    for column in cleaned_train.columns:
        values = cleaned_train[column]
        entry: dict[str, Any] = {"name": column, "dtype": str(values.dtype)}
        if pd.api.types.is_numeric_dtype(values) and values.notna().any():
            entry |= {"min": float(values.min()), "max": float(values.max())}
        cleaned.append(entry)
    return {
        "contract_version": CONTRACT_VERSION,
        "config_fingerprint": fingerprint,
        **target,
        "missing_markers": list(cleaner.missing_markers),
        "input": cleaner.input_schema(),
        "renamed": {raw: safe for raw, safe in cleaner.names_.items() if raw != safe},
        "dropped_columns": dict(cleaner.dropped_),
        "cleaned": cleaned,
    }


def differences(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """Every structural difference between two contracts (categories and ranges may vary)."""
    found: list[str] = []
    for key in ("target", "task"):
        if old.get(key) != new.get(key):
            found.append(f"{key} was {old.get(key)!r}, now {new.get(key)!r}")
    old_classes, new_classes = set(old.get("classes") or []), set(new.get("classes") or [])
    if old_classes - new_classes:
        found.append(f"classes gone: {', '.join(sorted(old_classes - new_classes))}")
    if new_classes - old_classes:
        found.append(f"new classes: {', '.join(sorted(new_classes - old_classes))}")
    old_fields = {f["name"]: f for f in old["input"]}
    new_fields = {f["name"]: f for f in new["input"]}
    for name, field in old_fields.items():
        now = new_fields.get(name)
        if now is None:
            if field["used"]:
                found.append(f"column {name!r} is gone")
        elif field["used"] and not now["used"]:
            found.append(f"column {name!r} is no longer used ({new['dropped_columns'].get(name)})")
        elif now["used"] and not field["used"]:
            found.append(f"column {name!r} is now used (it was dropped: {old['dropped_columns'].get(name)})")
        elif field["used"] and field["types"] != now["types"]:
            found.append(f"column {name!r} was {'/'.join(field['types'])}, now {'/'.join(now['types'])}")
    for name, field in new_fields.items():
        if name not in old_fields and field["used"]:
            found.append(f"new column {name!r}")
    old_cleaned = {c["name"]: c["dtype"] for c in old["cleaned"]}
    new_cleaned = {c["name"]: c["dtype"] for c in new["cleaned"]}
    for name in sorted(old_cleaned.keys() & new_cleaned.keys()):
        if old_cleaned[name] != new_cleaned[name]:
            found.append(f"cleaned column {name!r} was {old_cleaned[name]}, now {new_cleaned[name]}")
    return found


def enforce(old: dict[str, Any] | None, new: dict[str, Any], where: str) -> str:
    """Check a new contract against the recorded one. Returns what happened, or raises."""
    if old is None:
        return "recorded"
    if old.get("config_fingerprint") != new["config_fingerprint"]:
        return "regenerated (the cleaning config changed)"
    found = differences(old, new)
    if found:
        raise UserError(
            f"the data no longer matches its contract {where}: {'; '.join(found)}. "
            f"If the change is intended, run `autotab contract --reset` and rerun"
        )
    return "unchanged" if old == new else "updated (categories or ranges)"


def cleaned_schema(contract: dict[str, Any]):
    """A pandera schema of the cleaned table: exactly these columns, with these dtypes."""
    import pandera.pandas as pa

    columns = {c["name"]: pa.Column(c["dtype"], nullable=True, coerce=False) for c in contract["cleaned"]}
    return pa.DataFrameSchema(columns, strict=True, ordered=True)


def check_cleaned(frame: pd.DataFrame, contract: dict[str, Any], what: str) -> None:
    """Fail with every problem listed if a cleaned table does not conform to the contract."""
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
