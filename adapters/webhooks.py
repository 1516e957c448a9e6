"""What every intake router shares: reading a signed JSON body and answering the gate's outcome.

A channel's router only translates its payload into an ``IntakeRequest``; the
gate (handed in by the composition root) decides, and ``answer`` turns the
decision into the same HTTP answer for every channel.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any, Protocol, TypeVar

from fastapi import Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ValidationError

from adapters.i18n import DEFAULT, gettext
from adapters.problems import invalid, problem, unauthenticated, unreadable
from adapters.signing import webhook_authentic
from domain.intake import Decision, IntakeOutcome, IntakeRequest

Gate = Callable[[IntakeRequest], IntakeOutcome]
M = TypeVar("M", bound=BaseModel)

_STATUS = {Decision.CREATED: 201, Decision.LINKED: 201, Decision.THIRD_PARTY: 202,
           Decision.IGNORED: 202}
PROBLEMS: dict[int | str, dict[str, Any]] = {401: {"content": {"application/problem+json": {}}},
            403: {"content": {"application/problem+json": {}}},
            422: {"content": {"application/problem+json": {}}}}


class Verifier(Protocol):
    """Says why a webhook request is not authentic, or None when it is."""

    def refusal(self, body: bytes, headers: Mapping[str, str],
                body_secret: str = "") -> str | None: ...


class SharedSecret:
    """HMAC-SHA256 of the raw body with the channel's secret, or the secret itself in a header
    (or, for Bitrix24, in the body). An empty secret refuses everything."""

    def __init__(self, secret: str) -> None:
        self.secret = secret

    def refusal(self, body: bytes, headers: Mapping[str, str],
                body_secret: str = "") -> str | None:
        if webhook_authentic(self.secret, body, dict(headers), body_secret):
            return None
        return "sign the body (X-Pass24-Signature: sha256=<hmac>) or send the shared secret"


async def signed_model(request: Request, verifier: Verifier, model: type[M]) -> M | Response:
    """The body as ``model`` when ``verifier`` finds it authentic; else the problem to answer."""
    body = await request.body()
    headers = {k.lower(): v for k, v in request.headers.items()}
    path = request.url.path
    refused = verifier.refusal(body, headers)
    if refused is not None:
        return unauthenticated(refused, instance=path)
    try:
        return model.model_validate(json.loads(body or b"null"))
    except json.JSONDecodeError as error:
        return unreadable(str(error), instance=path)
    except ValidationError as error:
        return invalid([{"field": ".".join(str(p) for p in e["loc"]) or "body", "reason": e["msg"]}
                        for e in error.errors()], instance=path)


def answer(outcome: IntakeOutcome, *, support_email: str, instance: str = "",
           fields: Mapping[str, str] | None = None, prefix: str = "",
           language: str = DEFAULT) -> Response:
    """201 new ticket, 200 seen before or threaded, 202 kept for review or ignored,
    403 channel closed today (R6, pointing to the email address), 422 refused input.
    Titles and reasons are in ``language`` where the message catalogue has them.

    ``fields`` renames the gate's plain field names (``phone``, ``email``, …) to where
    they are in this channel's payload (others get ``prefix``), so a problem names what
    the sender sent."""
    if outcome.decision is Decision.REFUSED:
        return problem(403, gettext("Channel closed", language), outcome.detail, slug="channel-closed",
                       instance=instance, support_email=support_email)
    if outcome.decision is Decision.INVALID:
        names = fields or {}
        errors = [(names.get(f, prefix + f), gettext(r, language)) for f, r in
                  (outcome.errors or ((outcome.field, outcome.detail),))]
        return problem(422, gettext("Invalid value", language),
                       "; ".join(f"{f}: {r}" for f, r in errors), slug="invalid-value",
                       instance=instance, errors=[{"field": f, "reason": r} for f, r in errors])
    return JSONResponse({"ticket_id": outcome.ticket_id, "created": outcome.created,
                         "outcome": outcome.decision.value},
                        status_code=_STATUS.get(outcome.decision, 200))
