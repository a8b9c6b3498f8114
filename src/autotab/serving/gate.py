"""What the service checks and counts before and after a /predict or /explain request reaches BentoML.

`PredictGate` is ASGI middleware: a body that is not JSON gets a 415 (BentoML would try other bodies
as forms), and so does a compressed one; a body above the configured size gets a 413 before it is
parsed (before it is read, when its Content-Length says so); a record with the same key twice gets a
400 naming the key (a JSON parser keeps the last value silently, even after an invalid first one);
a body that does not arrive in full within the configured time gets a 408, so a client that announces
more than it sends holds no worker; a client that disconnects before its body arrived is counted as
such (499, nginx's code for it), not as a server error; and every rejected request, whoever
rejected it, is counted by its status. The counters live on BentoML's own Prometheus `/metrics`.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
from dataclasses import dataclass
from typing import Any

GATED_PATHS = frozenset({"/predict", "/explain"})  # the endpoints that take records
# After a 413 is sent, the rest of the oversized body is read and discarded, up to this many times the
# limit: a server that closes while the client is still sending resets the connection, and the client
# may never read the answer (nginx's "lingering close" solves the same problem). Beyond it the
# connection is closed.
DRAIN_FACTOR = 16
REASONS = {
    400: "invalid_request",
    408: "body_timeout",
    413: "too_large",
    415: "not_json",
    499: "client_disconnected",
    503: "overloaded",
    504: "timeout",
}
CLIENT_CLOSED = 499  # no answer is sent (nobody is left to read it): the status only labels the count

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ServingMetrics:
    predictions: Any
    rejected: Any
    unseen_categories: Any
    out_of_range: Any
    input_psi: Any
    drift_window_records: Any


@functools.cache
def serving_metrics() -> ServingMetrics:
    """The service's counters, created once per worker process.

    prometheus_client is imported here, not at module import: BentoML sets its multiprocess
    directory in the worker, and a client initialised before that would count into nothing.
    """
    from prometheus_client import Counter, Gauge

    return ServingMetrics(
        predictions=Counter("autotab_predictions", "Records predicted, by predicted label", ["label"]),
        rejected=Counter(
            "autotab_rejected_requests", "/predict and /explain requests answered with an error", ["reason", "status"]
        ),
        unseen_categories=Counter(
            "autotab_unseen_categories", "Category values never seen in training (encoded as unknown)", ["field"]
        ),
        out_of_range=Counter(
            "autotab_out_of_range_values",
            "Numbers outside their field's training range (serve.out_of_range)",
            ["field"],
        ),
        # Each worker's window: the largest value any live worker sees, so an alert fires on either.
        input_psi=Gauge(
            "autotab_input_psi",
            "Population stability index of each cleaned input over a worker's last serve.drift_window records "
            "against the training data (set once the window is full)",
            ["field"],
            multiprocess_mode="livemax",
        ),
        drift_window_records=Gauge(
            "autotab_drift_window_records", "Records in the workers' drift windows", multiprocess_mode="livesum"
        ),
    )


class DuplicateKey(ValueError):
    pass


def _refuse_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: set[str] = set()
    for key, _ in pairs:
        if key in seen:
            raise DuplicateKey(key)
        seen.add(key)
    return dict(pairs)


def duplicate_key(body: bytes) -> str | None:
    """The first key that some JSON object of the body holds twice; None if none does, or if the body
    is no JSON at all (the service's own parser then says what is wrong with it)."""
    try:
        json.loads(body, object_pairs_hook=_refuse_duplicates)
    except DuplicateKey as duplicate:
        return str(duplicate)
    except ValueError:
        return None
    return None


async def _send_error(send: Any, status: int, message: str, before: Any = None, close: bool = False) -> None:
    """Send an error answer. `before`: awaited once the answer's bytes are on their way, before the
    response ends (the drain of a body that is not read: the client can read the answer meanwhile).
    `close`: the body was not read to its end, so the connection cannot carry another request."""
    body = json.dumps({"error": message}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if close or before is not None:
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body, "more_body": before is not None})
    if before is not None:
        await before
        await send({"type": "http.response.body", "body": b"", "more_body": False})


class PredictGate:
    def __init__(self, app: Any, max_request_bytes: int, body_timeout_s: float) -> None:
        self.app = app
        self.max_request_bytes = max_request_bytes
        self.body_timeout_s = body_timeout_s

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["path"] not in GATED_PATHS:
            await self.app(scope, receive, send)
            return
        rejected = serving_metrics().rejected

        async def counting_send(message: dict) -> None:
            if message["type"] == "http.response.start" and message["status"] >= 400:
                status = message["status"]
                reason = REASONS.get(status, "client_error" if status < 500 else "server_error")
                rejected.labels(reason=reason, status=str(status)).inc()
            await send(message)

        if scope["method"] != "POST":
            await self.app(scope, receive, counting_send)
            return
        headers = dict(scope["headers"])
        content_type = headers.get(b"content-type", b"").split(b";")[0].strip().lower()
        if content_type != b"application/json":
            message = "send the records as JSON, with the header Content-Type: application/json"
            await _send_error(counting_send, 415, message)
            return
        encoding = headers.get(b"content-encoding", b"identity").strip().lower()
        if encoding != b"identity":
            message = (
                f"Content-Encoding {encoding.decode(errors='replace')!r} is not accepted: send the JSON uncompressed"
            )
            await _send_error(counting_send, 415, message)
            return
        too_large = (
            f"the body is larger than serve.max_request_bytes ({self.max_request_bytes} bytes): send fewer records"
        )
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_request_bytes:
            # Answered before a byte of the body is read; then the body is drained (see DRAIN_FACTOR).
            await _send_error(counting_send, 413, too_large, before=self._discard_body(receive, 0))
            return
        # A client may send no length (chunked): read the body here, up to the limit and within the
        # time allowed for it (one deadline for the whole body: a trickle of bytes does not renew it),
        # and replay it.
        chunks, size = [], 0
        deadline = asyncio.get_running_loop().time() + self.body_timeout_s
        while True:
            try:
                async with asyncio.timeout_at(deadline):
                    message = await receive()
            except TimeoutError:
                message = (
                    f"the body did not arrive in full within serve.body_timeout_s ({self.body_timeout_s:g} s):"
                    " send the whole body at once, and exactly as many bytes as its Content-Length says"
                )
                await _send_error(counting_send, 408, message, close=True)
                return
            if message["type"] != "http.request":  # the client went away: there is nobody to answer
                rejected.labels(reason=REASONS[CLIENT_CLOSED], status=str(CLIENT_CLOSED)).inc()
                logger.info(
                    "a client disconnected before its %s body arrived in full (%d bytes read)", scope["path"], size
                )
                return
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > self.max_request_bytes:
                drain = self._discard_body(receive, size) if message.get("more_body", False) else None
                await _send_error(counting_send, 413, too_large, before=drain)
                return
            if not message.get("more_body", False):
                break
        duplicate = duplicate_key(b"".join(chunks))
        if duplicate is not None:
            message = f"a JSON object holds the key {json.dumps(duplicate)} twice: send each field once"
            await _send_error(counting_send, 400, message)
            return
        replayed = False

        async def replay() -> dict:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": b"".join(chunks), "more_body": False}

        await self.app(scope, replay, counting_send)

    async def _discard_body(self, receive: Any, size: int) -> None:
        """Read the rest of a body (up to the drain limit) so that the client can read the answer."""
        while size <= DRAIN_FACTOR * self.max_request_bytes:
            message = await receive()
            size += len(message.get("body", b""))
            if message["type"] != "http.request" or not message.get("more_body", False):
                return
