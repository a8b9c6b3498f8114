"""ingest: the user's CSV or Parquet file, as it is, into Parquet with its recorded schema."""

from pathlib import Path

from autotab import paths
from autotab.config import load_config
from autotab.errors import run_stage
from autotab.tables import file_digest, read_table, write_json, write_parquet


def main() -> None:
    data = load_config().data
    source = Path(data.path)
    frame = read_table(source, data.format, data.delimiter, data.encoding)
    schema = {
        "source": data.path,
        "sha256": file_digest(source),
        "md5": file_digest(source, "md5"),  # the hash dvc.lock (or the file's .dvc) records for it
        "rows": len(frame),
        "columns": {str(name): str(dtype) for name, dtype in frame.dtypes.items()},
    }
    write_parquet(frame, paths.RAW_TABLE)
    write_json(schema, paths.RAW_SCHEMA)
    print(f"ingest: {len(frame)} rows x {frame.shape[1]} columns from {source}")


if __name__ == "__main__":
    run_stage("ingest", main)
