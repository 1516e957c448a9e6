"""``/intake/phone``: call events from the telephony and calls logged by an agent.

Every call is one ticket, keyed by the call ID: the incoming, answered and ended
events of a call (in any order, any number of times) and the agent's log of it
all land on the same ticket. The router only translates; the intake gate decides.
"""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from adapters.signing import WebhookVerifier
from adapters.webhooks import PROBLEMS, Gate, answer, signed_model, verifier_for
from domain.intake import Decision, IntakeRequest
from domain.values import Actor, Channel, Product


class CallEvent(BaseModel):
    event: Literal["incoming", "answered", "ended"]
    call_id: str = Field(min_length=1)
    caller: str = Field(min_length=1, description="the caller's number")
    agent: str = ""
    ticket_id: str = Field(default="", description="an ID the caller keyed in (IVR)")
    duration_seconds: int | None = Field(default=None, ge=0)


class CallLog(BaseModel):
    call_id: str = Field(min_length=1)
    agent: str = Field(min_length=1)
    caller_phone: str = Field(min_length=1)
    caller_name: str = ""
    email: str = ""
    organisation: str = ""
    subject: str = Field(min_length=1)
    description: str = ""
    product: Product = Product.UNKNOWN
    product_version: str = ""
    device: str = ""


def build_phone_router(gate: Gate, *, secret: str, support_email: str,
                       verifier: WebhookVerifier | None = None) -> APIRouter:
    router = APIRouter(prefix="/intake/phone", tags=["intake"])
    check = verifier_for(secret, "phone", verifier)

    @router.post("/events", responses=PROBLEMS)
    async def call_event(request: Request) -> Response:
        """A call event from the telephony: opens the call's ticket, or threads onto a named one."""
        event = await signed_model(request, check, CallEvent)
        if isinstance(event, Response):
            return event
        ended_by = event.agent if event.event == "ended" else ""
        outcome = gate(IntakeRequest(
            channel=Channel.PHONE, intake_key=event.call_id, actor=Actor.requester(event.caller),
            phone=event.caller, subject=f"Звонок с номера {event.caller}",
            thread_hints=(event.ticket_id,) if event.ticket_id else (),
            acknowledged_by=ended_by,
        ))
        return answer(outcome, support_email=support_email, instance=request.url.path,
                      fields={"phone": "caller", "requester": "caller"})

    @router.post("/calls", responses=PROBLEMS)
    async def log_call(request: Request) -> Response:
        """The agent's "log this call as a ticket", with what the caller said; the agent
        told the caller the ticket's ID (R18 by voice)."""
        log = await signed_model(request, check, CallLog)
        if isinstance(log, Response):
            return log
        call = IntakeRequest(
            channel=Channel.PHONE, intake_key=log.call_id, actor=Actor.staff(log.agent),
            name=log.caller_name, email=log.email, phone=log.caller_phone,
            organisation=log.organisation, subject=log.subject, text=log.description,
            product=log.product, product_version=log.product_version, device=log.device,
            acknowledged_by=log.agent, entered_by=log.agent,
        )
        outcome = gate(call)
        if outcome.decision is Decision.DUPLICATE and outcome.ticket_id and log.description.strip():
            # The telephony opened the call's ticket first: the agent's notes join it, once.
            gate(IntakeRequest(
                channel=Channel.PHONE, intake_key=f"{log.call_id}#log", actor=call.actor,
                email=log.email, phone=log.caller_phone, subject=log.subject,
                text=log.description, product_version=log.product_version, device=log.device,
                thread_hints=(outcome.ticket_id,), entered_by=log.agent,
            ))
        return answer(outcome, support_email=support_email, instance=request.url.path,
                      fields={"phone": "caller_phone", "requester": "caller_phone"})

    return router
