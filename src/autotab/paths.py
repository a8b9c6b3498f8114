"""Where each stage reads and writes: the one place that knows the repository layout.

Paths are relative to the repository root, which is the working directory of every DVC stage.
"""

from pathlib import Path

CONTRACTS_DIR = Path("contracts")


def contract(data_name: str) -> Path:
    """The data contract of a dataset: kept between runs, so a new version of the data is checked."""
    return CONTRACTS_DIR / f"{data_name}.json"


PARAMS = Path("params.yaml")

RAW_TABLE = Path("data/interim/raw.parquet")
RAW_SCHEMA = Path("data/interim/raw_schema.json")

CLEAN_TRAIN = Path("data/clean/train.parquet")
CLEAN_TEST = Path("data/clean/test.parquet")
CLEAN_REPORT = Path("reports/clean.json")  # counts: a DVC metric
CLEAN_COLUMNS = Path("reports/clean_columns.json")  # what cleaning did to each column (not a metric: wide)
LEAKAGE_REPORT = Path("reports/leakage.json")

CLEANER_RECIPE = Path("models/cleaner.joblib")
PREPROCESSOR_RECIPE = Path("models/preprocessor.joblib")
FEATURES_TRAIN = Path("data/features/train.parquet")
FEATURES_TEST = Path("data/features/test.parquet")
FEATURES_REPORT = Path("reports/features.json")

CV_METRICS = Path("reports/cv.json")
LEADERBOARD = Path("reports/leaderboard.csv")
LEADERBOARD_MD = Path("reports/leaderboard.md")
OOF_PREDICTIONS = Path("models/oof.parquet")

MODEL = Path("models/model.joblib")
TUNING_DIR = Path("reports/tuning")
BEST_PARAMS = TUNING_DIR / "best_params.json"
TUNING_SUMMARY = TUNING_DIR / "summary.json"
TUNING_HISTORY = TUNING_DIR / "history.csv"
TUNING_IMPORTANCE = TUNING_DIR / "importance.csv"
TRIALS = TUNING_DIR / "trials.csv"

METRICS = Path("reports/metrics.json")
# Written by the refit stage: what is served (the evaluated recipe refit on every row, by default).
SERVED_MODEL = Path("models/served.joblib")
SERVED_REPORT = Path("reports/served.json")
# Written by `autotab drift` on new data, not by the pipeline (git-ignored).
DRIFT_REPORT = Path("reports/drift.json")
DRIFT_PAGE = Path("reports/drift.html")
# Written by `autotab deploy k8s` for the packaged Bento (git-ignored: it names one build).
K8S_MANIFESTS = Path("deploy/k8s/autotab.yaml")
MODEL_CARD = Path("reports/model_card.md")
PLOTS_DIR = Path("reports/plots")

BENTO_ARCHIVE = Path("models/autotab.bento")
BENTO_INFO = Path("models/bento.json")
BENTOML_HOME = Path(".bentoml")
