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
from starlette.routing import Match

from adapters.i18n import DEFAULT, N_, gettext, negotiate
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
        413: "The request body is larger than the limit",
        422: "Invalid input (the errors list names each field)",
        429: "Too many read-your-writes waits by this caller at once (see Retry-After)",
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


def _allowed(request: Request) -> str:
    """Every method some route serves on this path (Starlette names only the first route's)."""
    methods: set[str] = set()
    pending: list[tuple[Any, str]] = [(route, request.url.path) for route in request.app.router.routes]
    while pending:
        route, path = pending.pop()
        included = getattr(route, "original_router", None)
        if included is not None:  # an included router: its routes, below its prefix
            prefix = getattr(getattr(route, "include_context", None), "prefix", "") or ""
            if path.startswith(prefix):
                pending.extend((child, path[len(prefix):] or "/") for child in included.routes)
            continue
        match, _ = route.matches({**request.scope, "path": path, "root_path": "", "method": "\x00"})
        if match is not Match.NONE:
            methods |= set(getattr(route, "methods", None) or ())
    return ", ".join(sorted(methods))

def language(request: Request) -> str:
    """The caller's language from ``Accept-Language``; the desk's default otherwise."""
    default = getattr(request.app.state, "language", DEFAULT)
    return negotiate(request.headers.get("accept-language"), default)


# Pydantic error types in words; the context fills the placeholders. A pattern's regular
# expression is never shown: it means nothing to a person.
_REASONS = {
    "missing": N_("required"),
    "string_too_short": N_("must be at least %(min_length)s characters"),
    "string_too_long": N_("must be at most %(max_length)s characters"),
    "too_long": N_("must have at most %(max_length)s items"),
    "too_short": N_("must have at least %(min_length)s items"),
    "string_pattern_mismatch": N_("has the wrong format"),
    "enum": N_("must be one of: %(expected)s"),
    "literal_error": N_("must be one of: %(expected)s"),
    "int_parsing": N_("must be a whole number"),
    "int_type": N_("must be a whole number"),
    "float_parsing": N_("must be a number"),
    "bool_parsing": N_("must be true or false"),
    "string_type": N_("must be text"),
    "greater_than_equal": N_("must be at least %(ge)s"),
    "less_than_equal": N_("must be at most %(le)s"),
    "greater_than": N_("must be greater than %(gt)s"),
    "extra_forbidden": N_("unknown field"),
    "model_attributes_type": N_("must be an object"),
    "dict_type": N_("must be an object"),
    "list_type": N_("must be a list"),
    "url_parsing": N_("must be a URL"),
    "url_scheme": N_("must be an http or https URL"),
    "timezone_aware": N_("must carry a time zone offset"),
    "datetime_from_date_parsing": N_("must be an ISO-8601 instant with an offset"),
    "datetime_parsing": N_("must be an ISO-8601 instant with an offset"),
}
_FORMATS = {"phone": N_("not a valid phone number"), "email": N_("not a valid email address")}


def _reason(error: Any, lang: str) -> str:
    kind = str(error.get("type", ""))
    ctx = {k: (", ".join(v) if isinstance(v, list) else v)
           for k, v in (error.get("ctx") or {}).items()}
    loc = [str(part) for part in error.get("loc", ())]
    if kind == "string_pattern_mismatch" and loc and loc[-1] in _FORMATS:
        return gettext(_FORMATS[loc[-1]], lang)
    if kind == "extra_forbidden" and loc and loc[0] == "query":
        return gettext("unknown query parameter", lang)
    if kind == "value_error":
        # pydantic prefixes a validator's own message with "Value error, ".
        message = str(error.get("msg", "")).removeprefix("Value error, ")
        translated = gettext(message, lang)
        if translated == message and lang != "en" and loc and loc[-1] in _FORMATS:
            return gettext(_FORMATS[loc[-1]], lang)  # a message with the value in it, say
        return translated
    if kind == "json_invalid":
        return gettext("the body is not valid JSON: %(error)s", lang) % {
            "error": ctx.get("error", "")}
    template = _REASONS.get(kind)
    if template is None:
        return gettext(str(error.get("msg", "")), lang)
    try:
        return gettext(template, lang) % ctx
    except (KeyError, TypeError, ValueError):
        return gettext(template, lang)


def _field(error: Any) -> str:
    loc = error.get("loc", ())
    if error.get("type") == "json_invalid":
        return "body"  # the location pydantic gives is a character offset, not a field
    return _location(loc)


def install(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def _invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        lang = language(request)
        errors = [{"field": _field(e), "reason": _reason(e, lang)} for e in exc.errors()]
        detail = "; ".join(f"{e['field']}: {e['reason']}" for e in errors)
        return problem(422, gettext("Invalid request", lang), detail, slug="invalid-request",
                       instance=request.url.path, errors=errors)

    @app.exception_handler(InvalidValue)
    async def _invalid_value(request: Request, exc: InvalidValue) -> JSONResponse:
        lang = language(request)
        reason = gettext(exc.reason, lang)
        return problem(422, gettext("Invalid value", lang), f"{exc.field}: {reason}",
                       slug="invalid-value", instance=request.url.path,
                       errors=[{"field": exc.field, "reason": reason}])

    @app.exception_handler(RuleViolated)
    async def _rule(request: Request, exc: RuleViolated) -> JSONResponse:
        lang = language(request)
        return problem(409, gettext("Not allowed in the ticket's current state", lang),
                       gettext(str(exc), lang), slug="rule-violated",
                       instance=request.url.path, rule=exc.rule)

    @app.exception_handler(TicketNotFound)
    async def _not_found(request: Request, exc: TicketNotFound) -> JSONResponse:
        lang = language(request)
        return problem(404, gettext("Ticket not found", lang), str(exc), slug="ticket-not-found",
                       instance=request.url.path,
                       errors=[{"field": "path.ticket_id", "reason": str(exc)}])

    @app.exception_handler(ConcurrencyConflict)
    async def _conflict(request: Request, exc: ConcurrencyConflict) -> JSONResponse:
        lang = language(request)
        return problem(409, gettext("Concurrent change", lang), str(exc),
                       slug="concurrency-conflict", instance=request.url.path,
                       headers={"Retry-After": "1"})

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        lang = language(request)
        slugs = {400: "unreadable-body", 401: "unauthorized", 403: "forbidden", 404: "not-found",
                 405: "method-not-allowed", 413: "body-too-large", 429: "too-many-requests",
                 503: "unavailable"}
        headers = getattr(exc, "headers", None)
        if exc.status_code == 405:
            headers = {**(headers or {}), "Allow": _allowed(request)}
        return problem(exc.status_code, gettext(_phrase(exc.status_code), lang),
                       gettext(str(exc.detail or ""), lang),
                       slug=slugs.get(exc.status_code, "http-error"),
                       instance=request.url.path, headers=headers)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        lang = language(request)
        return problem(500, gettext("Internal error", lang), gettext("the error was logged", lang),
                       slug="internal", instance=request.url.path)
