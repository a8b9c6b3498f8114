"""Reading the user's table and writing outputs atomically (temporary file, then rename)."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd

from autotab.errors import UserError

FORMATS = ("csv", "parquet")


def table_format(path: Path, configured: str = "auto") -> str:
    if configured != "auto":
        return configured
    suffix = path.suffix.lower()
    if suffix in (".csv", ".txt", ".tsv"):
        return "csv"
    if suffix in (".parquet", ".pq"):
        return "parquet"
    raise UserError(
        f"{path}: cannot tell the format from the extension {suffix!r}; "
        f"set data.format to one of {', '.join(FORMATS)}"
    )


def read_table(path: Path, configured_format: str = "auto") -> pd.DataFrame:
    """Read a CSV or Parquet file as it is (no cleaning), or raise a UserError saying why not."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: file not found; check data.path in your conf/data/ file")
    fmt = table_format(path, configured_format)
    try:
        if fmt == "csv":
            # Raw values are kept as text where the file has text: cleaning decides what they mean.
            frame = pd.read_csv(path, keep_default_na=False, na_values=[""])
        else:
            frame = pd.read_parquet(path)
    except UnicodeDecodeError as error:
        raise UserError(f"{path}: not a UTF-8 text file ({error.reason}); is it a binary file?") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError, OSError) as error:
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise UserError(f"{path}: cannot be read as {fmt}: {first_line}") from None
    if frame.empty:
        raise UserError(f"{path}: the table has no rows")
    return frame


@contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temporary path beside `path`; on success it replaces `path`, on failure it is removed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_atomic(path: Path, write: Callable[[Path], Any]) -> None:
    with atomic_path(path) as tmp:
        write(tmp)


def write_parquet(frame: pd.DataFrame, path: Path) -> None:
    write_atomic(path, lambda tmp: frame.to_parquet(tmp, index=False))


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
