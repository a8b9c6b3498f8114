"""What the serving and batch-prediction tests share: records of the built repository's holdout, GET."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

import pandas as pd


def holdout_records(repo: Path) -> tuple[list[dict], pd.DataFrame]:
    contract = json.loads((repo / "contracts/breast_biopsy.json").read_text())
    X = pd.read_parquet(repo / "data/clean/test.parquet").drop(columns=[contract["target"]])
    return json.loads(X.to_json(orient="records")), X  # NaN -> null, as a JSON client sends it


def get(url: str) -> tuple[int, str]:
    with urllib.request.urlopen(url, timeout=30) as response:
        return response.status, response.read().decode()
