"""ingest: the user's CSV or Parquet file, as it is, into Parquet with its recorded schema."""

import hashlib
from pathlib import Path

from autotab import lineage, paths
from autotab.config import load_config
from autotab.errors import run_stage
from autotab.tables import read_table, write_json, write_parquet


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def main() -> None:
    data = load_config().data
    source = Path(data.path)
    frame = read_table(source, data.format, data.delimiter, data.encoding)
    schema = {
        "source": data.path,
        "sha256": file_sha256(source),
        "md5": lineage.file_md5(source),  # the hash dvc.lock (or the file's .dvc) records for it
        "rows": len(frame),
        "columns": {str(name): str(dtype) for name, dtype in frame.dtypes.items()},
    }
    write_parquet(frame, paths.RAW_TABLE)
    write_json(schema, paths.RAW_SCHEMA)
    print(f"ingest: {len(frame)} rows x {frame.shape[1]} columns from {source}")


if __name__ == "__main__":
    run_stage("ingest", main)
