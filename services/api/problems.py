"""RFC 9457 problem details: one handler per error family."""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from adapters.problems import BASE, MEDIA_TYPE, problem
from domain.errors import ConcurrencyConflict, InvalidValue, RuleViolated, TicketNotFound

log = logging.getLogger("pass24.api")

__all__ = ["BASE", "MEDIA_TYPE", "Problem", "install", "problem", "problem_responses"]


class FieldError(BaseModel):
    field: str = Field(description="where: e.g. body.level, query.limit, path.ticket_id")
    reason: str


class Problem(BaseModel):
    type: str = Field(examples=[BASE + "invalid-value"])
    title: str
    status: int
    detail: str = ""
    instance: str = ""
    errors: list[FieldError] = Field(default_factory=list)
    rule: str | None = None


def _location(loc: tuple[Any, ...] | list[Any]) -> str:
    return ".".join(str(part) for part in loc)


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries documenting the problem responses of an endpoint."""
    titles = {
        400: "The body could not be read (not JSON, bad encoding)",
        401: "Missing or unknown bearer token",
        403: "The token's role may not do this",
        404: "No such ticket",
        409: "A rule of the ticket's state forbids it, or a concurrent change won",
        422: "Invalid input (the errors list names each field)",
        503: "Projections did not reach the requested position in time",
    }
    return {
        s: {"model": Problem, "description": titles.get(s, "Problem"),
            "content": {MEDIA_TYPE: {}}}
        for s in statuses
    }


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "HTTP error"


def install(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def _invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [{"field": _location(e.get("loc", ())), "reason": str(e.get("msg", ""))}
                  for e in exc.errors()]
        detail = "; ".join(f"{e['field']}: {e['reason']}" for e in errors)
        return problem(422, "Invalid request", detail, slug="invalid-request",
                       instance=request.url.path, errors=errors)

    @app.exception_handler(InvalidValue)
    async def _invalid_value(request: Request, exc: InvalidValue) -> JSONResponse:
        return problem(422, "Invalid value", str(exc), slug="invalid-value",
                       instance=request.url.path,
                       errors=[{"field": exc.field, "reason": exc.reason}])

    @app.exception_handler(RuleViolated)
    async def _rule(request: Request, exc: RuleViolated) -> JSONResponse:
        return problem(409, "Not allowed in the ticket's current state", str(exc),
                       slug="rule-violated", instance=request.url.path, rule=exc.rule)

    @app.exception_handler(TicketNotFound)
    async def _not_found(request: Request, exc: TicketNotFound) -> JSONResponse:
        return problem(404, "Ticket not found", str(exc), slug="ticket-not-found",
                       instance=request.url.path,
                       errors=[{"field": "path.ticket_id", "reason": str(exc)}])

    @app.exception_handler(ConcurrencyConflict)
    async def _conflict(request: Request, exc: ConcurrencyConflict) -> JSONResponse:
        return problem(409, "Concurrent change", str(exc), slug="concurrency-conflict",
                       instance=request.url.path, headers={"Retry-After": "1"})

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        slugs = {400: "unreadable-body", 401: "unauthorized", 403: "forbidden", 404: "not-found",
                 405: "method-not-allowed", 503: "unavailable"}
        return problem(exc.status_code, _phrase(exc.status_code),
                       str(exc.detail or ""), slug=slugs.get(exc.status_code, "http-error"),
                       instance=request.url.path, headers=getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return problem(500, "Internal error", "the error was logged", slug="internal",
                       instance=request.url.path)
