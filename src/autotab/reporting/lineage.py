"""Lineage: which data, params and code produced a model, so a served model can be traced to its origin.

Two kinds of fields. The data and params hashes are facts about the run's inputs: the same inputs give
the same values, so they may go into tracked outputs (the model card). The git commit is a fact about
where the run happened: it changes with every commit, so it goes only on the packaged model (its labels
and metadata, inside the Bento archive, whose hash DVC already treats as build-specific), never into a
file whose bytes must reproduce.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from autotab import paths
from autotab.tables import file_digest

UNKNOWN = "unknown"
# What `git_code_modified` looks at: the code that goes into the Bento. params.yaml and the data are
# covered by their own hashes; dvc.lock and outputs change during every run.
CODE_PATHS = ("src", "bentofile.yaml")


def input_hashes(raw_schema: dict, params: Path = paths.PARAMS) -> dict[str, str]:
    """The reproducible part: the raw data file and its md5 (as recorded by ingest), the params md5."""
    return {"data_path": raw_schema["source"], "data_md5": raw_schema["md5"], "params_md5": file_digest(params, "md5")}


def _git(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["git", *args], capture_output=True, text=True)


def git_state() -> dict[str, str]:
    """The commit the run started from, and whether the packaged code differs from it ("unknown" outside git)."""
    try:
        head = _git("rev-parse", "HEAD")
        status = _git("status", "--porcelain", "--", *CODE_PATHS)
    except OSError:  # no git program
        return {"git_commit": UNKNOWN, "git_code_modified": UNKNOWN}
    if head.returncode != 0 or status.returncode != 0:
        return {"git_commit": UNKNOWN, "git_code_modified": UNKNOWN}
    return {"git_commit": head.stdout.strip(), "git_code_modified": str(bool(status.stdout.strip())).lower()}


def lineage(raw_schema: dict, params: Path = paths.PARAMS) -> dict[str, str]:
    """Everything the packaged model carries: input hashes and the git state, as strings (BentoML labels)."""
    return {**input_hashes(raw_schema, params), **git_state()}
