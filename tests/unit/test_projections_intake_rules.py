"""Read models over the intake-rule events: the lifecycle fold agrees with the aggregate,
and third-party letters wait in the review list until staff accept them."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta

import pytest

from domain.values import Category, Channel, Level, PostponeReason, Product, Requester
from projections.readmodels import ReadModels
from projections.runner import ProjectionRunner
from projections.store import SQLiteReadStore
from projections.system import build_projections
from services.application import SupportDesk
from services.clock import ManualClock
from tests.helpers import AGENT, CLIENT, REQUESTER, SYSTEM, msk


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(msk("2025-04-28 09:00"))


@pytest.fixture
def desk(clock: ManualClock) -> Iterator[SupportDesk]:
    desk = SupportDesk(clock=clock)
    yield desk
    desk.close()


@pytest.fixture
def models(desk: SupportDesk, clock: ManualClock) -> Iterator[tuple[ReadModels, ProjectionRunner]]:
    store = SQLiteReadStore(":memory:")
    yield build_projections(desk, calendar=desk.calendar, clock=clock, store=store)
    store.close()


def letter_of(desk: SupportDesk, tid: str, index: int = -1) -> str:
    message_id: str = desk.get_ticket(tid).third_party_messages[index]["message_id"]
    return message_id


def check_follows(desk: SupportDesk, clock: ManualClock, read: ReadModels, runner: ProjectionRunner,
                  tid: str, steps: list[Callable[[], object]]) -> None:
    for step in steps:
        clock.advance(timedelta(minutes=20))
        step()
        runner.catch_up()
        ticket = desk.get_ticket(tid)
        row = read.store.query("SELECT * FROM rm_queue WHERE ticket_id = ?", (tid,))[0]
        assert (row["status"], row["version"]) == (ticket.status.value, ticket.version)
        timers = read.sla_timers(ticket_id=tid).items[0]
        state = ticket.sla(clock.now(), desk.calendar)
        assert timers["status"] == ticket.status.value
        assert timers["reaction"]["status"] == state.reaction.status.value
        assert timers["reaction"]["due_at"] == state.reaction.due_at.isoformat()


def test_the_fold_follows_the_aggregate_through_the_new_events(
    desk: SupportDesk, clock: ManualClock, models: tuple[ReadModels, ProjectionRunner]
) -> None:
    read, runner = models
    tid = desk.receive(channel=Channel.EMAIL, requester=CLIENT, subject="Касса", description="Сбой",
                       actor=SYSTEM, intake_key="<a@x>").ticket_id  # no version: asked by the system
    letter: list[str] = []
    check_follows(desk, clock, read, runner, tid, [
        lambda: desk.request_information(tid, text="И скриншот", actor=AGENT),  # already waiting
        lambda: desk.record_third_party_message_once(
            tid, channel=Channel.EMAIL, intake_key="<t1@x>", sender="x@y.ru", text="чужое",
            actor=SYSTEM),
        lambda: letter.append(letter_of(desk, tid)),
        lambda: desk.accept_third_party_message(tid, message_id=letter[0], actor=AGENT),
        lambda: desk.classify(tid, level=Level.STANDARD, product=Product.ONLINE,
                              category=Category.DEFECT, actor=AGENT),
        lambda: desk.postpone(tid, reason=PostponeReason.CANNOT_REPRODUCE, actor=AGENT),
        lambda: desk.record_requester_reply(tid, text="Ну что?", actor=REQUESTER),  # R10
        lambda: desk.request_information(tid, text="Версия?", actor=AGENT),  # postponed: stays
        lambda: desk.add_contact(tid, email="boss@x.ru", actor=AGENT),
        lambda: desk.resume(tid, actor=AGENT),
    ])
    stats = read.store.query("SELECT first_reply_seconds FROM rm_sla_stats")[0]
    assert stats["first_reply_seconds"] is not None  # the agent's request, not the system's


def test_a_phone_ticket_without_email_is_not_parked(
    desk: SupportDesk, clock: ManualClock, models: tuple[ReadModels, ProjectionRunner]
) -> None:
    read, runner = models
    tid = desk.receive(channel=Channel.PHONE, requester=Requester(phone="+7 900 100-20-30"),
                       subject="Не открывается", description="Шлагбаум", actor=AGENT).ticket_id
    check_follows(desk, clock, read, runner, tid, [
        lambda: desk.record_notice_not_sent(tid, reason="no email address", actor=SYSTEM),
        lambda: desk.request_information(tid, text="Позвонили, спросили версию", actor=AGENT),
        lambda: desk.record_requester_reply(tid, text="3.1", product_version="3.1",
                                            actor=REQUESTER, entered_by=AGENT.id),
    ])
    assert read.queue(status="new").total == 1


def test_letters_wait_for_review_until_accepted(
    desk: SupportDesk, clock: ManualClock, models: tuple[ReadModels, ProjectionRunner]
) -> None:
    read, runner = models
    tid = desk.receive(channel=Channel.EMAIL, requester=CLIENT, subject="Касса", description="Сбой",
                       product_version="3.1", actor=SYSTEM).ticket_id
    for n in (1, 2):
        clock.advance(timedelta(minutes=5))
        desk.record_third_party_message_once(tid, channel=Channel.EMAIL, intake_key=f"<t{n}@x>",
                                             sender=f"Чужой {n} <s{n}@y.ru>", text="a" * 1000,
                                             actor=SYSTEM)
    runner.catch_up()
    pending = read.third_party_letters()
    assert pending.total == 2
    first = pending.items[0]
    assert first["ticket_id"] == tid and first["sender"] == "Чужой 1 <s1@y.ru>"
    assert len(first["excerpt"]) == 300 and first["accepted_at"] is None
    clock.advance(timedelta(minutes=5))
    desk.accept_third_party_message(tid, message_id=first["message_id"], actor=AGENT)
    runner.catch_up()
    assert [i["intake_key"] for i in read.third_party_letters().items] == ["<t2@x>"]
    decided = read.third_party_letters(pending=False).items
    assert [(i["intake_key"], i["accepted_by"]) for i in decided] == [("<t1@x>", AGENT.id)]


def test_the_watcher_raises_a_reaction_breach_on_a_postponed_ticket(
    desk: SupportDesk, clock: ManualClock, models: tuple[ReadModels, ProjectionRunner]
) -> None:
    from domain.sla import ClockName
    from services.watcher import SlaWatcher

    read, runner = models
    tid = desk.receive(channel=Channel.EMAIL, requester=CLIENT, subject="Касса", description="Сбой",
                       product_version="3.1", actor=SYSTEM).ticket_id
    desk.classify(tid, level=Level.EMERGENCY, product=Product.ONLINE,
                  category=Category.OPERATIONAL_FAILURE, actor=AGENT)
    desk.respond(tid, text="Смотрим", actor=AGENT)
    desk.postpone(tid, reason=PostponeReason.CANNOT_REPRODUCE, actor=AGENT)
    clock.advance(timedelta(minutes=10))
    desk.record_requester_reply(tid, text="Всё стоит!", actor=REQUESTER)
    watcher = SlaWatcher(desk, read, clock)
    runner.catch_up()
    assert watcher.run_once() == 0
    clock.advance(timedelta(hours=2))  # emergency reaction: 1 working hour
    runner.catch_up()
    assert watcher.run_once() >= 1  # recorded by the watcher although the ticket is paused
    assert type(desk.ticket_events(tid)[-1]).__name__ == "SlaBreached"
    assert desk.ticket_events(tid)[-1].clock == ClockName.REACTION.value  # type: ignore[attr-defined]
    assert desk.get_ticket(tid).status.value == "postponed"
