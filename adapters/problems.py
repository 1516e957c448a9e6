"""RFC 9457 problem details built inside the intake routers (they work without global handlers)."""

from __future__ import annotations

from typing import Any

from fastapi.responses import JSONResponse

PROBLEM = "application/problem+json"
BASE = "https://pass24-desk.example/problems/"


def problem(status: int, kind: str, title: str, detail: str,
            errors: list[dict[str, str]] | None = None, **extra: Any) -> JSONResponse:
    body: dict[str, Any] = {"type": BASE + kind, "title": title, "status": status, "detail": detail}
    if errors is not None:
        body["errors"] = errors
    body.update(extra)
    return JSONResponse(body, status_code=status, media_type=PROBLEM)


def invalid(errors: list[dict[str, str]]) -> JSONResponse:
    fields = ", ".join(e["field"] for e in errors)
    return problem(422, "validation", "Invalid request", f"check the field(s): {fields}", errors)
