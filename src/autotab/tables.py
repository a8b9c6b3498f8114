"""Reading the user's table and writing outputs atomically (temporary file, then rename)."""

from __future__ import annotations

import bz2
import csv
import gzip
import hashlib
import json
import lzma
import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from autotab.errors import UserError

FORMATS = ("csv", "parquet")


def use_jemalloc_for_arrow() -> None:
    """Arrow's buffers from jemalloc rather than pyarrow's default, mimalloc, which keeps what a
    Parquet read frees (decoding buffers, about as much again as the table) and gives little of it
    back: the features stage on 1M rows peaked at 1,090 MB with mimalloc and 867 MB with jemalloc,
    on 100,000 x 500 at 2,623 and 2,257 MB, no slower (`bench/scale.py`). Freed pages go back at
    once (decay 0), not after a second: with the default decay, clean's peak at 1M rows varied from
    797 to 897 MB with the timing. A pool the user chose with ARROW_DEFAULT_MEMORY_POOL stands; a
    pyarrow built without jemalloc (pyarrow's Windows wheels) keeps its default. Called by
    `errors.run_stage` for each stage and CLI command: a process-wide choice, not an import's."""
    if "ARROW_DEFAULT_MEMORY_POOL" in os.environ:
        return
    try:
        pa.set_memory_pool(pa.jemalloc_memory_pool())
        pa.jemalloc_set_decay_ms(0)
    except NotImplementedError:
        pass


# A CSV file may come compressed (`sales.csv.gz`): pandas reads these by their extension.
COMPRESSIONS = {".gz": gzip.open, ".bz2": bz2.open, ".xz": lzma.open}
CSV_SUFFIXES, PARQUET_SUFFIXES = (".csv", ".txt", ".tsv"), (".parquet", ".pq")


def table_suffix(path: Path) -> str:
    """The extension that says a table's format, its compression included (`.csv.gz`)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in COMPRESSIONS and Path(path.stem).suffix.lower() in CSV_SUFFIXES:
        return Path(path.stem).suffix.lower() + suffix
    return suffix


def table_format(path: Path, configured: str = "auto", *, output: bool = False) -> str:
    """csv or parquet, from the extension unless configured. An output (`output`) is never
    compressed: it is written as it is named."""
    suffix = table_suffix(path)
    compressed = suffix != Path(path).suffix.lower()  # a CSV's extension and its compression's
    if output and compressed:
        raise UserError(f"{path}: write predictions to a .csv or .parquet file; compress it afterwards")
    if configured != "auto":
        return configured
    if suffix in CSV_SUFFIXES or compressed:
        return "csv"
    if suffix in PARQUET_SUFFIXES:
        return "parquet"
    raise UserError(
        f"{path}: cannot tell the format from the extension {suffix!r}; name it .csv (.csv.gz, .csv.bz2, "
        f".csv.xz) or .parquet, or set data.format to one of {', '.join(FORMATS)}"
    )


DELIMITERS = ",;\t|"
SAMPLE_BYTES = 1 << 16


def detect_encoding(sample: bytes, path: Path) -> str:
    """UTF-8 (with or without a byte-order mark), else Latin-1; a NUL byte means binary."""
    if b"\x00" in sample:
        raise UserError(f"{path}: looks like a binary file, not a CSV text file")
    try:
        sample.decode("utf-8")
    except UnicodeDecodeError as error:
        if error.start < len(sample) - 4:  # not just a character cut at the sample's end
            return "latin-1"
    return "utf-8-sig"


def detect_delimiter(text: str) -> str:
    """The delimiter that splits the header and the next lines into the same, largest width."""
    lines = [line for line in text.splitlines()[:20] if line.strip()]
    if len(lines) > 1 and not text.endswith("\n"):
        lines = lines[:-1]  # the sample may cut the last line
    best, best_width = ",", 1
    for delimiter in DELIMITERS:
        widths = {len(row) for row in csv.reader(lines, delimiter=delimiter)}
        if len(widths) == 1 and (width := widths.pop()) > best_width:
            best, best_width = delimiter, width
    return best


def csv_options(path: Path, delimiter: str = "auto", encoding: str = "auto") -> dict[str, Any]:
    """How pandas must read this CSV file (its detected delimiter and encoding), after checking its
    first lines: one reading, shared by ingest and batch prediction."""
    opener = COMPRESSIONS.get(Path(path).suffix.lower(), open)
    try:
        with opener(path, "rb") as handle:
            sample = handle.read(SAMPLE_BYTES)
    except (OSError, EOFError, lzma.LZMAError) as error:  # not the compression its name says
        raise UserError(f"{path}: cannot be decompressed: {error}") from None
    if not sample.strip():
        raise UserError(f"{path}: the file is empty")
    if encoding == "auto":
        encoding = detect_encoding(sample, path)
    try:
        text = sample.decode(encoding, errors="ignore")
    except LookupError:
        raise UserError(f"{path}: unknown encoding {encoding!r} in data.encoding") from None
    if delimiter == "auto":
        delimiter = detect_delimiter(text)
    header = next(csv.reader([text.splitlines()[0]], delimiter=delimiter))
    # Columns without a name are not repeats: pandas names each by its position ("Unnamed: 5"). A
    # spreadsheet writes such columns after the data (trailing separators); empty, the cleaner drops them.
    repeated = sorted({name for name in header if name.strip() and header.count(name) > 1})
    if repeated:
        raise UserError(f"{path}: repeated column names: {', '.join(repeated)}; rename them")
    # Raw values are kept as text where the file has text: cleaning decides what they mean.
    return {"sep": delimiter, "encoding": encoding, "keep_default_na": False, "na_values": [""], "low_memory": False}


def read_csv(path: Path, delimiter: str = "auto", encoding: str = "auto") -> pd.DataFrame:
    options = csv_options(path, delimiter, encoding)
    return with_decimal_points(pd.read_csv(path, **options), options["sep"])


# A number written with a decimal comma, its thousands grouped by points, spaces (a French export's
# no-break or narrow no-break spaces among them) or not, a currency sign before it or a currency or
# percent sign after it: 15,3  -0,25  1.234,5  1 234,5  12,5 %  12,50 €. Groups: sign, whole, fraction.
# A space, no-break, thin and narrow no-break ones: the cleaner's SPACES but tabs and line ends, written
# twice because this module imports nothing of the estimators (tests/test_tables.py keeps them equal).
SPACE_CHARACTERS = " \u00a0\u2009\u202f"
GROUPING = "." + SPACE_CHARACTERS
SPACE = f"[{SPACE_CHARACTERS}]*"
CURRENCY = "[$€£¥]"
NUMBER_WITH_COMMA = rf"([+-]?)(?:{CURRENCY}{SPACE})?([0-9]{{1,3}}(?:[{GROUPING}][0-9]{{3}})+|[0-9]*),([0-9]+)"
DECIMAL_COMMA = rf"^{NUMBER_WITH_COMMA}(?:{SPACE}(?:%|{CURRENCY}))?$"


def with_decimal_points(frame: pd.DataFrame, delimiter: str) -> pd.DataFrame:
    """A semicolon-separated file's numbers written with decimal commas (`15,3`, `1.234,5`, `12,5 %`), as
    spreadsheets write them where the comma is the decimal separator (and therefore not the
    delimiter), read as numbers: a text column of them (and whole numbers) becomes a column of numbers; in one that
    also holds other text (a missing-value marker), each such cell is written with a decimal point,
    for the cleaner to read. Other files and cells are left as they are. Batch prediction reads its
    files through this too, so a served file is read as the training file was."""
    if delimiter != ";":
        return frame
    for column in frame.columns:
        values = frame[column]
        if pd.api.types.is_numeric_dtype(values.dtype) or pd.api.types.is_bool_dtype(values.dtype):
            continue
        present = values.notna()
        text = values.astype("string").str.strip()
        commas = text.str.match(DECIMAL_COMMA).fillna(False).astype(bool)  # a match: ~10x cheaper than an extract
        if not commas.any():
            continue
        parts = text[commas].str.extract(DECIMAL_COMMA)
        number = parts[0] + parts[1].str.replace(f"[{GROUPING}]", "", regex=True) + "." + parts[2]
        dotted = text.where(~commas, number)
        whole = text.str.match(r"^[+-]?[0-9]+$").fillna(False).astype(bool)  # 7 in a column of 7,5
        if (commas | whole)[present].all():
            frame[column] = pd.to_numeric(dotted).astype("float64")
        else:
            frame[column] = values.astype(object).where(~commas, dotted.astype(object))
    return frame


def file_digest(path: Path, algorithm: str = "sha256") -> str:
    """The hex digest of a file's bytes, read in blocks (md5 is what DVC records in dvc.lock)."""
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, algorithm).hexdigest()


def read_parquet(path: Path) -> pd.DataFrame:
    import pyarrow.parquet as pq

    schema = pq.read_schema(path)
    nested = [f.name for f in schema if pa.types.is_nested(f.type)]
    if nested:
        raise UserError(f"{path}: nested columns cannot be features: {', '.join(nested)}; flatten them first")
    repeated = sorted({n for n in schema.names if schema.names.count(n) > 1})
    if repeated:
        raise UserError(f"{path}: repeated column names: {', '.join(repeated)}; rename them")
    return pd.read_parquet(path)


def read_table(
    path: Path, configured_format: str = "auto", delimiter: str = "auto", encoding: str = "auto"
) -> pd.DataFrame:
    """Read a CSV or Parquet file as it is (no cleaning), or raise a UserError saying why not."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: file not found; check data.path in your conf/data/ file")
    fmt = table_format(path, configured_format)
    try:
        frame = read_csv(path, delimiter, encoding) if fmt == "csv" else read_parquet(path)
    except UnicodeDecodeError as error:
        raise UserError(f"{path}: cannot be decoded as {error.encoding}; set data.encoding") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, pa.ArrowException, ValueError, OSError) as error:
        first_line = (str(error).strip().splitlines() or [type(error).__name__])[0]
        raise UserError(f"{path}: cannot be read as {fmt}: {first_line}") from None
    if frame.empty:
        raise UserError(f"{path}: the table has no rows (only a header?)")
    frame.columns = [str(c) for c in frame.columns]
    return frame


def _umask() -> int:
    mask = os.umask(0o022)  # reading the umask means setting it: put it straight back
    os.umask(mask)
    return mask


@contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temporary path beside `path`; on success it replaces `path`, on failure it is removed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        # mkstemp creates the file private (0600); the output gets the mode any new file gets here.
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_atomic(path: Path, write: Callable[[Path], Any]) -> None:
    with atomic_path(path) as tmp:
        write(tmp)


# Rows per Parquet row group: the unit a reader takes at a time (a Dask worker in a distributed fit,
# `autotab predict`'s stream), so a large table is read in pieces of tens of MB, not one of GBs
# (pyarrow's default is 1Mi rows). A smaller table is one row group, as before.
ROW_GROUP_ROWS = 100_000


def write_parquet(frame: pd.DataFrame, path: Path) -> None:
    """`frame.to_parquet(index=False)` in row groups of ROW_GROUP_ROWS. A frame of more rows is
    converted to Arrow a row group at a time, the same file byte for byte: `to_parquet` converts
    it whole first, a copy of the frame (320 MB for 60 float columns of 670,000 rows)."""
    if len(frame) <= ROW_GROUP_ROWS or frame.attrs:
        write_atomic(path, lambda tmp: frame.to_parquet(tmp, index=False, row_group_size=ROW_GROUP_ROWS))
        return
    import pyarrow.parquet as pq

    schema = pa.Schema.from_pandas(frame, preserve_index=False)

    def write(tmp: Path) -> None:
        with pq.ParquetWriter(tmp, schema) as writer:
            for start in range(0, len(frame), ROW_GROUP_ROWS):
                rows = frame.iloc[start : start + ROW_GROUP_ROWS]
                writer.write_table(pa.Table.from_pandas(rows, schema=schema, preserve_index=False))

    write_atomic(path, write)


def read_parquet_rows(
    path: Path, positions: Callable[[int], np.ndarray | None], exclude: tuple[str, ...] = ()
) -> pd.DataFrame:
    """`pd.read_parquet(path).drop(columns=exclude).iloc[chosen]`, where `chosen = positions(n_rows)`
    (sorted; None: every row), reading a batch of rows at a time: a sample of a table of millions of
    rows without holding the table."""
    import pyarrow.parquet as pq

    file = pq.ParquetFile(path)
    columns = [name for name in file.schema_arrow.names if name not in exclude]
    chosen = positions(file.metadata.num_rows)
    if chosen is None:
        return pd.read_parquet(path, columns=columns)
    batches, start = [], 0
    for batch in file.iter_batches(batch_size=ROW_GROUP_ROWS, columns=columns):
        here = chosen[(chosen >= start) & (chosen < start + batch.num_rows)] - start
        batches.append(batch.take(pa.array(here)))
        start += batch.num_rows
    schema = file.schema_arrow  # with its pandas metadata: the dtypes `pd.read_parquet` gives
    schema = pa.schema([schema.field(name) for name in columns], metadata=schema.metadata)
    frame = pa.Table.from_batches(batches, schema=schema).to_pandas()
    frame.index = pd.Index(chosen)
    return frame


def write_json(data: Any, path: Path) -> None:
    text = json.dumps(data, indent=2, sort_keys=False, allow_nan=False) + "\n"
    write_atomic(path, lambda tmp: tmp.write_text(text))


def write_csv(frame: pd.DataFrame, path: Path) -> None:
    write_atomic(path, lambda tmp: frame.to_csv(tmp, index=False, lineterminator="\n"))


def write_joblib(obj: Any, path: Path) -> None:
    import joblib

    write_atomic(path, lambda tmp: joblib.dump(obj, tmp))


def read_json(path: Path) -> Any:
    return json.loads(Path(path).read_text())
