"""The framework's floor for bench/serve.py: a BentoML API that takes the same JSON body as autotab's
/predict and answers each record with the same constant, served the same way (access log off, no
batching): what moving the bodies through BentoML costs without a model."""

from __future__ import annotations

from typing import Annotated, Any

import bentoml
from bentoml.validators import ContentType

ANSWER = {"label": "benign", "probabilities": {"benign": 0.5, "malignant": 0.5}}


@bentoml.service(logging={"access": {"enabled": False}})
class ConstantService:
    @bentoml.api
    async def predict(
        self, records: list[dict[str, Any]]
    ) -> Annotated[list[dict[str, Any]], ContentType("application/json")]:
        return [ANSWER] * len(records)
