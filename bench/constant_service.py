"""The framework's floor for bench/serve.py: a BentoML API that takes the same JSON body as autotab's
/predict and answers a constant, served the same way (async API, access log off, no batching)."""

from __future__ import annotations

from typing import Annotated, Any

import bentoml
from bentoml.validators import ContentType

ANSWER = [{"label": "constant", "probabilities": {"constant": 1.0}}]


@bentoml.service(logging={"access": {"enabled": False}})
class ConstantService:
    @bentoml.api
    async def predict(
        self, records: list[dict[str, Any]]
    ) -> Annotated[list[dict[str, Any]], ContentType("application/json")]:
        return ANSWER
