"""`autotab predict INPUT OUTPUT` and `autotab explain` on real files, with the Pipeline the built copy fitted."""

from __future__ import annotations

from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest

from tests.support import built_repository, run

pytestmark = pytest.mark.slow

RAW = "data/raw/breast_biopsy.csv"


@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> Path:
    return built_repository(tmp_path_factory)


def raw_rows(repo: Path) -> pd.DataFrame:
    """The raw file as `ingest` reads it (text kept as text, only empty cells missing)."""
    return pd.read_csv(repo / RAW, keep_default_na=False, na_values=[""])


def test_a_good_file_is_scored_in_chunks_like_the_pipeline_scores_it(repo, tmp_path):
    output = tmp_path / "scores.parquet"
    # The raw file itself, target column included (ignored), read 100 rows at a time.
    result = run(["autotab", "predict", RAW, str(output), "--chunk-rows", "100"], repo)
    raw = raw_rows(repo)
    assert f"{len(raw)} rows read, {len(raw)} predicted" in result.stdout and "0 rejected" in result.stdout
    scores = pd.read_parquet(output)
    pipeline = joblib.load(repo / "models/served.joblib")
    X = raw.drop(columns=["diagnosis"])
    assert scores["row"].tolist() == list(range(len(raw)))
    assert scores["sample_id"].tolist() == raw["sample_id"].astype(str).tolist()  # data.group is the id
    assert scores["label"].tolist() == list(pipeline.predict(X))
    for position, label in enumerate(pipeline.classes_):
        np.testing.assert_allclose(scores[f"proba_{label}"], pipeline.predict_proba(X)[:, position], atol=1e-12)
    rejected = pd.read_parquet(tmp_path / "scores.rejected.parquet")
    assert rejected.empty and list(rejected.columns) == ["row", "sample_id", "reason"]


def test_explain_streams_each_rows_prediction_and_contributions_the_service_would_give(repo, tmp_path):
    """The same predictions as `autotab predict`, then the explained class, the base value and a
    contribution per used raw column, adding up to the served probability of the positive class;
    the background is the training sample the Bento carries, so the numbers are the service's."""
    # The file's first 150 rows (the built-in model is an ensemble, explained by sampling: 699 rows took 30 s).
    source = tmp_path / "raw.csv"
    source.write_text("".join((repo / RAW).read_text().splitlines(keepends=True)[:151]))
    output = tmp_path / "why.csv"
    result = run(["autotab", "explain", str(source), str(output), "--chunk-rows", "40"], repo)
    raw = pd.read_csv(source, keep_default_na=False, na_values=[""])
    assert len(raw) == 150 and "150 rows read, 150 explained" in result.stdout
    explained = pd.read_csv(output)
    run(["autotab", "predict", str(source), str(tmp_path / "scores.csv")], repo)
    scores = pd.read_csv(tmp_path / "scores.csv")
    pd.testing.assert_frame_equal(explained[scores.columns], scores)
    contributions = explained.filter(like="contribution_")
    used = [c for c in raw.columns if c not in ("diagnosis", "sample_id")]  # the id is dropped
    assert list(contributions.columns) == [f"contribution_{c}" for c in used]
    assert set(explained["explained_class"]) == {"malignant"}
    total = explained["base_value"] + contributions.sum(axis=1)
    np.testing.assert_allclose(total, explained["proba_malignant"], atol=1e-6)
    # The chunking changes nothing: the permutations and the background are fixed.
    again = tmp_path / "again.csv"
    run(["autotab", "explain", str(source), str(again), "--chunk-rows", "7000"], repo)
    pd.testing.assert_frame_equal(pd.read_csv(again), explained)


def test_bad_rows_go_to_the_rejected_file_with_the_reason(repo, tmp_path):
    raw = raw_rows(repo).head(50).astype(object)
    raw.loc[3, "mitoses"] = "many"
    raw.loc[7, "clump_thickness"] = None
    raw.loc[11, "bare_nuclei"] = "1,5x"
    raw.loc[12, "bland_chromatin"] = 2.5
    source = tmp_path / "batch.csv"
    raw.to_csv(source, index=False)
    output, rejected = tmp_path / "out.csv", tmp_path / "refused.csv"
    result = run(["autotab", "predict", str(source), str(output), "--rejected", str(rejected)], repo)
    assert "50 rows read, 46 predicted" in result.stdout and "4 rejected" in result.stdout
    refused = pd.read_csv(rejected).set_index("row")["reason"]
    assert sorted(refused.index) == [3, 7, 11, 12]
    for row, field in ((3, "mitoses"), (7, "clump_thickness"), (11, "bare_nuclei"), (12, "bland_chromatin")):
        assert field in refused[row], refused[row]
    scored = pd.read_csv(output)
    assert len(scored) == 46 and not set(scored["row"]) & {3, 7, 11, 12}


def test_a_file_missing_a_column_fails_with_one_line_and_writes_nothing(repo, tmp_path):
    source = tmp_path / "no_mitoses.csv"
    raw_rows(repo).drop(columns=["mitoses"]).to_csv(source, index=False)
    output = tmp_path / "out.csv"
    result = run(["autotab", "predict", str(source), str(output)], repo, check=False)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "mitoses" in lines[0] and str(source) in lines[0], result.stderr
    assert list(tmp_path.iterdir()) == [source]  # neither output nor a temporary file is left


def test_an_input_named_like_the_default_rejected_file_is_refused_naming_what_the_user_typed(repo, tmp_path):
    """`x.rejected.csv x.csv`: the default file of rejected rows for OUTPUT would overwrite INPUT. The
    error names that default, not a `--rejected` option the user never passed; nothing is written."""
    source = tmp_path / "scores.rejected.csv"
    raw_rows(repo).head(5).to_csv(source, index=False)
    before = source.read_bytes()
    result = run(["autotab", "predict", str(source), str(tmp_path / "scores.csv")], repo, check=False)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert "INPUT and the rejected rows' file (default for OUTPUT) are the same file" in line, line
    assert "--rejected" not in line
    assert source.read_bytes() == before and list(tmp_path.iterdir()) == [source]
