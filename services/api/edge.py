"""The HTTP edge, as pure ASGI middleware: what every request passes before any router.

- **Body size**: ``Content-Length`` is checked first and the body is counted as it
  streams in, before anything parses it and before authentication, so an
  unauthenticated 100 MB upload costs the process one chunk of memory, not 100 MB.
- **No credentials in URLs**: a query parameter that looks like a credential
  (``?token=``, ``?access_token=``…) is refused; tokens travel in the
  ``Authorization`` header or the session cookie only. The access log is
  scrubbed as well (``services/logging.py``), for requests refused here.

Both answer with problem+json, like the rest of the API.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.api.problems import BASE, MEDIA_TYPE

CREDENTIAL_PARAMETERS = frozenset({"token", "access_token", "api_key", "apikey", "bearer",
                                   "authorization", "session"})


@dataclass(frozen=True)
class EdgeLimits:
    """The edge's settings (``Settings.max_json_bytes`` etc.); defaults fit tests."""

    max_json_bytes: int = 1024 * 1024
    max_multipart_bytes: int = 16 * 1024 * 1024
    waits_per_token: int = 8
    session_secret: bytes = b""
    session_max_age: int = 12 * 3600
    metrics_token: str = ""
    metrics_cache_seconds: float = 10.0
    serve_metrics: bool = True

    @classmethod
    def from_settings(cls, settings: Any) -> EdgeLimits:
        from services.api.session import derive_secret

        return cls(
            max_json_bytes=settings.max_json_bytes,
            max_multipart_bytes=settings.max_multipart_bytes,
            waits_per_token=settings.waits_per_token,
            session_secret=derive_secret(settings.session_secret.get_secret_value(),
                                         settings.audit_key.get_secret_value()),
            session_max_age=settings.session_max_age,
            metrics_token=settings.metrics_token.get_secret_value(),
            metrics_cache_seconds=settings.metrics_cache_seconds,
            serve_metrics=settings.metrics_port is None,
        )


def problem_message(status: int, title: str, detail: str, slug: str, path: str,
                    headers: list[tuple[bytes, bytes]] | None = None) -> tuple[Message, Message]:
    body = json.dumps({"type": BASE + slug, "title": title, "status": status, "detail": detail,
                       "instance": path, "errors": []}).encode()
    start: Message = {
        "type": "http.response.start", "status": status,
        "headers": [(b"content-type", MEDIA_TYPE.encode()),
                    (b"content-length", str(len(body)).encode()), *(headers or [])],
    }
    return start, {"type": "http.response.body", "body": body}


async def send_problem(send: Send, status: int, title: str, detail: str, slug: str, path: str,
                       headers: list[tuple[bytes, bytes]] | None = None) -> None:
    for message in problem_message(status, title, detail, slug, path, headers):
        await send(message)


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return bytes(value)
    return None


class BodyLimit:
    """413 for a body over its limit: multipart gets the larger one, everything else the JSON one."""

    def __init__(self, app: ASGIApp, *, max_json_bytes: int, max_multipart_bytes: int) -> None:
        self.app = app
        self.max_json_bytes = max_json_bytes
        self.max_multipart_bytes = max_multipart_bytes

    def limit_for(self, scope: Scope) -> int:
        content_type = (_header(scope, b"content-type") or b"").split(b";")[0].strip().lower()
        if content_type == b"multipart/form-data":
            return self.max_multipart_bytes
        return self.max_json_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope)
        path = str(scope.get("path", ""))
        declared = _header(scope, b"content-length")
        if declared is not None:
            if not declared.strip().isdigit():
                await send_problem(send, 400, "Bad Request", "Content-Length is not a number",
                                   "unreadable-body", path, [(b"connection", b"close")])
                return
            if int(declared) > limit:
                await _refuse(send, limit, path)
                return
        received = 0
        started = refused = False

        async def counted() -> Message:
            nonlocal received, refused
            message = await receive()
            if message["type"] == "http.request" and not refused:
                received += len(message.get("body", b""))
                if received > limit:
                    # Answer now and tell the app the client left: whatever parses the
                    # body stops, and nothing it might answer reaches the client.
                    refused = True
                    if not started:
                        await _refuse(send, limit, path)
                    return {"type": "http.disconnect"}
            return message

        async def watched(message: Message) -> None:
            nonlocal started
            if refused:
                return
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counted, watched)
        except Exception:
            if not refused:
                raise


async def _refuse(send: Send, limit: int, path: str) -> None:
    # Connection: close, so the server stops reading the rest of the body.
    await send_problem(send, 413, "Content Too Large",
                       f"the request body is larger than {limit} bytes", "body-too-large", path,
                       [(b"connection", b"close")])


class NoCredentialsInUrl:
    """400 for a credential in the query string: URLs end up in logs, histories and Referers."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope.get("query_string"):
            query = bytes(scope["query_string"]).decode("latin-1")
            names = {name.lower() for name, _ in parse_qsl(query, keep_blank_values=True)}
            refused = sorted(names & CREDENTIAL_PARAMETERS)
            if refused:
                await send_problem(
                    send, 400, "Credentials in the URL",
                    f"query parameter {refused[0]!r} is refused: send the token in the "
                    "Authorization header (Bearer) or sign in with POST /session",
                    "credentials-in-url", str(scope.get("path", "")))
                return
        await self.app(scope, receive, send)
