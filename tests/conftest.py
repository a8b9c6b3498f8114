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
