"""services/api/edge.py at the ASGI level: a body is counted as it arrives and refused before
the application has it."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from starlette.types import Message, Receive, Scope, Send

from services.api.edge import BodyLimit, NoCredentialsInUrl


class Reader:
    """An application that reads the whole body, like any parser would."""

    def __init__(self) -> None:
        self.received = 0
        self.answered = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise ConnectionError("client left")  # what a framework does: gives up
            self.received += len(message.get("body", b""))
            if not message.get("more_body"):
                break
        self.answered = True
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})


def run(app: Any, headers: list[tuple[bytes, bytes]], chunks: int, chunk: int = 64 * 1024,
        query: bytes = b"") -> tuple[list[Message], int]:
    scope = {"type": "http", "method": "POST", "path": "/x", "headers": headers,
             "query_string": query}
    pulled = 0

    async def receive() -> Message:
        nonlocal pulled
        pulled += 1
        return {"type": "http.request", "body": b"x" * chunk, "more_body": pulled < chunks}

    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    return sent, pulled


def test_a_declared_length_over_the_limit_is_refused_without_reading() -> None:
    inner = Reader()
    app = BodyLimit(inner, max_json_bytes=1024 * 1024, max_multipart_bytes=8 * 1024 * 1024)
    sent, pulled = run(app, [(b"content-length", b"104857600")], chunks=1600)
    assert pulled == 0 and inner.received == 0
    assert sent[0]["status"] == 413
    assert json.loads(sent[1]["body"])["type"].endswith("body-too-large")


def test_a_streamed_body_is_cut_at_the_limit_and_the_app_never_answers() -> None:
    inner = Reader()
    app = BodyLimit(inner, max_json_bytes=1024 * 1024, max_multipart_bytes=8 * 1024 * 1024)
    sent, pulled = run(app, [(b"content-type", b"application/json")], chunks=1600)
    assert pulled == 17  # 1 MiB in 64 KiB chunks, and the one that passed it
    assert not inner.answered
    assert [m["type"] for m in sent] == ["http.response.start", "http.response.body"]
    assert sent[0]["status"] == 413 and (b"connection", b"close") in sent[0]["headers"]


def test_multipart_gets_its_own_larger_limit() -> None:
    inner = Reader()
    app = BodyLimit(inner, max_json_bytes=1024 * 1024, max_multipart_bytes=8 * 1024 * 1024)
    sent, _ = run(app, [(b"content-type", b"multipart/form-data; boundary=x")], chunks=64)
    assert inner.answered and sent[0]["status"] == 200  # 4 MiB: within 8 MiB


def test_credentials_in_the_query_string_are_refused_before_the_app() -> None:
    inner = Reader()
    sent, pulled = run(NoCredentialsInUrl(inner), [], chunks=1, query=b"a=1&Access_Token=p24_x")
    assert pulled == 0 and sent[0]["status"] == 400
    assert b"p24_x" not in sent[1]["body"]
    sent, _ = run(NoCredentialsInUrl(inner), [], chunks=1, query=b"tokens=1&level=standard")
    assert sent[0]["status"] == 200
