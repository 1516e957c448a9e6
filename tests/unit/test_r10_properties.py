"""R10 as a property: whatever staff did before, a requester's message leaves the
reaction clock running (not paused, not met) until support replies, and a replayed
ticket agrees with the one that ran the commands."""

from __future__ import annotations

from datetime import timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from domain.calendar import WorkingCalendar
from domain.errors import DeskError
from domain.sla import ClockStatus, SlaPolicy, SlaRules
from domain.ticket import Ticket
from domain.values import Category, Channel, Level, PostponeReason, Product, Status
from tests.helpers import AGENT, CLIENT, REQUESTER, SYSTEM, msk

CAL = WorkingCalendar.default()
RULES = SlaRules(SlaPolicy.regulation_default(), CAL)
STEPS = ("respond", "ask", "postpone", "escalate", "resume", "release", "reply", "letter",
         "accept")


def apply(ticket: Ticket, step: str, at: object) -> None:
    kw = {"at": at, "rules": RULES}
    if step == "respond":
        ticket.respond(text="Ответ", actor=AGENT, **kw)  # type: ignore[arg-type]
    elif step == "ask":
        ticket.request_information(text="Логи?", actor=AGENT, **kw)  # type: ignore[arg-type]
    elif step == "postpone":
        ticket.postpone(reason=PostponeReason.CANNOT_REPRODUCE, actor=AGENT, **kw)  # type: ignore[arg-type]
    elif step == "escalate":
        ticket.escalate(summary="Баг", actor=AGENT, **kw)  # type: ignore[arg-type]
    elif step == "resume":
        ticket.resume(actor=AGENT, **kw)  # type: ignore[arg-type]
    elif step == "release":
        ticket.record_fix_release(release="3.2", actor=AGENT, **kw)  # type: ignore[arg-type]
    elif step == "reply":
        ticket.record_requester_reply(text="Ну что?", actor=REQUESTER, **kw)  # type: ignore[arg-type]
    elif step == "letter":
        ticket.receive_third_party_message(channel=Channel.EMAIL, intake_key=f"<{at}>",
                                           sender="x@y.ru", text="чужое", at=at,  # type: ignore[arg-type]
                                           actor=SYSTEM)
    elif step == "accept" and ticket.pending_third_party_messages:
        ticket.accept_third_party_message(
            message_id=ticket.pending_third_party_messages[0]["message_id"], actor=AGENT, **kw)  # type: ignore[arg-type]


@settings(max_examples=150, deadline=None)
@given(st.lists(st.sampled_from(STEPS), max_size=12), st.booleans())
def test_a_requester_message_always_leaves_the_reaction_clock_running(
    steps: list[str], missing: bool
) -> None:
    at = msk("2025-04-28 10:00")
    ticket = Ticket.receive(ticket_id="P24-4K7Q9M", channel=Channel.EMAIL, requester=CLIENT,
                            subject="Касса", description="Сбой", product=Product.CONTROL,
                            product_version="" if missing else "3.1", at=at, actor=SYSTEM,
                            rules=RULES)
    at += timedelta(minutes=5)
    ticket.classify(level=Level.STANDARD, product=Product.CONTROL, category=Category.DEFECT,
                    at=at, actor=AGENT, rules=RULES)
    for step in steps:
        at += timedelta(minutes=7)
        status_before = ticket.status
        wrote = step == "reply" or (step == "accept" and bool(ticket.pending_third_party_messages))
        try:
            apply(ticket, step, at)
        except DeskError:
            continue
        if wrote:
            reaction = ticket.sla(at + timedelta(minutes=1), CAL).reaction
            assert reaction.status in (ClockStatus.ON_TRACK, ClockStatus.AT_RISK), (steps, step)
            # The status stays for a postponement or a wait for a release; only a wait
            # for the requester ends.
            if status_before in (Status.POSTPONED, Status.WAITING_FOR_RELEASE):
                assert ticket.status is status_before
            else:
                assert ticket.status is not Status.WAITING_FOR_REQUESTER
        if step == "letter":
            assert ticket.status is status_before
    rebuilt: Ticket | None = None
    for event in ticket.collect_events():
        rebuilt = event.mutate(rebuilt)
    assert rebuilt is not None
    assert (rebuilt.status, rebuilt.sla_recorded, rebuilt.history) == (
        ticket.status, ticket.sla_recorded, ticket.history)
    # What the events recorded is what the history decides (check, then record).
    assert ticket.sla_recorded == RULES.schedule(ticket.history).as_dict()
