"""Typed schemas for `params.yaml` (the composition of `conf/`), checked when a stage starts.

A wrong key or value is a one-line `UserError` naming the key and what is accepted, raised before
any work is done, so a typo never costs a ten-minute run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from autotab import paths
from autotab.errors import UserError

Task = Literal["binary", "multiclass", "regression"]


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DataConfig(Section):
    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    path: str
    format: Literal["auto", "csv", "parquet"] = "auto"
    delimiter: Literal["auto", ",", ";", "\t", "|"] = "auto"
    encoding: str = "auto"
    target: str
    task: Literal["auto", "binary", "multiclass", "regression"] = "auto"
    positive_label: str | None = None
    drop: list[str] = []
    group: str | None = None
    # random: a seeded (stratified or grouped) split and K-fold CV. time: the holdout is the latest
    # rows by `time_column` (null: the table's only date column) and the folds chain forward.
    split: Literal["random", "time"] = "random"
    time_column: str | None = None
    test_size: float = Field(gt=0, lt=1)
    seed: int = Field(ge=0)

    # Settings added after contracts were first written: at their defaults they are left out of the
    # contract's fingerprint, so an existing contract stays valid.
    LATER_DEFAULTS: ClassVar[dict[str, Any]] = {"split": "random", "time_column": None}

    @model_validator(mode="after")
    def _time_split(self) -> DataConfig:
        if self.split == "time" and self.group is not None:
            raise ValueError(
                f"split: time orders rows by time and group: {self.group} keeps each group together; "
                "choose one (group: null, or split: random)"
            )
        if self.split == "random" and self.time_column is not None:
            raise ValueError(f"time_column: {self.time_column} is used only with split: time")
        return self

    def fingerprinted(self) -> dict[str, Any]:
        """What of the data settings decides the cleaned data (not where the file is or its name)."""
        settings = self.model_dump(exclude={"path", "name"})
        return {k: v for k, v in settings.items() if k not in self.LATER_DEFAULTS or v != self.LATER_DEFAULTS[k]}


class CleanConfig(Section):
    missing_markers: list[str]
    drop_duplicates: bool = False
    numeric_min_share: float = Field(gt=0, le=1)
    case_fold: bool = True
    date_parts: list[Literal["year", "month", "day", "dayofweek", "epoch_days"]]
    drop_constant: bool = True
    id_unique_ratio: float | None = Field(gt=0, le=1)
    max_missing_ratio: float | None = Field(gt=0, le=1)
    free_text_unique_ratio: float | None = Field(gt=0, le=1)
    free_text_min_unique: int = Field(ge=2)
    free_text_min_words: float | None = Field(gt=0)
    max_classes: int = Field(ge=2)
    min_class_count: Annotated[int, Field(ge=2)] | Literal["auto"] = "auto"
    rare_classes: Literal["drop", "error"] = "drop"
    outliers: Literal["none", "clip", "isolation_forest"] = "none"
    clip_quantiles: tuple[float, float] = (0.01, 0.99)
    outlier_contamination: float = Field(gt=0, le=0.5)
    # A new data version's values outside the ranges its contract recorded: counted in the clean
    # report (report), or the run stops (fail). Not part of the contract's fingerprint.
    on_range_drift: Literal["report", "fail"] = "report"
    # Leakage checks (autotab.data.leakage): a kept column alone reaching leak_score (ROC AUC, or R²)
    # stops the run unless allow_leaks; a dropped id-like column whose skill over chance reaches
    # leak_signal_skill is reported with a suggestion. Not part of the contract's fingerprint.
    allow_leaks: bool = False
    leak_score: float = Field(default=0.99, gt=0.5, le=1)
    leak_signal_skill: float = Field(default=0.2, gt=0, le=1)

    # What only decides whether a run stops or what it reports: a change keeps the contract.
    REPORT_ONLY: ClassVar[set[str]] = {"on_range_drift", "allow_leaks", "leak_score", "leak_signal_skill"}

    @model_validator(mode="after")
    def _quantiles_in_order(self) -> CleanConfig:
        low, high = self.clip_quantiles
        if not 0 <= low < high <= 1:
            raise ValueError(f"clip_quantiles must be 0 <= low < high <= 1, got {list(self.clip_quantiles)}")
        return self


class FeaturesConfig(Section):
    numeric_imputer: Literal["median", "mean", "most_frequent", "constant", "knn", "iterative"]
    missing_indicator: bool
    numeric_transform: Literal["none", "quantile", "power"] = "none"
    scaler: Literal["standard", "robust", "minmax", "none"]
    categorical_imputer: Literal["most_frequent", "constant"]
    categorical_encoder: Literal["onehot", "ordinal", "target"] = "onehot"
    one_hot_min_frequency: float | None = Field(default=None, gt=0, lt=1)
    one_hot_max_categories: int | None = Field(default=None, ge=2)
    selection: Literal["none", "variance", "kbest", "l1"] = "none"
    variance_threshold: float = Field(default=0.0, ge=0)
    kbest_k: int | float = Field(default=0.5, gt=0)
    kbest_score: Literal["f_test", "mutual_info"] = "f_test"
    l1_C: float = Field(default=1.0, gt=0)
    l1_alpha: float = Field(default=0.01, gt=0)
    pca: int | float | None = Field(default=None, gt=0)
    max_expansion: float = Field(default=50, gt=1)
    max_columns: int | None = Field(default=500, ge=1)
    sure_screening: bool = True

    @model_validator(mode="after")
    def _fractions(self) -> FeaturesConfig:
        if isinstance(self.kbest_k, float) and self.kbest_k > 1:
            raise ValueError(f"kbest_k is a count (an integer) or a fraction in (0, 1], got {self.kbest_k}")
        if isinstance(self.pca, float) and self.pca >= 1:
            raise ValueError(f"pca is a number of components or a variance ratio below 1, got {self.pca}")
        return self


# The zoo's families whose library fits on a Dask cluster (`train.distributed_fit`).
DISTRIBUTABLE_FAMILIES = ("lightgbm", "xgboost")


class TrainConfig(Section):
    folds: int = Field(ge=2, le=20)
    metric: Literal[
        "auto", "roc_auc", "pr_auc", "log_loss", "brier", "accuracy", "balanced_accuracy", "f1_macro",
        "rmse", "mae", "r2",
    ]  # fmt: skip
    candidates: list[str] = Field(min_length=1)
    class_weight: Literal["balanced"] | None = None
    n_jobs: int = Field(ge=1)
    screen_rows: int | None = Field(default=2500, ge=100)
    screen_keep: float = Field(default=0.33, gt=0, le=1)
    # The final refit of a LightGBM or XGBoost model on the Dask cluster of `backend`
    # (`autotab.modeling.distributed_fit`).
    distributed_fit: bool = False


class BatchingConfig(Section):
    enabled: bool
    max_batch_size: int = Field(ge=2)  # BentoML refuses a batch of one
    max_latency_ms: int = Field(ge=1)


class ServeConfig(Section):
    host: str
    port: int = Field(ge=1, le=65535)
    workers: int = Field(ge=1)
    timeout_s: float = Field(gt=0)
    body_timeout_s: float = Field(gt=0)
    max_records: int = Field(ge=1)
    max_request_bytes: int = Field(ge=1024)
    out_of_range: Literal["accept", "flag", "reject"]
    # Records per worker behind autotab_input_psi; fewer than a hundred and sampling noise alone
    # passes the usual alert level.
    drift_window: int = Field(default=500, ge=100)
    access_log: bool
    batching: BatchingConfig


class PackageConfig(Section):
    """What is served (`autotab.modeling.final_fit`) and the quality gate before packaging
    (`autotab.reporting.quality_gate`)."""

    fit_rows: Literal["all", "train"] = "all"  # all: the evaluated recipe refit on the holdout rows too

    min_gain_se: float = Field(ge=0)  # out of fold: the gain over the trivial baseline, in standard errors
    min_skill: float = Field(ge=0, lt=1)  # on the holdout: the share of the gap to a perfect score closed
    allow_weak_model: bool  # true: package a model that fails the gate, saying so


class SearchDimension(Section):
    """One hyperparameter's range: `low`/`high` (ints give an int range) with `log`, or `choices`."""

    low: int | float | None = None
    high: int | float | None = None
    log: bool = False
    choices: list[Any] | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> SearchDimension:
        if self.choices is not None:
            if self.low is not None or self.high is not None:
                raise ValueError("give either low/high or choices, not both")
            if not self.choices:
                raise ValueError("choices must not be empty")
            return self
        if self.low is None or self.high is None:
            raise ValueError("give low and high, or choices")
        if not self.low < self.high:
            raise ValueError(f"low ({self.low}) must be below high ({self.high})")
        if self.log and self.low <= 0:
            raise ValueError("a log range needs low > 0")
        return self

    @property
    def is_int(self) -> bool:
        return isinstance(self.low, int) and isinstance(self.high, int)

    def contains(self, value: Any) -> bool:
        if self.choices is not None:
            return value in self.choices
        is_number = isinstance(value, int | float) and not isinstance(value, bool)
        return is_number and self.low <= value <= self.high


class TuneConfig(Section):
    n_trials: int = Field(ge=1)
    timeout_s: float | None = Field(default=None, gt=0)
    top_families: int = Field(ge=1)
    pruner: Literal["none", "median", "successive_halving"] = "median"
    storage: str | None = None
    ensemble: bool = True
    ensemble_rounds: int = Field(default=20, ge=1)
    ensemble_bags: int = Field(default=0, ge=0)
    recheck_repeats: int = Field(default=2, ge=0)
    min_gain_se: float = Field(default=2.0, ge=0)
    gain_resamples: int = Field(default=200, ge=2)
    calibrate: bool = True
    feature_space: dict[str, SearchDimension] = {}


class BackendConfig(Section):
    """Where tuning trials run (see `autotab.modeling.backends`)."""

    name: Literal["local", "dask_local", "dask"] = "local"
    parallelism: int = Field(default=1, ge=1)  # trials in flight (and local workers)
    # An existing scheduler (backend dask); the AUTOTAB_DASK_ADDRESS environment variable wins.
    # Not a tracked param of the tune stage: where trials run must not change what they find.
    address: str | None = None


class ModelConfig(Section):
    """A model family: its name, default hyperparameters and search space (one file, one truth).

    Hyperparameters sit at the top level of the `model` group (`-S model.max_depth=4`); they are
    checked against the scikit-learn estimator's own constraints when the task is known.
    """

    model_config = ConfigDict(extra="allow", frozen=True)

    name: str
    search_space: dict[str, SearchDimension] = {}
    # Points of the search space known to do well across many tables (each file cites its source):
    # tune's first trials after the defaults, before the sampler's own.
    portfolio: list[dict[str, Any]] = []

    @property
    def hyperparameters(self) -> dict[str, Any]:
        return dict(self.model_extra or {})

    @model_validator(mode="after")
    def _portfolio_in_space(self) -> ModelConfig:
        for index, point in enumerate(self.portfolio):
            for key, value in point.items():
                if key not in self.search_space:
                    raise ValueError(f"portfolio[{index}].{key}: not in search_space ({', '.join(self.search_space)})")
                if not self.search_space[key].contains(value):
                    raise ValueError(f"portfolio[{index}].{key}: {value!r} is outside search_space.{key}")
        return self


class Config(Section):
    """All of params.yaml. Every stage validates all of it, so a typo anywhere fails the first stage
    that runs instead of being silently ignored by stages that do not read that section."""

    data: DataConfig
    clean: CleanConfig
    features: FeaturesConfig
    model: ModelConfig
    train: TrainConfig
    tune: TuneConfig
    backend: BackendConfig = BackendConfig()
    serve: ServeConfig
    package: PackageConfig
    zoo: dict[str, ModelConfig]
    # Seconds for train and tune together; None: no time limit, a deterministic run.
    budget_s: float | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _models_exist(self) -> Config:
        for key, family in self.zoo.items():
            if family.name != key:
                raise ValueError(f"zoo.{key} holds the config of {family.name!r}")
        unknown = [name for name in self.train.candidates if name not in self.zoo]
        if unknown:
            raise ValueError(f"train.candidates: not in the zoo: {', '.join(unknown)}; zoo: {', '.join(self.zoo)}")
        for key, dimension in self.tune.feature_space.items():
            if key not in FeaturesConfig.model_fields:
                raise ValueError(
                    f"tune.feature_space.{key}: not a features key; accepted: {', '.join(FeaturesConfig.model_fields)}"
                )
            for value in dimension.choices or [dimension.low, dimension.high]:
                try:
                    FeaturesConfig.model_validate({**self.features.model_dump(), key: value})
                except ValidationError as error:
                    raise ValueError(f"tune.feature_space.{key}: {value!r} is not a valid value: "
                                     f"{error.errors()[0]['msg']}") from None  # fmt: skip
        if self.model.name not in ("auto", *self.zoo):
            raise ValueError(f"model.name: unknown model {self.model.name!r}; accepted: auto, {', '.join(self.zoo)}")
        if self.train.distributed_fit:
            self._check_distributed_fit()
        return self

    def _check_distributed_fit(self) -> None:
        families = " or ".join(DISTRIBUTABLE_FAMILIES)
        if self.backend.name == "local":
            raise ValueError(
                "train.distributed_fit: true needs a Dask cluster: add -S backend=dask_local (a private one on "
                "this machine) or -S backend=dask (AUTOTAB_DASK_ADDRESS=tcp://HOST:8786)"
            )
        if self.model.name != "auto" and self.model.name not in DISTRIBUTABLE_FAMILIES:
            raise ValueError(
                f"train.distributed_fit: model={self.model.name} has no Dask interface; use model={families}, "
                "or model=auto, or set train.distributed_fit=false"
            )
        if self.model.name == "auto" and not set(self.train.candidates) & set(DISTRIBUTABLE_FAMILIES):
            raise ValueError(f"train.distributed_fit: train.candidates has neither {families.replace(' or ', ' nor ')}")

    def family(self, name: str) -> ModelConfig:
        """A family's config: the pinned `model` group if it is that family, else its zoo entry."""
        return self.model if self.model.name == name else self.zoo[name]


def _schema_at(location: tuple) -> type[BaseModel] | None:
    schema: type[BaseModel] = Config
    for part in location:
        field = schema.model_fields.get(str(part))
        annotation = getattr(field, "annotation", None)
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return None
        schema = annotation
    return schema


def _describe(error: dict[str, Any]) -> str:
    location = ".".join(str(part) for part in error["loc"]) or "params.yaml"
    if error["type"] == "extra_forbidden":
        parent = _schema_at(error["loc"][:-1])
        accepted = ", ".join(parent.model_fields) if parent else "see conf/"
        return f"{location}: unknown key; accepted keys: {accepted}"
    if error["type"] == "missing":
        return f"{location}: required key is missing"
    message = error["msg"].removeprefix("Value error, ")
    if not error["loc"]:  # a check across sections names its own keys
        return message
    return f"{location}: {message} (got {error['input']!r})"


def parse_config(params: Any) -> Config:
    try:
        return Config.model_validate(params)
    except ValidationError as error:
        details = "; ".join(_describe(e) for e in error.errors())
        raise UserError(f"params.yaml: {details}") from None


def read_params(path: Path = paths.PARAMS) -> dict[str, Any]:
    try:
        params = yaml.safe_load(Path(path).read_text())
    except FileNotFoundError:
        if not Path(path).resolve().with_name("dvc.yaml").is_file():
            raise UserError(
                f"{path} not found: autotab runs in the root of its repository (where dvc.yaml is); cd there first"
            ) from None
        raise UserError(f"{path} not found; run `make params` to compose it from conf/") from None
    except yaml.YAMLError as error:
        raise UserError(f"{path}: not valid YAML: {str(error).splitlines()[0]}") from None
    if not isinstance(params, dict):
        raise UserError(f"{path}: expected a mapping of sections, got {type(params).__name__}")
    return params


def load_config(path: Path = paths.PARAMS) -> Config:
    """Read and validate the whole of params.yaml."""
    return parse_config(read_params(path))
