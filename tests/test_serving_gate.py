"""PredictGate as an ASGI app, driven with in-memory messages (the served behaviour is in test_serving)."""

import asyncio
import json

from autotab.serving.gate import DRAIN_FACTOR, PredictGate

LIMIT = 100


def call_gate(body_chunks: list[bytes], declared: int | None):
    """Run one POST /predict through the gate; returns (status, body, chunks read, whether the app ran)."""
    messages = [
        {"type": "http.request", "body": chunk, "more_body": i < len(body_chunks) - 1}
        for i, chunk in enumerate(body_chunks)
    ]
    read, sent, app_ran = [], [], []

    async def receive():
        message = messages[len(read)] if len(read) < len(messages) else {"type": "http.disconnect"}
        read.append(message)
        return message

    async def send(message):
        sent.append(message)

    async def app(scope, receive, send):
        app_ran.append(True)

    headers = [(b"content-type", b"application/json")]
    if declared is not None:
        headers.append((b"content-length", str(declared).encode()))
    scope = {"type": "http", "path": "/predict", "method": "POST", "headers": headers}
    asyncio.run(PredictGate(app, max_request_bytes=LIMIT)(scope, receive, send))
    status = next((m["status"] for m in sent if m["type"] == "http.response.start"), None)
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return status, body, len(read), bool(app_ran)


def test_a_body_within_the_limit_reaches_the_app():
    assert call_gate([b"x" * 50, b"y" * 50], declared=100)[3]
    assert call_gate([b"x" * 50, b"y" * 50], declared=None)[3]


def test_an_oversized_body_is_read_to_its_end_before_the_413_so_the_client_can_read_it():
    chunks = [b"x" * 40] * 10  # 400 bytes, 4x the limit
    for declared in (400, None):
        status, body, read, app_ran = call_gate(chunks, declared)
        assert status == 413 and not app_ran
        assert "serve.max_request_bytes" in json.loads(body)["error"]
        assert read == len(chunks)


def test_draining_stops_at_its_limit():
    chunks = [b"x" * LIMIT] * (DRAIN_FACTOR * 3)
    status, _, read, _ = call_gate(chunks, declared=len(chunks) * LIMIT)
    assert status == 413 and read <= DRAIN_FACTOR + 2 < len(chunks)
