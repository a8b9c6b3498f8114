"""The BentoML service: POST /predict runs the evaluated Pipeline, raw cleaning included.

The request schema is built at import time from the data contract stored with the model, so it is
derived from the training data, never written twice. The model tag is pinned by a build argument:
`name:latest` would resolve against whatever store serves the Bento, not the model packed with it.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import bentoml
from bentoml.exceptions import BentoMLException, InvalidArgument
from pydantic import ValidationError

with bentoml.importing():
    import numpy as np

    from autotab.request_schema import (
        raise_for,
        record_model,
        records_frame,
        request_model,
        unreadable_text,
    )

ARGS = bentoml.use_arguments()
MODEL_TAG: str = getattr(ARGS, "model_tag", "autotab-pipeline:latest")
MAX_RECORDS = int(getattr(ARGS, "max_records", 1000))
HOST: str = getattr(ARGS, "host", "127.0.0.1")
PORT = int(getattr(ARGS, "port", 3000))

_model_ref = bentoml.models.BentoModel(MODEL_TAG)
_metadata = {k: json.loads(v) for k, v in bentoml.models.get(MODEL_TAG).info.metadata.items()}
CONTRACT: dict[str, Any] = _metadata["contract"]
Record = record_model(CONTRACT["input"])
PredictRequest = request_model(Record, MAX_RECORDS)
FIELDS: list[dict[str, Any]] = CONTRACT["input"]
MARKERS: list[str] = CONTRACT["missing_markers"]


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
        record.args = (*(record.args or ()), why)
        record.exc_info = record.exc_text = None
        record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True


logging.getLogger("bentoml._internal.server.http_app").addFilter(_OneLineClientErrors())


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


class JsonBodiesOnly:
    """ASGI middleware: POST /predict takes JSON only (BentoML would try other bodies as forms)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["method"] == "POST" and scope["path"] == "/predict":
            headers = dict(scope["headers"])
            content_type = headers.get(b"content-type", b"").split(b";")[0].strip().lower()
            if content_type != b"application/json":
                body = json.dumps(
                    {"error": "send the records as JSON, with the header Content-Type: application/json"}
                ).encode()
                await send(
                    {
                        "type": "http.response.start",
                        "status": 415,
                        "headers": [
                            (b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode()),
                        ],
                    }
                )
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)


@bentoml.service(http={"host": HOST, "port": PORT})
class AutotabService:
    model = _model_ref  # a class attribute, so the model is packed into the Bento

    def __init__(self) -> None:
        self.pipeline = bentoml.sklearn.load_model(self.model)
        self.task = CONTRACT["task"]

    @bentoml.api(input_spec=PredictRequest)
    def predict(self, records: list[Record]) -> list[dict[str, Any]]:  # type: ignore[valid-type]
        """Predict for raw records: the label and each class's probability (or the value)."""
        frame = records_frame(records, FIELDS)
        raise_for(unreadable_text(frame, FIELDS, MARKERS))
        try:
            if self.task == "regression":
                return [{"prediction": float(v)} for v in self.pipeline.predict(frame)]
            proba = self.pipeline.predict_proba(frame)
            labels = self.pipeline.predict(frame)  # a binary model's tuned threshold applies here
        except ValueError as error:  # what the schema let through but the model refuses
            raise InvalidArgument(str(error)) from error
        classes = [_plain(c) for c in self.pipeline.classes_]
        return [
            {
                "label": _plain(label),
                "probabilities": {str(c): round(float(p), 6) for c, p in zip(classes, row, strict=True)},
            }
            for label, row in zip(labels, proba, strict=True)
        ]


AutotabService.add_asgi_middleware(JsonBodiesOnly)
