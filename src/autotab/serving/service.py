"""The BentoML service: POST /predict runs the served Pipeline (the refit stage's), raw cleaning included; POST
/explain also says why, by each input column's contribution.

The request schema is built at import time from the data contract stored with the model, so it is
derived from the training data, never written twice. The model tag and the `serve` config are build
arguments baked into the Bento by the package stage: `name:latest` would resolve against whatever
store serves the Bento, not the model packed with it.
"""

from __future__ import annotations

import json
import logging
from typing import Annotated, Any

import bentoml
from bentoml.exceptions import BentoMLException, InvalidArgument
from bentoml.validators import ContentType
from pydantic import ValidationError

with bentoml.importing():
    import numpy as np
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    from autotab.config import ServeConfig
    from autotab.data.contract import DataContract
    from autotab.explaining.explainer import Explainer
    from autotab.serving.drift_window import DriftWindow
    from autotab.serving.gate import PredictGate, serving_metrics
    from autotab.serving.predictor import Predictor, labelled_answers
    from autotab.serving.request_schema import (
        counts_per_field,
        flag_out_of_range,
        outside_training_range,
        ranged_fields,
        record_model,
        records_frame,
        request_model,
        unseen_categories,
    )

# Declared, so BentoML does not rebuild the answers' JSON schema on every response to find it out.
Answers = Annotated[list[dict[str, Any]], ContentType("application/json")]

ARGS = bentoml.use_arguments()
MODEL_TAG: str = getattr(ARGS, "model_tag", "autotab-pipeline:latest")
SERVE = ServeConfig.model_validate_json(ARGS.serve)

_model_ref = bentoml.models.BentoModel(MODEL_TAG)
_stored_model = bentoml.models.get(MODEL_TAG)
_model_info = _stored_model.info


def _decoded(value: Any) -> Any:
    """packaging.save_model stores structured metadata as JSON text; plain values pass through."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


MODEL_METADATA: dict[str, Any] = {key: _decoded(value) for key, value in _model_info.metadata.items()}
MODEL_LABELS: dict[str, str] = dict(_model_info.labels)
CONTRACT = DataContract.from_json(_stored_model.custom_objects["contract"], f"the model {MODEL_TAG}'s data contract")
CONTRACT_JSON = CONTRACT.to_json()  # what GET /metadata shows of it: made once (10 ms for 2,000 fields)
FIELDS = CONTRACT.input
RANGED = ranged_fields(FIELDS)


def _count_out_of_range(counts: dict[str, int]) -> None:
    for field, count in counts.items():
        serving_metrics().out_of_range.labels(field=field).inc(count)


Record = record_model(FIELDS)
PredictRequest = request_model(
    Record,
    SERVE.max_records,
    FIELDS,
    CONTRACT.missing_markers,
    refuse_out_of_range=_count_out_of_range if SERVE.out_of_range == "reject" else None,
)
HAS_CATEGORIES = any(field.used and field.categories for field in FIELDS)
FLAG_RANGES = bool(RANGED) and SERVE.out_of_range != "reject"  # rejected ones never reach predict


class _OneLineClientErrors(logging.Filter):
    """BentoML logs a full traceback for every 400; a client's mistake deserves one line."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, ValidationError):
            why = "; ".join(".".join(map(str, e["loc"])) + ": " + e["type"] for e in error.errors())
        elif isinstance(error, BentoMLException) and error.error_code.value < 500:
            why = str(error)
        else:
            return True
        record.msg = f"{record.msg} -> 400: %s"
        # The field names come from the client: escaped, a key holding a line break cannot forge a log line.
        record.args = (*(record.args or ()), why.encode("unicode_escape").decode("ascii"))
        record.exc_info = record.exc_text = None
        record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True


logging.getLogger("bentoml._internal.server.http_app").addFilter(_OneLineClientErrors())


async def metadata(_: Request) -> JSONResponse:
    """GET /metadata: what is being served, where it came from, and what it accepts."""
    return JSONResponse(
        {
            "bento": {"name": bentoml.server_context.bento_name, "version": bentoml.server_context.bento_version},
            "model": {"name": _model_info.tag.name, "version": _model_info.tag.version, "tag": str(_model_info.tag)},
            "task": CONTRACT.task,
            "target": CONTRACT.target,
            "classes": CONTRACT_JSON.get("classes"),
            "data_hash": MODEL_METADATA.get("data_hash"),
            "holdout_data_hash": MODEL_METADATA.get("holdout_data_hash"),
            "params": MODEL_METADATA.get("params"),
            "served": MODEL_METADATA.get("served"),
            "holdout_metrics": MODEL_METADATA.get("holdout_metrics"),
            "contract": CONTRACT_JSON,
            "feature_schema": {
                "fields": CONTRACT_JSON["input"],
                "missing_markers": list(CONTRACT.missing_markers),
            },
            "limits": {
                "max_records": SERVE.max_records,
                "max_request_bytes": SERVE.max_request_bytes,
                "out_of_range": SERVE.out_of_range,
            },
            # Everything packaging stored with the model, as stored, so new lineage shows up by itself.
            "model_metadata": MODEL_METADATA,
            "model_labels": MODEL_LABELS,
        }
    )


metadata_app = Starlette(routes=[Route("/metadata", metadata, methods=["GET"])])


@bentoml.asgi_app(metadata_app, path="/")
@bentoml.service(
    http={"host": SERVE.host, "port": SERVE.port},
    workers=SERVE.workers,
    traffic={"timeout": SERVE.timeout_s},
    logging={"access": {"enabled": SERVE.access_log}},
)
class AutotabService:
    model = _model_ref  # a class attribute, so the model is packed into the Bento

    def __init__(self) -> None:
        self.pipeline = bentoml.sklearn.load_model(self.model)
        self.scorer = Predictor(self.pipeline)
        self.task = CONTRACT.task
        self.metrics = serving_metrics()  # in the worker, where Prometheus' multiprocess directory is set
        self.drift = DriftWindow(CONTRACT.cleaned, SERVE.drift_window)
        explanation = _stored_model.custom_objects["explanation"]
        self.explainer = Explainer(self.pipeline, explanation["background"], explanation["seed"])
        # Explained once now: the first request does not pay for imports (a forest's tree SHAP library).
        self.explainer.explain(explanation["background"].iloc[:1])

    # With batching on, concurrent requests' records are concatenated into one Pipeline call and the
    # answers split back per request; each request was fully validated on its own before that.
    @bentoml.api(
        input_spec=PredictRequest,
        batchable=SERVE.batching.enabled,
        batch_dim=0,
        max_batch_size=SERVE.batching.max_batch_size,
        max_latency_ms=SERVE.batching.max_latency_ms,
    )
    def predict(self, records: list[Record]) -> Answers:  # type: ignore[valid-type]
        """Predict for raw records: the label and each class's probability (or the value)."""
        frame = records_frame(records, FIELDS)
        outside = outside_training_range(frame, RANGED, CONTRACT.missing_markers) if FLAG_RANGES else None
        if outside is not None and outside.any():
            _count_out_of_range(counts_per_field(outside, RANGED))
        try:
            cleaned = self.scorer.clean(frame)
            self._watch_drift(cleaned)
            if HAS_CATEGORIES:
                for field, count in unseen_categories(cleaned, FIELDS, self.scorer.cleaner.names_).items():
                    self.metrics.unseen_categories.labels(field=field).inc(count)
            answers, labels = self._predictions(cleaned)
            for label, count in zip(*np.unique(labels.astype(str), return_counts=True), strict=True):
                self.metrics.predictions.labels(label=label).inc(int(count))
        except ValueError as error:  # what the schema let through but the model refuses
            raise InvalidArgument(str(error)) from error
        flag_out_of_range(answers, outside, RANGED, SERVE.out_of_range)
        return answers

    @bentoml.api(input_spec=PredictRequest)
    def explain(self, records: list[Record]) -> Answers:  # type: ignore[valid-type]
        """Predict for raw records, and say why: each input column's contribution to the model's
        output (`output`: log-odds, softmax score or probability of `explained_class`, or the
        predicted value); `base_value` plus the contributions is that output. Not counted in the
        prediction and drift metrics, which watch /predict's traffic."""
        frame = records_frame(records, FIELDS)
        outside = outside_training_range(frame, RANGED, CONTRACT.missing_markers) if FLAG_RANGES else None
        try:
            cleaned = self.scorer.clean(frame)
            answers, labels = self._predictions(cleaned)
            explanation = self.explainer.explain_cleaned(cleaned, labels if self.task == "multiclass" else None)
        except ValueError as error:  # what the schema let through but the model refuses
            raise InvalidArgument(str(error)) from error
        for answer, why in zip(answers, explanation.records(), strict=True):
            answer["explanation"] = why
        flag_out_of_range(answers, outside, RANGED, SERVE.out_of_range)
        return answers

    def _predictions(self, cleaned) -> tuple[list[dict[str, Any]], np.ndarray]:
        """The answers for cleaned records, and their labels ("value" for a regression)."""
        if self.task == "regression":
            values = self.scorer.predict(cleaned)
            return [{"prediction": value} for value in values.astype(float).tolist()], np.full(len(values), "value")
        labels, proba = self.scorer.classify(cleaned)  # a binary model's tuned threshold applies
        return labelled_answers(labels, proba, self.pipeline.classes_), labels

    def _watch_drift(self, cleaned) -> None:
        psi = self.drift.add(cleaned)
        self.metrics.drift_window_records.set(self.drift.filled)
        for field, value in (psi or {}).items():
            self.metrics.input_psi.labels(field=field).set(value)


AutotabService.add_asgi_middleware(
    PredictGate, max_request_bytes=SERVE.max_request_bytes, body_timeout_s=SERVE.body_timeout_s
)
