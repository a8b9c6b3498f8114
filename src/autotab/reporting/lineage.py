"""Lineage: which data, params and code produced a model, so a served model can be traced to its origin.

Every field is a hash of the run's inputs: the same inputs give the same values on any machine and in
any clone, so the packaged model (and its exported archive) reproduces byte for byte. A git commit is
not among them: the run happens before its outputs are committed, so the commit it would name is not
the one that records it. The commit that does is found from the archive's own hash, which `dvc.lock`
records: `git log -S <md5> -- dvc.lock`.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from autotab import paths
from autotab.tables import file_digest

# The code that goes into the Bento: the package's sources and the Bento's build file.
PACKAGE_SOURCES = Path("src/autotab")
BENTOFILE = Path("bentofile.yaml")


def code_digest(sources: Path = PACKAGE_SOURCES, bentofile: Path = BENTOFILE) -> str:
    """The sha256 of the packaged code: each source file's path (relative) and bytes, in path order,
    then the Bento's build file."""
    digest = hashlib.sha256()
    for path in sorted(Path(sources).rglob("*.py")):
        digest.update(path.relative_to(sources).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    digest.update(Path(bentofile).read_bytes())
    return digest.hexdigest()


def input_hashes(raw_schema: dict, params: Path = paths.PARAMS) -> dict[str, str]:
    """The data and params part: the raw data file and its md5 (as recorded by ingest), the params md5."""
    return {"data_path": raw_schema["source"], "data_md5": raw_schema["md5"], "params_md5": file_digest(params, "md5")}


def lineage(raw_schema: dict, params: Path = paths.PARAMS) -> dict[str, str]:
    """Everything the packaged model carries, as strings (BentoML labels): the input hashes and the code's."""
    return {**input_hashes(raw_schema, params), "code_sha256": code_digest()}
