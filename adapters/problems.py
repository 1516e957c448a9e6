"""RFC 9457 problem details: the one builder used by the API and the intake routers.

It lives in ``adapters`` so the webhook routers (which never import ``services``)
and the API's error handlers (``services/api/problems.py``) answer alike.
"""

from __future__ import annotations

from typing import Any

from fastapi.responses import JSONResponse

MEDIA_TYPE = "application/problem+json"
BASE = "https://pass24-desk.example/problems/"


def problem(
    status: int,
    title: str,
    detail: str = "",
    *,
    slug: str,
    instance: str = "",
    errors: list[dict[str, str]] | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": BASE + slug,
        "title": title,
        "status": status,
        "detail": detail,
        "instance": instance,
        "errors": errors or [],
    }
    body.update({k: v for k, v in extra.items() if v is not None})
    return JSONResponse(body, status_code=status, media_type=MEDIA_TYPE, headers=headers)


def invalid(errors: list[dict[str, str]], *, instance: str = "") -> JSONResponse:
    """422 naming every field that is wrong (the API's ``invalid-request``)."""
    detail = "; ".join(f"{e['field']}: {e['reason']}" for e in errors)
    return problem(422, "Invalid request", detail, slug="invalid-request", instance=instance,
                   errors=errors)


def unauthenticated(reason: str = "", *, instance: str = "") -> JSONResponse:
    return problem(401, "Unauthorized",
                   reason or "sign the body (X-Pass24-Timestamp and X-Pass24-Signature: "
                   "sha256=<HMAC of '<timestamp>.<body>'>) or send the shared secret",
                   slug="unauthorized", instance=instance)


def unreadable(reason: str, *, instance: str = "") -> JSONResponse:
    return problem(400, "Bad Request", reason, slug="unreadable-body", instance=instance)
