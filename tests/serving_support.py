"""What the serving and batch-prediction tests share: one built copy of the repository per session."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

import pandas as pd
import pytest

from tests.support import built_copy

_BUILT: dict[str, Path] = {}


def built_repository(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The whole pipeline run once in a copy, shared by test_serving.py and test_batch_predict.py.

    Those tests only read the copy, except the config test that ends test_serving.py."""
    if "repo" not in _BUILT:
        _BUILT["repo"] = built_copy(tmp_path_factory.mktemp("served"))
    return _BUILT["repo"]


def holdout_records(repo: Path) -> tuple[list[dict], pd.DataFrame]:
    contract = json.loads((repo / "contracts/breast_biopsy.json").read_text())
    X = pd.read_parquet(repo / "data/clean/test.parquet").drop(columns=[contract["target"]])
    return json.loads(X.to_json(orient="records")), X  # NaN -> null, as a JSON client sends it


def get(url: str) -> tuple[int, str]:
    with urllib.request.urlopen(url, timeout=30) as response:
        return response.status, response.read().decode()
