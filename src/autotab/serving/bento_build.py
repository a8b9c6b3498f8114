"""Packaging: the evaluated Pipeline into the BentoML model store, a Bento, and an exported archive.

Model and Bento versions are content hashes, so the same model, contract and service code always
get the same tag. (The exported archive still records its build time, so its bytes differ.)
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from pathlib import Path
from typing import Any

BENTO_NAME = "autotab"
MODEL_NAME = "autotab-pipeline"


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


def save_model(pipeline: Any, version: str, metadata: dict[str, Any], labels: dict[str, str]) -> str:
    import bentoml
    from bentoml.exceptions import NotFound

    tag = f"{MODEL_NAME}:{version}"
    # Saved afresh every time: the version is a content hash, but the labels (lineage: the git commit)
    # may differ from the copy already in the store.
    with contextlib.suppress(NotFound):
        bentoml.models.delete(tag)
    # Model metadata only takes plain values (no None): structured parts go in as JSON text.
    bentoml.sklearn.save_model(
        tag, pipeline, labels=labels, metadata={key: json.dumps(value) for key, value in metadata.items()}
    )
    return tag


def build_bento(bentofile: Path, build_ctx: Path, version: str, args: dict[str, Any]) -> str:
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
    archive.unlink(missing_ok=True)
    bentoml.bentos.export_bento(tag, str(archive))
