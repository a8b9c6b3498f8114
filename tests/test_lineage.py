"""Lineage fields: the hashes DVC records, and the packaged code's."""

from __future__ import annotations

import hashlib

from autotab.reporting import lineage
from autotab.tables import file_digest


def test_the_data_and_params_hashes_are_the_md5_of_the_files(tmp_path):
    data, params = tmp_path / "t.csv", tmp_path / "params.yaml"
    data.write_bytes(b"a,b\r\n1,2\r\n" * 100_000)  # bigger than one read block; CRLF kept as is, as DVC 3 does
    params.write_text("data:\n  seed: 42\n")
    assert file_digest(data, "md5") == hashlib.md5(data.read_bytes()).hexdigest()
    hashes = lineage.input_hashes({"source": "t.csv", "md5": file_digest(data, "md5")}, params)
    assert hashes == {
        "data_path": "t.csv",
        "data_md5": hashlib.md5(data.read_bytes()).hexdigest(),
        "params_md5": hashlib.md5(params.read_bytes()).hexdigest(),
    }


def test_the_code_digest_covers_every_source_file_and_the_bentofile_and_nothing_else(tmp_path):
    sources, bentofile = tmp_path / "src/autotab", tmp_path / "bentofile.yaml"
    (sources / "serving").mkdir(parents=True)
    (sources / "a.py").write_text("x = 1\n")
    (sources / "serving/b.py").write_text("y = 2\n")
    bentofile.write_text("service: x\n")
    first = lineage.code_digest(sources, bentofile)
    (sources / "notes.txt").write_text("not code")  # only Python files go into the Bento
    (tmp_path / "params.yaml").write_text("a: 1\n")  # params are covered by their own hash
    assert lineage.code_digest(sources, bentofile) == first
    for change in (
        lambda: (sources / "serving/b.py").write_text("y = 3\n"),
        lambda: (sources / "serving/b.py").rename(sources / "b.py"),  # the same bytes under another name
        lambda: bentofile.write_text("service: y\n"),
    ):
        change()
        assert lineage.code_digest(sources, bentofile) != first
        first = lineage.code_digest(sources, bentofile)
