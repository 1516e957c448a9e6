"""Ticket commands and the per-ticket queries (state, history, state as of an instant)."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Annotated, Any, cast

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request, Response
from fastapi.responses import JSONResponse

from adapters.webhooks import answer
from domain.intake import Decision, IntakeRequest
from domain.values import Actor, Requester
from services.api import models as m
from services.api.auth import INTAKE, READERS, STAFF, SUPERVISORS, Principal
from services.api.deps import Desk, require
from services.api.problems import language, problem_responses
from services.api.views import event_view, ticket_view
from services.application import CommandResult, SupportDesk
from services.intake import IntakeService

router = APIRouter(prefix="/tickets", tags=["tickets"])

Staff = Annotated[Principal, Depends(require(STAFF))]
Supervisor = Annotated[Principal, Depends(require(SUPERVISORS))]
Reader = Annotated[Principal, Depends(require(READERS))]
Intake = Annotated[Principal, Depends(require(INTAKE))]
TicketId = Annotated[str, Path(min_length=1, max_length=40, description="e.g. P24-4K7Q9M")]

COMMAND_ERRORS = problem_responses(400, 401, 403, 404, 409, 422)


def _out(result: CommandResult) -> m.CommandOut:
    return m.CommandOut(id=result.ticket_id, version=result.version, position=result.position)


_BODY_FIELDS = {"requester": "body.requester", "email": "body.requester.email",
                "phone": "body.requester.phone"}
"""Where the gate's fields are in the body, for the problem's ``errors``."""


async def get_gate(request: Request) -> IntakeService:
    gate: IntakeService = request.app.state.gate
    return gate


Gate = Annotated[IntakeService, Depends(get_gate)]


@router.post("", status_code=201, response_model=m.Created,
             responses=problem_responses(400, 401, 403, 409, 422))
def receive(body: m.ReceiveIn, gate: Gate, caller: Intake, request: Request,
            response: Response) -> m.Created | JSONResponse:
    """Register a request through the intake gate, like every channel: the same intake key
    answers with the same ticket (200), a subject naming a ticket threads onto it (200; 202
    when the sender is not its requester or a contact), a channel closed today is 403 (R6)."""
    who = body.requester
    outcome = gate.submit(IntakeRequest(
        channel=body.channel, intake_key=body.intake_key, actor=caller.actor,
        name=who.name, email=who.email, phone=who.phone, organisation=who.organisation,
        subject=body.subject, text=body.description, product=body.product,
        product_version=body.product_version, device=body.device,
        contacts=tuple(body.contacts),
        entered_by=caller.name if caller.actor.kind.value == "staff" else "",
    ))
    if outcome.decision in (Decision.REFUSED, Decision.INVALID) or outcome.ticket_id is None:
        return cast(JSONResponse, answer(outcome, support_email=gate.support_email,
                                         instance=request.url.path, fields=_BODY_FIELDS,
                                         prefix="body.", language=language(request)))
    response.headers["Location"] = f"/tickets/{outcome.ticket_id}"
    response.status_code = {Decision.CREATED: 201, Decision.LINKED: 201,
                            Decision.THIRD_PARTY: 202}.get(outcome.decision, 200)
    return m.Created(id=outcome.ticket_id, created=outcome.created, position=outcome.position,
                     outcome=outcome.decision.value)


@router.get("/{ticket_id}", response_model=m.TicketOut, responses=problem_responses(401, 403, 404, 422))
def get_ticket(ticket_id: TicketId, desk: Desk, _: Reader) -> Response:
    """The ticket now, with both SLA clocks."""
    ticket = desk.get_ticket(ticket_id)
    return m.json_response(
        ticket_view(ticket, desk.clock.now(), desk.calendar, desk.latest_versions), m.TicketOut)


@router.get("/{ticket_id}/history", response_model=m.HistoryOut,
            responses=problem_responses(401, 403, 404, 422))
def history(
    ticket_id: TicketId,
    desk: Desk,
    _: Reader,
    as_of: Annotated[m.IsoInstant | None, Query(description="ISO instant with offset")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 500,
    offset: Annotated[int, Query(ge=0, le=1_000_000_000)] = 0,
) -> Response:
    """Every event of the ticket in order, from the event store; with ``as_of``, only
    those recorded by then, and the ticket's full state as it stood at that instant."""
    events, ticket = desk.ticket_as_of(ticket_id, as_of)
    if ticket is None:
        assert as_of is not None
        raise HTTPException(404, f"ticket {ticket_id} was not yet received at {as_of.isoformat()}")
    state = ticket_view(ticket, as_of or desk.clock.now(), desk.calendar, desk.latest_versions)
    return m.json_response({
        "id": state["id"],
        "as_of": as_of.isoformat() if as_of else None,
        "total": len(events),
        "limit": limit,
        "offset": offset,
        "events": [event_view(e) for e in events[offset: offset + limit]],
        "state": state,
    }, m.HistoryOut)


def _command(
    path: str, body_model: type[m.Body], guard: Any, summary: str
) -> Callable[[Callable[..., CommandResult]], None]:
    """Register ``POST /tickets/{id}/<path>`` for a desk command.

    The endpoint's signature is built explicitly so FastAPI sees the body
    model and the role guard of each command.
    """

    def register(run: Callable[..., CommandResult]) -> None:
        def endpoint(**kwargs: Any) -> m.CommandOut:
            return _out(run(kwargs["desk"], kwargs["ticket_id"], kwargs["caller"], kwargs["body"]))

        kind = inspect.Parameter.KEYWORD_ONLY
        endpoint.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
            [
                inspect.Parameter("ticket_id", kind, annotation=TicketId),
                inspect.Parameter("body", kind, annotation=body_model),
                inspect.Parameter("desk", kind, annotation=Desk),
                inspect.Parameter("caller", kind, annotation=guard),
            ],
            return_annotation=m.CommandOut,
        )
        endpoint.__name__ = path.replace("-", "_")
        endpoint.__doc__ = summary
        router.post(f"/{{ticket_id}}/{path}", response_model=m.CommandOut,
                    responses=COMMAND_ERRORS, summary=summary)(endpoint)

    return register


@_command("classify", m.ClassifyIn, Staff, "Set the SLA level, product and category")
def _classify(desk: Desk, tid: str, who: Principal, b: m.ClassifyIn) -> CommandResult:
    return desk.classify(tid, level=b.level, product=b.product, category=b.category, actor=who.actor)


@_command("reclassify", m.ReclassifyIn, Supervisor,
          "Change level/product/category; clocks recomputed from receipt (R12)")
def _reclassify(desk: Desk, tid: str, who: Principal, b: m.ReclassifyIn) -> CommandResult:
    return desk.reclassify(tid, reason=b.reason, level=b.level, product=b.product,
                           category=b.category, actor=who.actor)


@_command("confirm-emergency", m.NoteIn, Supervisor, "Confirm an emergency: handled out of turn")
def _confirm(desk: Desk, tid: str, who: Principal, b: m.NoteIn) -> CommandResult:
    return desk.confirm_emergency(tid, note=b.note, actor=who.actor)


@_command("assign", m.AssignIn, Staff, "Assign the ticket to a staff member")
def _assign(desk: Desk, tid: str, who: Principal, b: m.AssignIn) -> CommandResult:
    return desk.assign(tid, assignee=b.assignee, actor=who.actor)


@_command("respond", m.RespondIn, Staff, "Reply to the requester (text and/or links, R20)")
def _respond(desk: Desk, tid: str, who: Principal, b: m.RespondIn) -> CommandResult:
    return desk.respond(tid, text=b.text, links=[str(u) for u in b.links], actor=who.actor)


@_command("request-information", m.RequestInformationIn, Staff,
          "Ask the requester for more; the clocks pause (R14)")
def _request_info(desk: Desk, tid: str, who: Principal, b: m.RequestInformationIn) -> CommandResult:
    return desk.request_information(tid, text=b.text, items=b.items, actor=who.actor)


@_command("requester-reply", m.RequesterReplyIn, Intake,
          "Record what the requester said (e.g. on the phone): the requester is the author, "
          "the caller is recorded as entered_by")
def _reply(desk: Desk, tid: str, who: Principal, b: m.RequesterReplyIn) -> CommandResult:
    return desk.record_requester_reply(tid, text=b.text, product_version=b.product_version,
                                       device=b.device, message_id=b.message_id,
                                       actor=_requester_of(desk, tid), entered_by=who.name)


def _requester_of(desk: SupportDesk, ticket_id: str) -> Actor:
    requester = desk.get_ticket(ticket_id).requester
    return Actor.requester(requester.email or requester.phone or requester.name)


def _unchanged(desk: SupportDesk, ticket_id: str, result: CommandResult | None) -> CommandResult:
    """An idempotent command that changed nothing answers with the ticket as it is."""
    if result is not None:
        return result
    ticket = desk.get_ticket(ticket_id)
    return CommandResult(ticket.ticket_id, ticket.version, None)


@_command("contacts", m.ContactIn, Staff,
          "Trust another address: its letters thread as the requester's (R19)")
def _contact(desk: Desk, tid: str, who: Principal, b: m.ContactIn) -> CommandResult:
    return _unchanged(desk, tid, desk.add_contact(tid, email=b.email, actor=who.actor))


LetterId = Annotated[str, Path(min_length=1, max_length=40, pattern=r"^L-[0-9A-F]+$",
                               description="a kept letter's ID, e.g. L-3F2A9C0B1D4E")]


@router.post("/{ticket_id}/third-party-messages/{message_id}/accept", response_model=m.CommandOut,
             responses=COMMAND_ERRORS)
def accept_third_party_message(ticket_id: TicketId, message_id: LetterId, desk: Desk,
                               caller: Staff) -> m.CommandOut:
    """Accept a letter from a non-contact as the requester's message (R19): the reaction
    clock starts, a wait for the requester ends, its files join the ticket's; a resolved
    or closed ticket is reopened."""
    return _out(desk.accept_third_party_message(ticket_id, message_id=message_id,
                                                actor=caller.actor))


@_command("escalate", m.EscalateIn, Staff, "Hand over to development (R13)")
def _escalate(desk: Desk, tid: str, who: Principal, b: m.EscalateIn) -> CommandResult:
    return desk.escalate(tid, summary=b.summary, expected_release=b.expected_release,
                         issue_ref=b.issue_ref, actor=who.actor)


@_command("fix-release", m.FixReleaseIn, Staff, "Record the release that carries the fix")
def _release(desk: Desk, tid: str, who: Principal, b: m.FixReleaseIn) -> CommandResult:
    return desk.record_fix_release(tid, release=b.release, notes=b.notes, actor=who.actor)


@_command("postpone", m.PostponeIn, Staff, "Postpone with one of the regulation's reasons (R17)")
def _postpone(desk: Desk, tid: str, who: Principal, b: m.PostponeIn) -> CommandResult:
    return desk.postpone(tid, reason=b.reason, note=b.note, actor=who.actor)


@_command("resume", m.NoteIn, Staff, "Resume a postponed ticket")
def _resume(desk: Desk, tid: str, who: Principal, b: m.NoteIn) -> CommandResult:
    return desk.resume(tid, note=b.note, actor=who.actor)


@_command("resolve", m.ResolveIn, Staff, "Resolve: the resolution clock stops")
def _resolve(desk: Desk, tid: str, who: Principal, b: m.ResolveIn) -> CommandResult:
    return desk.resolve(tid, resolution=b.resolution, actor=who.actor)


@_command("reopen", m.ReopenIn, Staff, "Reopen a resolved ticket")
def _reopen(desk: Desk, tid: str, who: Principal, b: m.ReopenIn) -> CommandResult:
    return desk.reopen(tid, reason=b.reason, actor=who.actor)


@_command("close", m.NoteIn, Staff, "Close a resolved ticket")
def _close(desk: Desk, tid: str, who: Principal, b: m.NoteIn) -> CommandResult:
    return desk.close_ticket(tid, note=b.note, actor=who.actor)
