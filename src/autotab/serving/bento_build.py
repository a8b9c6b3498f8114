"""Packaging: the served Pipeline into the BentoML model store, a Bento, and an exported archive.

Model and Bento versions are content hashes, so the same model, contract and service code always
get the same tag; and the exported archive is rewritten so that they also give the same bytes
(`reproducible_archive`): a fresh clone's run reproduces the `dvc.lock` it was cloned with.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import io
import json
import os
import re
import shutil
import tarfile
import tempfile
from pathlib import Path
from typing import Any

from autotab.errors import UserError
from autotab.tables import atomic_path

BENTO_NAME = "autotab"
MODEL_NAME = "autotab-pipeline"
# The file `bentoml.sklearn.save_model` writes in a model's folder and `load_model` reads.
SKLEARN_MODEL_FILE = "saved_model.pkl"
# Every timestamp inside the exported archive: the build's clock would make each archive unique, and
# nothing of the inputs has a time that a fresh clone shares (file times are checkout times). Any
# fixed value does: the version, a content hash, is what identifies a Bento.
ARCHIVE_TIME = "2000-01-01T00:00:00+00:00"
ARCHIVE_EPOCH = 946684800  # ARCHIVE_TIME in seconds
# bento.yaml and each model.yaml record when they were created, as a YAML string.
CREATION_TIME = re.compile(rb"^(\s*)creation_time: .*$", re.MULTILINE)


def use_store(home: Path) -> None:
    """Point BentoML at a store; must run before bentoml is imported, with an absolute path."""
    os.environ["BENTOML_HOME"] = str(Path(home).resolve())
    os.environ.setdefault("BENTOML_DO_NOT_TRACK", "true")


def content_version(*parts: bytes) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(hashlib.sha256(part).digest())
    return digest.hexdigest()[:16]


def source_bytes(root: Path) -> bytes:
    """Every Python file the Bento carries, in a stable order."""
    return b"".join(p.read_bytes() for p in sorted(Path(root).rglob("*.py")))


def save_model(
    model_file: Path,
    version: str,
    metadata: dict[str, Any],
    labels: dict[str, str],
    custom_objects: dict[str, Any] | None = None,
) -> str:
    """Save the Pipeline pickled in `model_file` (joblib) in the model store, as that file byte for
    byte; `custom_objects` are pickled beside it (the data contract, the rows its explanations draw on)."""
    import bentoml
    import joblib
    from bentoml.exceptions import NotFound

    tag = f"{MODEL_NAME}:{version}"
    # Saved afresh every time: the version is a content hash of what is served, but the labels
    # (lineage: the md5 of the whole params.yaml) may differ from the copy already in the store.
    with contextlib.suppress(NotFound):
        bentoml.models.delete(tag)
    # Model metadata only takes plain values (no None): structured parts go in as JSON text.
    bentoml.sklearn.save_model(
        tag,
        joblib.load(model_file),
        labels=labels,
        metadata={key: json.dumps(value) for key, value in metadata.items()},
        custom_objects=custom_objects,
    )
    # BentoML pickles the object again, and a loaded Pipeline does not pickle to the same bytes twice:
    # a scikit-learn tree's node records carry padding bytes that loading leaves uninitialised. The
    # store keeps the served file itself (what `bentoml.sklearn.load_model` reads, with joblib), so
    # that the Bento reproduces byte for byte (dvc.lock) and is the very model the run served.
    shutil.copyfile(model_file, bentoml.models.get(tag).path_of(SKLEARN_MODEL_FILE))
    return tag


def require_uv() -> None:
    """`bentoml build` runs uv, and pip-installs it from the network when it is missing: say so first."""
    if shutil.which("uv") is None and importlib.util.find_spec("uv") is None:
        raise UserError(
            "`bentoml build` needs uv, which is not installed: `pip install 'autotab[bento]'` (make setup does)"
        )


def build_bento(bentofile: Path, build_ctx: Path, version: str, args: dict[str, Any]) -> str:
    require_uv()
    import bentoml
    from bentoml.exceptions import NotFound

    tag = f"{BENTO_NAME}:{version}"
    with contextlib.suppress(NotFound):
        bentoml.bentos.delete(tag)
    bento = bentoml.bentos.build_bentofile(
        str(Path(bentofile).resolve()),
        build_ctx=str(Path(build_ctx).resolve()),
        version=version,
        args={key: str(value) for key, value in args.items()},
    )
    return str(bento.tag)


def export_bento(tag: str, archive: Path) -> None:
    import bentoml

    archive = Path(archive).resolve()  # a relative path would be written under /
    with tempfile.TemporaryDirectory(dir=archive.parent) as scratch:
        # Exported as a plain tar: `reproducible_archive` compresses it, once.
        exported = Path(scratch) / f"{archive.stem}.tar"
        bentoml.bentos.export_bento(tag, str(exported), output_format="tar")
        reproducible_archive(exported, archive)


def reproducible_archive(exported: Path, archive: Path) -> None:
    """Rewrite an archive BentoML exported so that the same Bento gives the same bytes: members in
    name order, each with a fixed time, owner and mode (from the umask, the user, the clock before),
    and the creation times inside bento.yaml and every model.yaml set to `ARCHIVE_TIME`. `bentoml
    import` reads it as it read the original."""
    with tarfile.open(exported, "r:*") as source:
        members = sorted(source.getmembers(), key=lambda member: member.name)
        contents = {m.name: source.extractfile(m).read() for m in members if m.isfile()}
    with atomic_path(archive) as tmp, tarfile.open(tmp, "w:xz", format=tarfile.GNU_FORMAT) as target:
        for member in members:
            data = contents.get(member.name)
            if data is not None and Path(member.name).name in ("bento.yaml", "model.yaml"):
                data = CREATION_TIME.sub(rb"\1creation_time: '" + ARCHIVE_TIME.encode() + b"'", data)
            executable = member.isdir() or member.mode & 0o100
            member.mode = 0o755 if executable else 0o644
            member.mtime, member.uid, member.gid, member.uname, member.gname = ARCHIVE_EPOCH, 0, 0, "", ""
            if data is None:
                target.addfile(member)
            else:
                member.size = len(data)
                target.addfile(member, io.BytesIO(data))
