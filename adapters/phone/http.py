"""``/intake/phone``: call events from the telephony and calls logged by an agent.

Every call is one ticket, keyed by the call ID: the incoming, answered and ended
events of a call (in any order, any number of times) and the agent's log of it
all land on the same ticket.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field, ValidationError

from adapters.email.details import extract_details
from adapters.email.wiring import MailComponents
from adapters.problems import invalid, problem
from adapters.signing import ReplayCache, WebhookVerifier
from domain.errors import InvalidValue, RuleViolated, TicketNotFound
from domain.values import Actor, Channel, Product, Requester
from services.application import Receipt, SupportDesk
from services.channel_policy import ChannelClosed, ChannelPolicy
from services.settings import Settings


class CallEvent(BaseModel):
    event: Literal["incoming", "answered", "ended"]
    call_id: str = Field(min_length=1, max_length=200)
    caller: str = Field(min_length=3, max_length=32, pattern=r"^\+?[\d\s()\-]+$")
    agent: str = Field(default="", max_length=100)
    ticket_id: str = Field(default="", max_length=20, description="an ID the caller keyed in (IVR)")
    duration_seconds: int | None = Field(default=None, ge=0)


class CallLog(BaseModel):
    call_id: str = Field(min_length=1, max_length=200)
    agent: str = Field(min_length=1, max_length=100)
    caller_phone: str = Field(min_length=3, max_length=32, pattern=r"^\+?[\d\s()\-]+$")
    caller_name: str = Field(default="", max_length=200)
    email: str = Field(default="", max_length=254)
    organisation: str = Field(default="", max_length=200)
    subject: str = Field(min_length=1, max_length=500)
    description: str = Field(default="", max_length=100_000)
    product: Product = Product.UNKNOWN
    product_version: str = Field(default="", max_length=50)
    device: str = Field(default="", max_length=200)


def build_phone_router(desk: SupportDesk, settings: Settings, *,
                       mail: MailComponents | None = None,
                       channels: ChannelPolicy | None = None) -> APIRouter:
    router = APIRouter(prefix="/intake/phone", tags=["intake"])
    secret = settings.phone_secret.get_secret_value()
    verifier = WebhookVerifier(secret, replays=ReplayCache(settings.mail_db_path),
                               max_age=settings.webhook_max_age_seconds, channel="phone")
    policy = channels or (mail.channels if mail else ChannelPolicy.from_names(
        desk.calendar, settings.support_email, settings.holiday_channels.split(",")))

    async def _read(request: Request, model: type[BaseModel]) -> tuple[Any, Response | None]:
        body = await request.body()
        headers = {k.lower(): v for k, v in request.headers.items()}
        if (refusal := verifier.refusal(body, headers)) is not None:
            return None, problem(401, "unauthenticated", "Not signed", refusal)
        try:
            return model.model_validate(json.loads(body or b"null")), None
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            return None, problem(400, "unreadable-body", "Unreadable body", str(error))
        except RecursionError:
            return None, problem(400, "unreadable-body", "Unreadable body", "JSON nested too deeply")
        except ValidationError as error:
            return None, invalid([
                {"field": ".".join(str(p) for p in e["loc"]) or "body", "reason": e["msg"]}
                for e in error.errors()
            ])

    def _closed(now: datetime) -> Response | None:
        try:
            policy.check(Channel.PHONE, now)
        except ChannelClosed as closed:
            return problem(403, "channel-closed", "Channel closed on public holidays", str(closed),
                           support_email=settings.support_email)
        return None

    @router.post("/events", responses={422: {"content": {"application/problem+json": {}}}})
    async def call_event(request: Request) -> Response:
        """A call event from the telephony: opens the call's ticket, or links it to a named one."""
        event, error = await _read(request, CallEvent)
        if error is not None:
            return error
        assert isinstance(event, CallEvent)
        now = desk.clock.now()
        if event.event == "incoming" and (refused := _closed(now)) is not None:
            return refused
        caller = Actor.requester(event.caller)
        try:
            receipt = _linked(desk, event, caller, now) if event.ticket_id else None
            if receipt is None:
                receipt = desk.receive(
                    channel=Channel.PHONE, requester=Requester(phone=event.caller),
                    subject=f"Звонок с номера {event.caller}",
                    description="", actor=caller, intake_key=event.call_id, at=now)
            if event.event == "ended" and event.agent:
                _acknowledge(desk, receipt.ticket_id, event.agent, event.call_id)
        except InvalidValue as bad:
            return invalid([{"field": bad.field, "reason": bad.reason}])
        except RuleViolated as rule:
            return problem(409, "rule-violated", "Not allowed now", str(rule), rule=rule.rule)
        return JSONResponse({"ticket_id": receipt.ticket_id, "created": receipt.created},
                            status_code=201 if receipt.created else 200)

    @router.post("/calls", responses={422: {"content": {"application/problem+json": {}}}})
    async def log_call(request: Request) -> Response:
        """The agent's "log this call as a ticket", with what the caller said."""
        log, error = await _read(request, CallLog)
        if error is not None:
            return error
        assert isinstance(log, CallLog)
        now = desk.clock.now()
        if (refused := _closed(now)) is not None:
            return refused
        agent = Actor.staff(log.agent)
        details = extract_details(log.subject, log.description)
        try:
            requester = Requester(name=log.caller_name, email=log.email, phone=log.caller_phone,
                                  organisation=log.organisation)
            receipt = desk.receive(
                channel=Channel.PHONE, requester=requester, subject=log.subject,
                description=log.description, actor=agent,
                product=log.product if log.product is not Product.UNKNOWN else details.product,
                product_version=log.product_version or details.product_version,
                device=log.device or details.device, intake_key=log.call_id, at=now)
            if not receipt.created and log.description.strip():
                # The telephony opened the ticket first: the agent's notes join it once.
                desk.record_reply_once(receipt.ticket_id, channel=Channel.PHONE,
                                       intake_key=f"{log.call_id}#log", text=log.description,
                                       product_version=log.product_version or details.product_version,
                                       device=log.device or details.device, actor=agent, at=now)
            _acknowledge(desk, receipt.ticket_id, log.agent, log.call_id)
        except InvalidValue as bad:
            return invalid([{"field": bad.field, "reason": bad.reason}])
        except RuleViolated as rule:
            return problem(409, "rule-violated", "Not allowed now", str(rule), rule=rule.rule)
        if mail is not None and log.email:
            mail.acknowledge_later(desk, receipt.ticket_id)
        return JSONResponse({"ticket_id": receipt.ticket_id, "created": receipt.created},
                            status_code=201 if receipt.created else 200)

    return router


def _linked(desk: SupportDesk, event: CallEvent, caller: Actor, now: datetime) -> Receipt | None:
    """The caller keyed in an existing ticket's ID: the call is a reply on it (once per call)."""
    try:
        desk.get_ticket(event.ticket_id)
    except (TicketNotFound, InvalidValue):
        return None
    return desk.record_reply_once(event.ticket_id, channel=Channel.PHONE, intake_key=event.call_id,
                                  text=f"Звонок с номера {event.caller} ({event.event})",
                                  actor=caller, at=now)


def _acknowledge(desk: SupportDesk, ticket_id: str, agent: str, call_id: str) -> None:
    """R18 on the phone: the agent told the caller the ticket's ID during the call."""
    if desk.get_ticket(ticket_id).acknowledged_at is None:
        try:
            desk.acknowledge(ticket_id, actor=Actor.staff(agent), message_id=f"call:{call_id}")
        except RuleViolated as rule:
            if rule.rule != "already_acknowledged":
                raise
