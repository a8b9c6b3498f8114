"""`predict_file`'s messages on a generated model (the real files and model are in test_batch_predict)."""

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

from autotab.data.contract import build_contract
from autotab.errors import UserError
from autotab.estimators.table_cleaner import TableCleaner
from autotab.serving.batch_predict import predict_file

TARGET = {"target": "y", "task": "binary", "task_reason": "2 classes", "classes": ["0", "1"], "positive_label": "1"}


def test_a_wide_table_missing_many_columns_names_the_first_few_and_counts_the_rest(tmp_path):
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({f"c{i}": rng.normal(size=40) for i in range(30)})
    cleaner = TableCleaner().fit(frame)
    model = Pipeline([("clean", cleaner), ("model", LogisticRegression())]).fit(frame, np.arange(40) % 2)
    contract = build_contract(cleaner, cleaner.transform(frame), TARGET, "f")
    source = tmp_path / "two_columns.csv"
    frame[["c0", "c1"]].to_csv(source, index=False)
    with pytest.raises(UserError) as error:
        predict_file(source, tmp_path / "out.csv", tmp_path / "out.rejected.csv", model, contract, None)
    message = str(error.value)
    assert "28 column(s) the model needs are missing: c2, c3," in message and message.endswith("c11 and 18 more")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["two_columns.csv"]  # nothing written
