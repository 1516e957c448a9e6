"""SupportDesk on the in-memory store: commands, idempotent intake, conflicts."""

from __future__ import annotations

import random
from typing import Any

import pytest

from domain.errors import ConcurrencyConflict, RuleViolated, TicketNotFound
from domain.sla import ClockStatus
from domain.values import Actor, Category, Channel, Level, Product, Status
from services.application import SupportDesk
from services.clock import ManualClock
from tests.helpers import AGENT, CLIENT, SYSTEM, msk

POPO = {"PERSISTENCE_MODULE": "eventsourcing.popo"}


@pytest.fixture()
def clock() -> ManualClock:
    return ManualClock(msk("2025-04-28 10:00"))


@pytest.fixture()
def desk(clock: ManualClock) -> SupportDesk:
    return SupportDesk(env=POPO, clock=clock)


def receive(desk: SupportDesk, key: str = "", **extra: Any) -> str:
    fields: dict[str, Any] = dict(
        channel=Channel.EMAIL, requester=CLIENT, subject="Не работает пропуск",
        description="Pass rejected at gate 2", product=Product.ONLINE, product_version="2025.4",
        actor=SYSTEM, intake_key=key,
    )
    fields.update(extra)
    return desk.receive(**fields).ticket_id


def test_received_ticket_gets_a_human_friendly_id(desk: SupportDesk) -> None:
    ticket_id = receive(desk)
    assert ticket_id.startswith("P24-") and len(ticket_id) == 10
    ticket = desk.get_ticket(ticket_id.lower())
    assert ticket.ticket_id == ticket_id
    assert ticket.received_at == msk("2025-04-28 10:00")


def test_same_intake_key_is_one_ticket(desk: SupportDesk) -> None:
    first = desk.receive(channel=Channel.EMAIL, requester=CLIENT, subject="a", description="b",
                         actor=SYSTEM, intake_key="<m1@example.ru>")
    again = desk.receive(channel=Channel.EMAIL, requester=CLIENT, subject="a", description="b",
                         actor=SYSTEM, intake_key="<m1@example.ru>")
    assert first.created and not again.created
    assert again.ticket_id == first.ticket_id


def test_same_key_on_another_channel_is_another_ticket(desk: SupportDesk) -> None:
    assert receive(desk, "42", channel=Channel.PHONE) != receive(desk, "42", channel=Channel.FORM)


class Repeating(random.Random):
    """Draws the same ID sequence again after reset, to force a collision."""

    def __init__(self) -> None:
        super().__init__(7)

    def reset(self) -> None:
        self.seed(7)


def test_ticket_id_collision_is_retried_with_a_fresh_id(clock: ManualClock) -> None:
    rng = Repeating()
    desk = SupportDesk(env=POPO, clock=clock, rng=rng)
    first = receive(desk)
    rng.reset()
    second = receive(desk)
    assert first != second
    assert desk.get_ticket(first).ticket_id == first


def test_commands_move_the_ticket_and_its_clocks(desk: SupportDesk, clock: ManualClock) -> None:
    ticket_id = receive(desk)
    clock.set(msk("2025-04-28 10:05"))
    desk.classify(ticket_id, level=Level.EMERGENCY, product=Product.ONLINE,
                  category=Category.OPERATIONAL_FAILURE, actor=AGENT)
    clock.set(msk("2025-04-28 10:30"))
    result = desk.respond(ticket_id, text="On it", actor=AGENT)
    assert result.version == 3
    sla = desk.sla(ticket_id, msk("2025-04-28 11:00"))
    assert sla.reaction.status is ClockStatus.MET
    assert sla.resolution.due_at == msk("2025-04-28 14:00")
    clock.set(msk("2025-04-28 13:00"))
    desk.resolve(ticket_id, resolution="fixed", actor=AGENT)
    assert desk.get_ticket(ticket_id).status is Status.RESOLVED
    assert desk.sla(ticket_id).resolution.status is ClockStatus.MET


def test_ticket_as_of_an_earlier_version(desk: SupportDesk, clock: ManualClock) -> None:
    ticket_id = receive(desk)
    desk.assign(ticket_id, assignee="agent.a", actor=AGENT)
    desk.assign(ticket_id, assignee="agent.b", actor=AGENT)
    assert desk.get_ticket(ticket_id, version=2).assignee == "agent.a"
    assert [type(e).__name__ for e in desk.ticket_events(ticket_id)] == [
        "Received", "Assigned", "Assigned"]


def test_unknown_ticket_is_reported(desk: SupportDesk) -> None:
    with pytest.raises(TicketNotFound):
        desk.get_ticket("P24-ZZZZZZ")


def test_domain_rule_errors_leave_nothing_written(desk: SupportDesk) -> None:
    ticket_id = receive(desk)
    with pytest.raises(RuleViolated):
        desk.resolve(ticket_id, resolution="x", actor=AGENT)
    assert len(desk.ticket_events(ticket_id)) == 1


def test_a_concurrent_write_is_retried_not_lost(desk: SupportDesk) -> None:
    ticket_id = receive(desk)
    original_save = desk.save
    interfered: list[bool] = []

    def save_after_a_rival(*objs: Any, **kwargs: Any) -> Any:
        if not interfered:
            interfered.append(True)
            rival = desk.get_ticket(ticket_id)
            rival.assign(assignee="agent.rival", at=msk("2025-04-28 10:00"), actor=AGENT)
            original_save(rival)
        return original_save(*objs, **kwargs)

    desk.save = save_after_a_rival  # type: ignore[method-assign]
    desk.respond(ticket_id, text="hello", actor=AGENT)
    names = [type(e).__name__ for e in desk.ticket_events(ticket_id)]
    assert names == ["Received", "Assigned", "Responded"]


def test_endless_conflicts_are_reported(desk: SupportDesk) -> None:
    ticket_id = receive(desk)
    original_save = desk.save

    def always_beaten(*objs: Any, **kwargs: Any) -> Any:
        rival = desk.get_ticket(ticket_id)
        rival.assign(assignee=f"agent.{rival.version}", at=msk("2025-04-28 10:00"), actor=AGENT)
        original_save(rival)
        return original_save(*objs, **kwargs)

    desk.save = always_beaten  # type: ignore[method-assign]
    with pytest.raises(ConcurrencyConflict):
        desk.respond(ticket_id, text="hello", actor=AGENT)


def test_save_stores_caches_and_snapshots_as_eventsourcings_own_save(clock: ManualClock) -> None:
    # SupportDesk.save collects aggregates without eventsourcing's Protocol checks; the
    # same saves through eventsourcing's Application.save leave the same store behind.
    from eventsourcing.application import Application

    def history(desk: SupportDesk) -> list[tuple[int, str]]:
        ticket_id = receive(desk, key="<same@x>")
        for n in range(30):  # past the snapshot interval (50 events)
            desk.respond(ticket_id, text=f"Ответ {n}", actor=AGENT)
            desk.record_requester_reply(ticket_id, text=f"Ещё {n}", actor=Actor.requester("olga@example.ru"))
        ticket = desk.get_ticket(ticket_id)
        assert desk.repository.cache is not None
        assert desk.repository.cache.get(ticket.id).version == ticket.version  # cached on save
        assert desk.snapshots is not None
        assert [s.originator_version for s in desk.snapshots.get(ticket.id)] == [50]
        return [(n.originator_version, n.topic) for n in desk.recorder.select_notifications(1, 1000)]

    env = {**POPO, "AGGREGATE_CACHE_MAXSIZE": "100"}
    ours = history(SupportDesk(env=env, clock=ManualClock(clock.now())))
    theirs_desk = SupportDesk(env=env, clock=ManualClock(clock.now()))
    theirs_desk.save = Application.save.__get__(theirs_desk)  # type: ignore[method-assign]
    theirs = history(theirs_desk)
    assert len(ours) == 62 and ours == theirs  # ticket events and the intake record, alike


def test_save_still_takes_a_bare_event(desk: SupportDesk) -> None:
    from domain.intake import IntakeRecord

    record = IntakeRecord(channel="email", intake_key="<bare@x>", ticket_id="P24-AAAAAA")
    (event,) = record.collect_events()
    desk.save(event)  # not an aggregate: eventsourcing's own collect_events takes it
    assert desk.ticket_for_intake_key(Channel.EMAIL, "<bare@x>") == "P24-AAAAAA"
