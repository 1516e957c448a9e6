from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from eventsourcing.application import Application

from domain.calendar import WorkingCalendar
from domain.errors import InvalidValue, RuleViolated
from domain.ids import ticket_uuid
from domain.sla import ClockName, ClockStatus, SlaPolicy, SlaRules, SlaSchedule
from domain.ticket import Ticket, TicketSnapshot
from domain.values import (
    Actor,
    Category,
    Channel,
    Level,
    PostponeReason,
    Product,
    RequiredInfo,
    Status,
)
from tests.helpers import AGENT, CLIENT, REQUESTER, SUPERVISOR, SYSTEM, msk

CAL = WorkingCalendar.default()
RULES = SlaRules(SlaPolicy.regulation_default(), CAL)


def received(**overrides: Any) -> Ticket:
    fields: dict[str, Any] = dict(
        ticket_id="P24-4K7Q9M",
        channel=Channel.EMAIL,
        requester=CLIENT,
        subject="Шлагбаум не открывается",
        description="Since 09:40 no passes open the barrier.",
        product=Product.CONTROL,
        product_version="3.14.2",
        at=msk("2025-04-28 10:00"),
        actor=SYSTEM,
        rules=RULES,
    )
    fields.update(overrides)
    return Ticket.receive(**fields)


def classified(level: Level = Level.STANDARD) -> Ticket:
    ticket = received()
    ticket.classify(
        level=level, product=Product.CONTROL, category=Category.OPERATIONAL_FAILURE,
        at=msk("2025-04-28 10:05"), actor=AGENT, rules=RULES,
    )
    return ticket


def replay(ticket: Ticket) -> Ticket:
    """Rebuild a ticket from its events, as the repository does."""
    rebuilt: Ticket | None = None
    for event in ticket.collect_events():
        rebuilt = event.mutate(rebuilt)
    assert rebuilt is not None
    return rebuilt


def test_aggregate_id_derives_from_the_ticket_id() -> None:
    assert received().id == ticket_uuid("P24-4K7Q9M")


def test_complete_request_is_new_and_clocks_run() -> None:
    ticket = received()
    assert ticket.status is Status.NEW
    assert ticket.missing == ()
    sla = ticket.sla(msk("2025-04-28 11:00"), CAL)
    assert sla.reaction.status is ClockStatus.ON_TRACK


def test_missing_version_puts_ticket_on_hold_from_receipt() -> None:
    ticket = received(product=Product.MOBILE_KEY, product_version="", device="")
    assert ticket.status is Status.WAITING_FOR_REQUESTER
    assert ticket.missing == (RequiredInfo.PRODUCT_VERSION, RequiredInfo.DEVICE)
    sla = ticket.sla(msk("2025-04-30 10:00"), CAL)
    assert sla.resolution.status is ClockStatus.PAUSED
    assert sla.resolution.used.total_seconds() == 0


def test_requester_reply_with_missing_info_resumes_the_clocks() -> None:
    ticket = received(product=Product.MOBILE_KEY, product_version="", device="")
    ticket.record_requester_reply(
        text="2.1.0 on iPhone 13", product_version="2.1.0", device="iPhone 13 / iOS 18",
        at=msk("2025-04-29 10:00"), actor=REQUESTER, rules=RULES,
    )
    assert ticket.status is Status.NEW
    assert ticket.missing == ()
    assert ticket.product_version == "2.1.0"
    sla = ticket.sla(msk("2025-04-29 11:00"), CAL)
    assert sla.resolution.status is ClockStatus.ON_TRACK
    assert sla.resolution.used.total_seconds() == 3600


def test_full_lifecycle_replays_to_the_same_state() -> None:
    ticket = classified()
    ticket.assign(assignee="agent.sidorov", at=msk("2025-04-28 10:06"), actor=AGENT)
    ticket.respond(text="Looking.", links=["https://docs.pass24online.ru/faq"],
                   at=msk("2025-04-28 10:10"), actor=AGENT, rules=RULES)
    ticket.request_information(text="Controller logs?", items=[RequiredInfo.DESCRIPTION],
                               at=msk("2025-04-28 10:20"), actor=AGENT, rules=RULES)
    ticket.record_requester_reply(text="Attached.", at=msk("2025-04-28 12:00"),
                                  actor=REQUESTER, rules=RULES)
    ticket.escalate(summary="Controller firmware bug", expected_release=date(2025, 5, 6),
                    at=msk("2025-04-28 13:00"), actor=AGENT, rules=RULES)
    ticket.record_fix_release(release="3.14.3", at=msk("2025-05-06 10:00"), actor=AGENT,
                              rules=RULES)
    ticket.postpone(reason=PostponeReason.CANNOT_REPRODUCE, note="no test rig",
                    at=msk("2025-05-06 11:00"), actor=AGENT, rules=RULES)
    ticket.resume(at=msk("2025-05-06 12:00"), actor=AGENT, rules=RULES)
    ticket.resolve(resolution="Firmware 3.14.3", at=msk("2025-05-06 13:00"), actor=AGENT,
                   rules=RULES)
    ticket.reopen(reason="Back again", at=msk("2025-05-07 10:00"), actor=REQUESTER, rules=RULES)
    ticket.resolve(resolution="Config fixed", at=msk("2025-05-07 11:00"), actor=AGENT, rules=RULES)
    ticket.close(at=msk("2025-05-08 12:00"), actor=SYSTEM)
    names = [type(e).__name__ for e in ticket.pending_events]
    assert names == [
        "Received", "Classified", "Assigned", "Responded", "InformationRequested",
        "RequesterReplied", "Escalated", "FixReleased", "Postponed", "Resumed", "Resolved",
        "Reopened", "Resolved", "Closed",
    ]
    snapshot = ticket.__dict__.copy()
    rebuilt = replay(ticket)
    assert rebuilt.__dict__.keys() == snapshot.keys()
    for key in snapshot:
        if key != "_pending_events":
            assert rebuilt.__dict__[key] == snapshot[key], key
    assert rebuilt.status is Status.CLOSED
    assert rebuilt.reopened == 1


def test_every_event_says_who_and_when() -> None:
    ticket = classified()
    ticket.respond(text="Hi", at=msk("2025-04-28 10:10"), actor=AGENT, rules=RULES)
    for e in ticket.pending_events:
        assert e.at.tzinfo is not None  # type: ignore[attr-defined]
        assert Actor.from_dict(e.actor).id  # type: ignore[attr-defined]


def test_clock_moving_events_record_due_instants_and_versions() -> None:
    ticket = classified(Level.EMERGENCY)
    sla = SlaSchedule.from_dict(ticket.pending_events[-1].sla)  # type: ignore[attr-defined]
    assert sla.level is Level.EMERGENCY
    assert sla.resolution.due_at == msk("2025-04-28 14:00")
    assert sla.policy_version == RULES.policy.version
    assert sla.calendar_version == CAL.version


def test_recorded_schedule_is_not_rewritten_by_a_later_policy() -> None:
    ticket = classified(Level.EMERGENCY)
    rebuilt = replay(ticket)
    assert rebuilt.schedule.resolution.due_at == msk("2025-04-28 14:00")


def test_event_class_names_are_stable_topics() -> None:
    assert Ticket.Received.__qualname__ == "Ticket.Received"  # type: ignore[attr-defined]
    for name in ["Acknowledged", "Classified", "Reclassified", "EmergencyConfirmed", "Assigned",
                 "Responded", "InformationRequested", "RequesterReplied", "Escalated",
                 "FixReleased", "Postponed", "Resumed", "Resolved", "Reopened", "Closed",
                 "SlaAtRisk", "SlaBreached"]:
        assert hasattr(Ticket, name), name


def test_cannot_respond_to_a_closed_ticket() -> None:
    ticket = classified()
    ticket.resolve(resolution="done", at=msk("2025-04-28 11:00"), actor=AGENT, rules=RULES)
    ticket.close(at=msk("2025-04-28 12:00"), actor=AGENT)
    with pytest.raises(RuleViolated, match="closed"):
        ticket.respond(text="hello?", at=msk("2025-04-28 13:00"), actor=AGENT, rules=RULES)


def test_emergency_needs_staff_confirmation() -> None:
    ticket = classified(Level.EMERGENCY)
    with pytest.raises(RuleViolated, match="staff"):
        ticket.confirm_emergency(at=msk("2025-04-28 10:10"), actor=REQUESTER)
    ticket.confirm_emergency(at=msk("2025-04-28 10:10"), actor=SUPERVISOR)
    assert ticket.emergency_confirmed
    with pytest.raises(RuleViolated, match="already"):
        ticket.confirm_emergency(at=msk("2025-04-28 10:11"), actor=SUPERVISOR)


def test_only_an_emergency_can_be_confirmed() -> None:
    with pytest.raises(RuleViolated, match="not classified as an emergency"):
        classified(Level.STANDARD).confirm_emergency(at=msk("2025-04-28 10:10"), actor=SUPERVISOR)


def test_downgrade_from_emergency_drops_the_confirmation() -> None:
    ticket = classified(Level.EMERGENCY)
    ticket.confirm_emergency(at=msk("2025-04-28 10:10"), actor=SUPERVISOR)
    ticket.reclassify(level=Level.CONSULTATION, reason="only a question",
                      at=msk("2025-04-28 10:20"), actor=SUPERVISOR, rules=RULES)
    assert not ticket.emergency_confirmed
    event = ticket.pending_events[-1]
    assert (event.from_level, event.level) == ("emergency", "consultation")  # type: ignore[attr-defined]
    assert event.reason == "only a question"  # type: ignore[attr-defined]


def test_postpone_needs_a_reason() -> None:
    with pytest.raises(InvalidValue, match="reason"):
        classified().postpone(reason=None, at=msk("2025-04-28 11:00"), actor=AGENT, rules=RULES)


def test_classify_refuses_unknown_product() -> None:
    with pytest.raises(InvalidValue) as error:
        received().classify(level=Level.STANDARD, product=Product.UNKNOWN,
                            category=Category.DEFECT, at=msk("2025-04-28 11:00"), actor=AGENT,
                            rules=RULES)
    assert error.value.field == "product"


def test_naive_instant_is_refused() -> None:
    with pytest.raises(InvalidValue, match="timezone-aware"):
        received(at=msk("2025-04-28 10:00").replace(tzinfo=None))


def test_history_only_moves_forward() -> None:
    with pytest.raises(InvalidValue, match="before the ticket's last change"):
        classified().respond(text="x", at=msk("2025-04-28 09:00"), actor=AGENT, rules=RULES)


def test_cannot_resolve_before_classification() -> None:
    with pytest.raises(RuleViolated, match="classify"):
        received().resolve(resolution="x", at=msk("2025-04-28 11:00"), actor=AGENT, rules=RULES)


def test_cannot_escalate_while_waiting_for_the_requester() -> None:
    ticket = classified()
    ticket.request_information(text="logs?", at=msk("2025-04-28 11:00"), actor=AGENT, rules=RULES)
    with pytest.raises(RuleViolated, match="waiting_for_requester"):
        ticket.escalate(summary="bug", at=msk("2025-04-28 12:00"), actor=AGENT, rules=RULES)


def test_fix_release_requires_an_escalation() -> None:
    with pytest.raises(RuleViolated, match="release"):
        classified().record_fix_release(release="1.2", at=msk("2025-04-28 12:00"), actor=AGENT,
                                        rules=RULES)


def test_sla_breach_is_recorded_once_per_clock_cycle() -> None:
    ticket = classified(Level.EMERGENCY)
    late = msk("2025-04-28 15:00")
    assert ticket.record_sla_alert(clock=ClockName.RESOLUTION, breached=True, at=late,
                                   actor=SYSTEM, calendar=CAL)
    assert not ticket.record_sla_alert(clock=ClockName.RESOLUTION, breached=True, at=late,
                                       actor=SYSTEM, calendar=CAL)
    assert type(ticket.pending_events[-1]).__name__ == "SlaBreached"


def test_sla_breach_cannot_be_recorded_early() -> None:
    with pytest.raises(RuleViolated, match="on_track"):
        classified(Level.EMERGENCY).record_sla_alert(
            clock=ClockName.RESOLUTION, breached=True, at=msk("2025-04-28 10:30"),
            actor=SYSTEM, calendar=CAL,
        )


def test_snapshot_restores_the_same_state() -> None:
    ticket = classified()
    ticket.escalate(summary="bug", expected_release=date(2025, 5, 6), at=msk("2025-04-28 11:00"),
                    actor=AGENT, rules=RULES)
    app: Application[Any] = Application(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    snapshot = TicketSnapshot.take(ticket)
    stored = app.mapper.to_stored_event(snapshot)
    restored = app.mapper.to_domain_event(stored).mutate(None)
    for key, value in ticket.__dict__.items():
        if key != "_pending_events":
            assert restored.__dict__[key] == value, key
    assert restored.status is Status.WAITING_FOR_RELEASE


def test_a_copied_ticket_is_independent_of_the_original() -> None:
    import copy

    original = classified()
    original.collect_events()
    before = {k: copy.deepcopy(v) for k, v in original.__dict__.items()}
    clone = copy.deepcopy(original)
    clone.escalate(summary="Firmware", expected_release=date(2025, 5, 6),
                   at=msk("2025-04-28 13:00"), actor=AGENT, rules=RULES)
    clone.record_fix_release(release="3.14.3", at=msk("2025-05-06 10:00"), actor=AGENT,
                             rules=RULES)
    assert original.__dict__ == before
    assert original.pending_events == []
    assert len(clone.pending_events) >= 2
