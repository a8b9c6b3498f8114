from pathlib import Path

import numpy as np
import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def messy_frame() -> pd.DataFrame:
    """A small raw table as a user might bring it: markers, numeric text, an id, a constant."""
    rng = np.random.default_rng(0)
    n = 60
    frame = pd.DataFrame(
        {
            "patient_id": [f"P{i:04d}" for i in range(n)],
            "age": rng.integers(20, 80, n),
            "dose": [f" {v:.1f} " for v in rng.normal(5, 1, n)],
            "smoker": rng.choice(["yes", "no"], n),
            "colour": rng.choice(["red", "green", "blue"], n),
            "site": ["north"] * n,
            "outcome": rng.choice(["good", "bad"], n),
        }
    )
    frame.loc[[3, 7], "dose"] = "?"
    frame.loc[[5], "colour"] = "NA"
    return frame


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The files with end-to-end (`slow`) tests first, each file's tests in their own order. Over
    several workers (`make test`: a file per worker at a time, in this order), the files that run
    the pipeline for minutes start first and the unit-test files fill in after them, instead of a
    long file starting last while the other workers have nothing left to do."""
    slow_files = {item.path for item in items if item.get_closest_marker("slow")}
    items.sort(key=lambda item: item.path not in slow_files)  # stable: the order within a file is kept
