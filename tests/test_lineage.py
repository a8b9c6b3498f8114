"""Lineage fields: the hashes DVC records, and the git state in a real repository."""

from __future__ import annotations

import hashlib
import subprocess

from autotab.reporting import lineage
from autotab.tables import file_digest
from tests.support import environment


def git(*args: str, cwd) -> str:
    return subprocess.run(["git", *args], cwd=cwd, env=environment(), capture_output=True, text=True, check=True).stdout


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


def test_the_git_state_is_the_head_commit_and_whether_the_code_differs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert lineage.git_state() == {"git_commit": "unknown", "git_code_modified": "unknown"}  # not a repository
    git("init", "-q", cwd=tmp_path)
    (tmp_path / "src").mkdir()
    (tmp_path / "src/a.py").write_text("x = 1\n")
    (tmp_path / "params.yaml").write_text("a: 1\n")
    git("add", "-A", cwd=tmp_path)
    git("commit", "-qm", "one", cwd=tmp_path)
    head = git("rev-parse", "HEAD", cwd=tmp_path).strip()
    assert lineage.git_state() == {"git_commit": head, "git_code_modified": "false"}
    (tmp_path / "params.yaml").write_text("a: 2\n")  # params are covered by their own hash
    assert lineage.git_state()["git_code_modified"] == "false"
    (tmp_path / "src/b.py").write_text("y = 2\n")  # new code, not yet committed
    assert lineage.git_state() == {"git_commit": head, "git_code_modified": "true"}
