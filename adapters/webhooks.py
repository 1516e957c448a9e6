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
from adapters.signing import ReplayCache, WebhookVerifier
from domain.intake import Decision, IntakeOutcome, IntakeRequest

Gate = Callable[[IntakeRequest], IntakeOutcome]
M = TypeVar("M", bound=BaseModel)

_STATUS = {Decision.CREATED: 201, Decision.LINKED: 201, Decision.THIRD_PARTY: 202,
           Decision.IGNORED: 202}
PROBLEMS: dict[int | str, dict[str, Any]] = {401: {"content": {"application/problem+json": {}}},
            403: {"content": {"application/problem+json": {}}},
            422: {"content": {"application/problem+json": {}}}}


def verifier_for(secret: str, channel: str, verifier: WebhookVerifier | None) -> WebhookVerifier:
    """The composition root's verifier (durable replay cache, configured age), or one with an
    in-memory replay cache for a router built without it (tests, tools)."""
    return verifier or WebhookVerifier(secret, replays=ReplayCache(None), channel=channel)


async def signed_model(request: Request, verifier: WebhookVerifier, model: type[M]) -> M | Response:
    """The body as ``model`` when it is signed (timestamped HMAC, fresh, not a replay) or
    carries the shared secret; else the problem to answer."""
    body = await request.body()
    headers = {k.lower(): v for k, v in request.headers.items()}
    path = request.url.path
    if (refusal := verifier.refusal(body, headers)) is not None:
        return unauthenticated(refusal, instance=path)
    try:
        return model.model_validate(json.loads(body or b"null"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        return unreadable(str(error), instance=path)
    except RecursionError:
        return unreadable("JSON nested too deeply", instance=path)
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
