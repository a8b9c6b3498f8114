"""PredictGate as an ASGI app, driven with in-memory messages (the served behaviour is in test_serving)."""

import asyncio
import json

from prometheus_client import REGISTRY

from autotab.serving.gate import DRAIN_FACTOR, PredictGate

LIMIT = 100
BODY_TIMEOUT_S = 0.3


def call_gate(
    body_chunks: list[bytes],
    declared: int | None,
    events: list | None = None,
    then: str | None = None,
    **extra_headers: bytes,
):
    """Run one POST /predict through the gate; returns (status, body, chunks read, whether the app ran).
    `events`, if given, gets "read" and "sent" in the order they happened. With `then`, the chunks are
    not the whole body: the client then disconnects ("disconnect") or stays, sending nothing ("stall")."""
    events = [] if events is None else events
    messages = [
        {"type": "http.request", "body": chunk, "more_body": then is not None or i < len(body_chunks) - 1}
        for i, chunk in enumerate(body_chunks)
    ]
    read, sent, app_ran = [], [], []

    async def receive():
        if len(read) >= len(messages) and then == "stall":
            await asyncio.Event().wait()  # a client that announced more than it sends
        message = messages[len(read)] if len(read) < len(messages) else {"type": "http.disconnect"}
        read.append(message)
        events.append("read")
        return message

    async def send(message):
        sent.append(message)
        events.append("sent")

    async def app(scope, receive, send):
        app_ran.append(True)

    headers = [(b"content-type", b"application/json")]
    if declared is not None:
        headers.append((b"content-length", str(declared).encode()))
    headers += [(name.replace("_", "-").encode(), value) for name, value in extra_headers.items()]
    scope = {"type": "http", "path": "/predict", "method": "POST", "headers": headers}
    gate = PredictGate(app, max_request_bytes=LIMIT, body_timeout_s=BODY_TIMEOUT_S)
    asyncio.run(gate(scope, receive, send))
    start = next((m for m in sent if m["type"] == "http.response.start"), None)
    if start is not None:
        events.append(dict(start["headers"]))
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return (start or {}).get("status"), body, len(read), bool(app_ran)


def rejected(reason: str, status: int) -> float:
    labels = {"reason": reason, "status": str(status)}
    return REGISTRY.get_sample_value("autotab_rejected_requests_total", labels) or 0.0


def test_a_body_within_the_limit_reaches_the_app():
    assert call_gate([b"x" * 50, b"y" * 50], declared=100)[3]
    assert call_gate([b"x" * 50, b"y" * 50], declared=None)[3]


def test_an_oversized_body_is_answered_first_then_read_to_its_end_so_the_client_can_read_the_answer():
    chunks = [b"x" * 40] * 10  # 400 bytes, 4x the limit
    for declared, read_before_answer in ((400, 0), (None, 3)):  # unannounced: read until over the limit
        events = []
        status, body, read, app_ran = call_gate(chunks, declared, events)
        assert status == 413 and not app_ran
        assert "serve.max_request_bytes" in json.loads(body)["error"]
        assert read == len(chunks)  # drained, so that closing does not reset the connection
        # The answer's head and body go out before the rest is read; its end comes after.
        assert events[: read_before_answer + 2] == ["read"] * read_before_answer + ["sent", "sent"]
        assert events[-2] == "sent" and events.count("sent") == 3


def test_a_key_twice_in_one_object_gets_a_400_naming_it_before_the_app_runs():
    status, body, _, app_ran = call_gate([b'{"records": [{"a": "x", "b": 2, "a": 1}]}'], declared=None)
    assert status == 400 and not app_ran and '"a"' in json.loads(body)["error"]
    assert call_gate([b'{"records": [{"a": 1}, {"a": 2}]}'], declared=None)[3]  # one key per object
    assert call_gate([b'{"records": [oops'], declared=None)[3]  # not JSON: the service says what is wrong


def test_a_compressed_body_gets_a_415():
    status, body, read, app_ran = call_gate([b"\x1f\x8b..."], declared=5, content_encoding=b"gzip")
    assert status == 415 and not app_ran and read == 0 and "uncompressed" in json.loads(body)["error"]
    assert call_gate([b"{}"], declared=2, content_encoding=b"identity")[3]


def test_draining_stops_at_its_limit():
    chunks = [b"x" * LIMIT] * (DRAIN_FACTOR * 3)
    status, _, read, _ = call_gate(chunks, declared=len(chunks) * LIMIT)
    assert status == 413 and read <= DRAIN_FACTOR + 2 < len(chunks)


def test_a_body_shorter_than_announced_gets_a_408_once_the_body_timeout_passes():
    events = []
    status, body, read, app_ran = call_gate([b'{"records": [', b"{}"], declared=90, events=events, then="stall")
    assert status == 408 and not app_ran and read == 2
    assert "serve.body_timeout_s" in json.loads(body)["error"]
    assert events[-1][b"connection"] == b"close"  # the rest of the body may still come: not reusable


def test_a_client_that_disconnects_mid_body_is_counted_as_such_and_not_answered():
    before = {
        reason: rejected(reason, status) for reason, status in (("client_disconnected", 499), ("server_error", 500))
    }
    status, body, read, app_ran = call_gate([b'{"records": ['], declared=90, then="disconnect")
    assert (status, body, read, app_ran) == (None, b"", 2, False)
    assert rejected("client_disconnected", 499) == before["client_disconnected"] + 1
    assert rejected("server_error", 500) == before["server_error"]
