import os
import stat

import numpy as np
import pandas as pd
import pytest

from autotab.errors import UserError
from autotab.estimators.table_cleaner import SPACES
from autotab.tables import SPACE_CHARACTERS, read_table, table_format, write_atomic, write_json, write_parquet


def test_missing_file(tmp_path):
    with pytest.raises(UserError, match="file not found; check data.path"):
        read_table(tmp_path / "nope.csv")


def test_empty_and_header_only_files(tmp_path):
    (tmp_path / "empty.csv").write_text("")
    (tmp_path / "header.csv").write_text("a,b\n")
    with pytest.raises(UserError, match="empty.csv: the file is empty"):
        read_table(tmp_path / "empty.csv")
    with pytest.raises(UserError, match="header.csv: the table has no rows"):
        read_table(tmp_path / "header.csv")


def test_binary_file(tmp_path):
    (tmp_path / "image.csv").write_bytes(bytes(range(256)) * 4)
    with pytest.raises(UserError, match="image.csv"):
        read_table(tmp_path / "image.csv")


def test_unknown_extension_asks_for_the_format(tmp_path):
    (tmp_path / "table.xlsx").write_text("x")
    with pytest.raises(UserError, match="set data.format"):
        read_table(tmp_path / "table.xlsx")


def test_csv_and_parquet_read_the_same_table(tmp_path):
    frame = pd.DataFrame({"a": [1, 2], "b": ["x", "?"]})
    frame.to_csv(tmp_path / "t.csv", index=False)
    write_parquet(frame, tmp_path / "t.parquet")
    pd.testing.assert_frame_equal(read_table(tmp_path / "t.csv"), read_table(tmp_path / "t.parquet"), check_dtype=False)


@pytest.mark.parametrize("compression", ["gz", "bz2", "xz"])
def test_a_compressed_csv_is_read_as_the_csv_it_holds(tmp_path, compression):
    frame = pd.DataFrame({"température": [1.5, 2.5], "ville": ["Genève", "?"]})
    frame.to_csv(tmp_path / "t.csv", sep=";", index=False, encoding="latin-1")
    frame.to_csv(tmp_path / f"t.csv.{compression}", sep=";", index=False, encoding="latin-1")
    # the delimiter and the encoding are detected inside the compressed file, as in a plain one
    pd.testing.assert_frame_equal(read_table(tmp_path / f"t.csv.{compression}"), read_table(tmp_path / "t.csv"))
    with pytest.raises(UserError, match=r"t.csv.gz: write predictions to a .csv or .parquet file"):
        table_format(tmp_path / "t.csv.gz", output=True)


def test_a_file_that_is_not_the_compression_its_name_says_is_one_clear_error(tmp_path):
    (tmp_path / "t.csv.gz").write_text("a,b\n1,2\n")
    with pytest.raises(UserError, match=r"t.csv.gz: cannot be decompressed"):
        read_table(tmp_path / "t.csv.gz")
    (tmp_path / "t.json.gz").write_bytes(b"")
    with pytest.raises(UserError, match=r"extension '.gz'; name it .csv \(.csv.gz"):
        read_table(tmp_path / "t.json.gz")


def test_a_semicolon_files_decimal_commas_are_numbers_and_nothing_else_changes(tmp_path):
    frame = pd.DataFrame({
        "température": ["15,3", "-0,25", "1.234,5", "7", "1 234,5", "1\u00a0234,5", "1\u202f234,5"],
        "rate": ["12,5 %", "7,0\u202f%", "0,25%", "100", "3,5", "-1,5 %", "2,0"],
        "price": ["12,50 €", "€ 3,99", "$1.234,00", "-0,50 €", "1", "2,5", "3"],
        "marked": ["2,5", "?", "3,75", "1", "1", "1", "1"],
        "code": ["A,1", "B", "C", "D", "E", "F", "G"], "dotted": ["1.5", "2", "3", "4", "5", "6", "7"],
    })  # fmt: skip
    frame.to_csv(tmp_path / "eu.csv", sep=";", index=False)
    read = read_table(tmp_path / "eu.csv")
    assert read["température"].tolist() == [15.3, -0.25, 1234.5, 7.0, 1234.5, 1234.5, 1234.5]
    assert read["rate"].tolist() == [12.5, 7.0, 0.25, 100.0, 3.5, -1.5, 2.0]  # the cleaner drops % alike
    assert read["price"].tolist() == [12.5, 3.99, 1234.0, -0.5, 1.0, 2.5, 3.0]
    assert read["marked"].tolist() == ["2.5", "?", "3.75", "1", "1", "1", "1"]  # text still: the cleaner reads "?"
    assert read["code"].tolist() == frame["code"].tolist()
    assert read["dotted"].tolist() == [1.5, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]
    frame.to_csv(tmp_path / "us.csv", sep=",", index=False)  # a comma-separated file keeps its cells
    assert read_table(tmp_path / "us.csv")["température"].tolist() == frame["température"].tolist()


def test_a_decimal_commas_grouping_spaces_are_the_cleaners_spaces():
    """Written twice (tables.py imports nothing of the estimators, and they nothing of autotab
    outside them): a space the cleaner strips from a number groups a decimal-comma number's thousands."""
    assert SPACES.startswith("[") and SPACES.endswith("]+")
    assert set(SPACES[1:-2]) - set("\t\r\n") == set(SPACE_CHARACTERS)


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "out.json"
    target.write_text("old")

    def fail(tmp):
        tmp.write_text("half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        write_atomic(target, fail)
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"]


@pytest.mark.parametrize("encoding,bom", [("utf-8", b""), ("utf-8", b"\xef\xbb\xbf"), ("latin-1", b"")])
def test_encodings_are_detected(tmp_path, encoding, bom):
    path = tmp_path / "t.csv"
    path.write_bytes(bom + "name,città\nJosé,Köln\n".encode(encoding))
    frame = read_table(path)
    assert list(frame.columns) == ["name", "città"]
    assert frame.loc[0, "name"] == "José"


@pytest.mark.parametrize("delimiter", [",", ";", "\t", "|"])
def test_delimiters_are_detected(tmp_path, delimiter):
    path = tmp_path / "t.csv"
    rows = ["a,b", "1,x y", "2,z"]
    path.write_text("\n".join(r.replace(",", delimiter) for r in rows) + "\n")
    frame = read_table(path)
    assert list(frame.columns) == ["a", "b"] and frame["b"].tolist() == ["x y", "z"]


def test_repeated_column_names_are_named(tmp_path):
    (tmp_path / "t.csv").write_text("a,b,a\n1,2,3\n")
    with pytest.raises(UserError, match="repeated column names: a"):
        read_table(tmp_path / "t.csv")


def test_columns_without_a_name_are_not_repeats(tmp_path):
    # A spreadsheet's export: separators after the last column, on every line.
    (tmp_path / "t.csv").write_text("a,b,,\n1,x,,\n2,y,,\n")
    frame = read_table(tmp_path / "t.csv")
    assert list(frame.columns) == ["a", "b", "Unnamed: 2", "Unnamed: 3"]
    assert frame[["Unnamed: 2", "Unnamed: 3"]].isna().all().all()


def test_nested_parquet_columns_are_named(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.table({"x": [1, 2], "tags": [["a"], ["b", "c"]], "point": [{"u": 1}, {"u": 2}]})
    pq.write_table(table, tmp_path / "t.parquet")
    with pytest.raises(UserError, match="nested columns cannot be features: tags, point"):
        read_table(tmp_path / "t.parquet")


@pytest.mark.parametrize("umask", [0o022, 0o077])
def test_an_output_gets_the_mode_the_umask_gives_a_new_file(tmp_path, umask):
    previous = os.umask(umask)
    try:
        write_json({"a": 1}, tmp_path / "out.json")
    finally:
        os.umask(previous)
    assert stat.S_IMODE((tmp_path / "out.json").stat().st_mode) == 0o666 & ~umask


def test_a_frame_of_many_row_groups_is_the_file_to_parquet_writes(tmp_path):
    """Past one row group a frame is converted to Arrow a group at a time: the same bytes."""
    from autotab.tables import ROW_GROUP_ROWS

    rows = 2 * ROW_GROUP_ROWS + 17
    frame = pd.DataFrame({
        "number": np.arange(rows, dtype=np.float64),
        "text": pd.Series(["a", None, "b"] * (rows // 3) + ["c"] * (rows % 3), dtype=object),
        "late": pd.Series([None] * (rows - 5) + ["x"] * 5, dtype=object),  # all missing in the first groups
        "kind": pd.Categorical(["u", "v"] * (rows // 2) + ["u"] * (rows % 2)),
    })  # fmt: skip
    write_parquet(frame, tmp_path / "ours.parquet")
    frame.to_parquet(tmp_path / "pandas.parquet", index=False, row_group_size=ROW_GROUP_ROWS)
    assert (tmp_path / "ours.parquet").read_bytes() == (tmp_path / "pandas.parquet").read_bytes()
    import pyarrow.parquet as pq

    assert pq.ParquetFile(tmp_path / "ours.parquet").metadata.num_row_groups == 3
    assert pd.read_parquet(tmp_path / "ours.parquet")["late"].notna().sum() == 5


@pytest.mark.parametrize("rows", [40, 2 * 100_000 + 9])
def test_a_sample_of_rows_read_from_parquet_is_the_same_rows_of_the_whole_table(tmp_path, rows):
    from autotab.explaining.explainer import background_positions, background_sample
    from autotab.tables import read_parquet_rows

    rng = np.random.default_rng(2)
    frame = pd.DataFrame({
        "x": rng.normal(size=rows),
        "colour": pd.Series(rng.choice(np.array(["red", "blue", None], dtype=object), rows), dtype="str"),
        "target": rng.choice(["yes", "no"], rows),
        "count": rng.integers(0, 9, rows),
    })  # fmt: skip
    write_parquet(frame, tmp_path / "train.parquet")
    read = pd.read_parquet(tmp_path / "train.parquet").drop(columns=["target"])
    sample = read_parquet_rows(tmp_path / "train.parquet", lambda n: background_positions(n, 7), exclude=("target",))
    pd.testing.assert_frame_equal(sample, background_sample(read, 7))
    if rows > 100:  # the seeded draw of earlier versions: frame.sample(...).sort_index()
        pd.testing.assert_frame_equal(sample, read.sample(n=100, random_state=7).sort_index())
        assert sample.index.min() < 100_000 < sample.index.max()  # rows from more than one batch
