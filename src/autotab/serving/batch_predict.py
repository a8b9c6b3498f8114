"""`autotab predict INPUT OUTPUT`: score a file of raw records with the packaged Pipeline (and
`autotab explain INPUT OUTPUT`: with each column's contribution too).

The file is read in chunks (any size), each row is validated exactly as POST /predict validates a
record (the same pydantic model, from the same data contract), rows that pass are scored by the
served Pipeline (cleaning included), and rows that do not are written, with the reason, to a
separate file instead of failing the batch. Both outputs are written to temporary files and renamed
at the end, so an interrupted run leaves no half-written output.
"""

from __future__ import annotations

import datetime
import math
from collections.abc import Iterator, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from pydantic import BaseModel, ValidationError

from autotab.data.contract import DataContract, InputField
from autotab.errors import UserError
from autotab.estimators.table_cleaner import lower_markers
from autotab.serving.predictor import classify
from autotab.serving.request_schema import record_model, records_frame, unreadable_text
from autotab.tables import atomic_path, csv_options, table_format, with_decimal_points

if TYPE_CHECKING:  # `autotab predict` loads nothing of the explanations
    from autotab.explaining.explainer import Explainer

ROW = "row"  # the 0-based position of a row in the input file


@dataclass
class Counts:
    rows: int = 0
    predicted: int = 0
    rejected: int = 0


def read_chunks(path: Path, chunk_rows: int, delimiter: str = "auto", encoding: str = "auto") -> Iterator[pd.DataFrame]:
    """The file's rows as raw frames of at most `chunk_rows`, read as `ingest` reads the training file."""
    if table_format(path) == "parquet":
        try:
            for batch in pq.ParquetFile(path).iter_batches(batch_size=chunk_rows):
                yield batch.to_pandas()
        except (pa.ArrowException, OSError) as error:
            raise UserError(f"{path}: cannot be read as parquet: {str(error).splitlines()[0]}") from None
        return
    try:
        options = csv_options(path, delimiter, encoding)
        for chunk in pd.read_csv(path, **options, chunksize=chunk_rows):
            yield with_decimal_points(chunk, options["sep"])
    except (pd.errors.ParserError, UnicodeDecodeError, LookupError) as error:
        raise UserError(f"{path}: cannot be read as csv: {str(error).splitlines()[0]}") from None


def json_value(value: Any, types: list[str], markers: frozenset[str]) -> Any:
    """A cell as a JSON client would send it for a field of these JSON types.

    A file's column is text as soon as one of its cells is, and a chunk with a missing cell turns an
    integer column into floats: each cell is turned back into what its field takes where it reads as
    one (a missing-value marker is null), so that one bad cell rejects its row, not its column.
    """
    if value is None or value is pd.NA or value is pd.NaT or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, datetime.date):  # a Parquet timestamp or date (datetime is a date): its ISO text
        return value.isoformat()
    if isinstance(value, np.generic):
        value = value.item()
    if not isinstance(value, (str, int, float)):  # a time of day, a duration, a decimal: its text, as cleaning reads it
        value = str(value)
    if isinstance(value, str) and "string" not in types:
        text = value.strip()
        if text.lower() in markers:
            return None
        if "boolean" in types and text.lower() in ("true", "false"):
            return text.lower() == "true"
        try:
            value = float(text)
        except ValueError:
            return value  # refused by the record model, naming the field
    if "integer" in types and isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def validate(chunk: pd.DataFrame, fields: Sequence[InputField], record: type[BaseModel], markers: list[str]):
    """Split a chunk into valid records (with their row labels) and reasons per rejected row label."""
    marker_set = lower_markers(markers)
    present = [f for f in fields if f.name in chunk.columns]
    columns = {f.name: [json_value(v, f.types, marker_set) for v in chunk[f.name].tolist()] for f in present}
    valid, labels, reasons = [], [], {}
    for position, label in enumerate(chunk.index):
        try:
            valid.append(record.model_validate({name: cells[position] for name, cells in columns.items()}))
            labels.append(label)
        except ValidationError as error:
            reasons[label] = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors())
    if valid:
        for error in unreadable_text(records_frame(valid, fields), fields, markers):
            position = error["loc"][1]
            reasons[labels[position]] = f"{error['loc'][2]}: {error['ctx']['error']}"
    kept = [(label, r) for label, r in zip(labels, valid, strict=True) if label not in reasons]
    return [label for label, _ in kept], [r for _, r in kept], reasons


def score(model: Any, frame: pd.DataFrame, task: str, explainer: Explainer | None = None) -> pd.DataFrame:
    """Predictions of raw rows; with `explainer`, each one's explanation after them (see Explanation.frame)."""
    if task == "regression":
        out, labels = pd.DataFrame({"prediction": model.predict(frame)}, index=frame.index), None
    else:
        labels, proba = classify(model, frame)  # a binary model's tuned threshold applies
        out = pd.DataFrame({"label": labels}, index=frame.index)
        for position, label in enumerate(model.classes_):
            out[f"proba_{label}"] = proba[:, position]
    if explainer is None:
        return out
    explanation = explainer.explain(frame, labels if task == "multiclass" else None)
    return out.join(explanation.frame().set_axis(frame.index))


def explanation_columns(explainer: Explainer, task: str) -> list[str]:
    """The columns `score` adds with an explainer, for the header of an output with no rows."""
    from autotab.explaining.explainer import Explanation

    none = Explanation(
        columns=explainer.columns,
        contributions=np.empty((0, len(explainer.columns))),
        base=np.empty(0),
        explained=None if task == "regression" else np.empty(0, dtype=object),
        output=explainer.output,
        method="",
    )
    return list(none.frame().columns)


class TableWriter:
    """Appends frames to a CSV or Parquet file (format from the extension), written at `tmp`."""

    def __init__(self, tmp: Path, final: Path) -> None:
        self.tmp, self.format, self.parquet = tmp, table_format(final, output=True), None
        self.started = False

    def write(self, frame: pd.DataFrame) -> None:
        if self.format == "csv":
            frame.to_csv(self.tmp, mode="a" if self.started else "w", header=not self.started, index=False)
        else:
            table = pa.Table.from_pandas(frame, preserve_index=False)
            if self.parquet is None:
                self.parquet = pq.ParquetWriter(self.tmp, table.schema)
            self.parquet.write_table(table.cast(self.parquet.schema))
        self.started = True

    def close(self, empty: pd.DataFrame) -> None:
        if not self.started:
            self.write(empty)  # a header (or a schema) even when no row belongs here
        if self.parquet is not None:
            self.parquet.close()


MISSING_SHOWN = 10  # a table thousands of columns wide gets the first few names and a count


def rejected_path(output: Path) -> Path:
    return output.with_name(f"{output.stem}.rejected{output.suffix}")


def predict_file(
    source: Path,
    output: Path,
    rejected: Path,
    model: Any,
    contract: DataContract,
    id_column: str | None,
    chunk_rows: int = 50_000,
    delimiter: str = "auto",
    encoding: str = "auto",
    explainer: Explainer | None = None,
) -> Counts:
    source, output, rejected = Path(source), Path(output), Path(rejected)
    if not source.is_file():
        raise UserError(f"{source}: file not found")
    for path in (output, rejected):
        table_format(path, output=True)  # refuse an unknown or compressed output extension before any work
    fields, markers, task = contract.input, contract.missing_markers, contract.task
    record = record_model(fields)
    needed = [f.name for f in fields if f.used]
    ids = [id_column] if id_column else []
    label_columns = ["prediction"] if task == "regression" else ["label"] + [f"proba_{c}" for c in contract.classes]
    if explainer is not None:
        label_columns += explanation_columns(explainer, task)
    counts = Counts()
    with ExitStack() as stack:
        predictions = TableWriter(stack.enter_context(atomic_path(output)), output)
        refusals = TableWriter(stack.enter_context(atomic_path(rejected)), rejected)
        for chunk in read_chunks(source, chunk_rows, delimiter, encoding):
            chunk.columns = [str(c) for c in chunk.columns]
            missing = [name for name in needed if name not in chunk.columns]
            if missing:
                shown = ", ".join(missing[:MISSING_SHOWN]) + (f" and {len(missing) - MISSING_SHOWN} more"
                                                            if len(missing) > MISSING_SHOWN else "")  # fmt: skip
                raise UserError(f"{source}: {len(missing)} column(s) the model needs are missing: {shown}")
            chunk.index = pd.RangeIndex(counts.rows, counts.rows + len(chunk))
            ids = [id_column] if id_column and id_column in chunk.columns else []
            labels, valid, reasons = validate(chunk, fields, record, markers)
            if valid:
                scored = score(model, records_frame(valid, fields).set_index(pd.Index(labels)), task, explainer)
                predictions.write(identify(chunk, labels, ids).join(scored))
            if reasons:
                why = pd.DataFrame({"reason": list(reasons.values())}, index=list(reasons))
                refusals.write(identify(chunk, list(reasons), ids).join(why))
            counts.rows += len(chunk)
            counts.predicted += len(valid)
            counts.rejected += len(reasons)
        if counts.rows == 0:
            raise UserError(f"{source}: the table has no rows")
        predictions.close(pd.DataFrame(columns=[ROW, *ids, *label_columns]))
        refusals.close(pd.DataFrame(columns=[ROW, *ids, "reason"]))
    return counts


def identify(chunk: pd.DataFrame, labels: list[int], ids: list[str]) -> pd.DataFrame:
    """The row number and, if configured, the id column of the given rows."""
    frame = pd.DataFrame({ROW: labels}, index=labels)
    for name in ids:
        frame[name] = chunk.loc[labels, name].astype("string")
    return frame
