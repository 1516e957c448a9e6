"""SupportDesk commands of the intake rules: third-party letters once per key, accepting
them, contacts, notices not sent, replies typed in by staff (R10, R16, R18, R19)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from domain.errors import RuleViolated
from domain.sla import ClockStatus
from domain.values import Actor, Channel, Product, Requester, Status
from services.application import SupportDesk
from services.clock import ManualClock
from tests.helpers import AGENT, CLIENT, REQUESTER, SYSTEM, msk

POPO = {"PERSISTENCE_MODULE": "eventsourcing.popo"}
STRANGER = "stranger@example.com"


@pytest.fixture()
def clock() -> ManualClock:
    return ManualClock(msk("2025-04-28 10:00"))


@pytest.fixture()
def desk(clock: ManualClock) -> SupportDesk:
    return SupportDesk(env=POPO, clock=clock)


def receive(desk: SupportDesk, **extra: Any) -> str:
    fields: dict[str, Any] = dict(
        channel=Channel.EMAIL, requester=CLIENT, subject="Не работает пропуск",
        description="Пропуск не проходит на КПП 2", product=Product.ONLINE,
        product_version="2025.4", actor=SYSTEM, intake_key="<first@example.ru>",
    )
    fields.update(extra)
    return desk.receive(**fields).ticket_id


def event_names(desk: SupportDesk, ticket_id: str) -> list[str]:
    return [type(e).__name__ for e in desk.ticket_events(ticket_id)]


def test_a_third_party_letter_is_kept_once_and_accepted_by_staff(
    desk: SupportDesk, clock: ManualClock
) -> None:
    ticket_id = receive(desk, contacts=["boss@example.ru"])
    assert desk.get_ticket(ticket_id).contacts == ("olga@example.ru", "boss@example.ru")
    desk.respond(ticket_id, text="Проверяем", actor=AGENT)
    clock.advance(timedelta(minutes=10))
    first = desk.record_third_party_message_once(
        ticket_id, channel=Channel.EMAIL, intake_key="<x1@example.com>", sender=STRANGER,
        text="Это про мой пропуск", actor=SYSTEM)
    again = desk.record_third_party_message_once(
        ticket_id, channel=Channel.EMAIL, intake_key="<x1@example.com>", sender=STRANGER,
        text="Это про мой пропуск", actor=SYSTEM)
    assert first.created and not again.created and again.ticket_id == ticket_id
    ticket = desk.get_ticket(ticket_id)
    assert len(ticket.third_party_messages) == 1
    assert ticket.schedule.reaction.stopped_at is not None  # no clock started
    letter = ticket.third_party_messages[0]["message_id"]
    with pytest.raises(RuleViolated):
        desk.accept_third_party_message(ticket_id, message_id=letter, actor=SYSTEM)
    clock.advance(timedelta(minutes=10))
    desk.accept_third_party_message(ticket_id, message_id=letter, actor=AGENT)
    ticket = desk.get_ticket(ticket_id)
    assert ticket.schedule.reaction.stopped_at is None
    assert ticket.schedule.reaction.started_at == clock.now()
    assert event_names(desk, ticket_id)[-2:] == ["ThirdPartyMessageReceived",
                                                 "ThirdPartyMessageAccepted"]


def test_accepting_a_letter_on_a_closed_ticket_reopens_it(desk: SupportDesk, clock: ManualClock) -> None:
    from domain.values import Category, Level

    ticket_id = receive(desk)
    desk.classify(ticket_id, level=Level.STANDARD, product=Product.ONLINE,
                  category=Category.GENERAL_CONSULTATION, actor=AGENT)
    desk.resolve(ticket_id, resolution="Готово", actor=AGENT)
    desk.close_ticket(ticket_id, actor=SYSTEM)
    clock.advance(timedelta(hours=1))
    desk.record_third_party_message_once(ticket_id, channel=Channel.EMAIL, intake_key="<x2@e.com>",
                                         sender=STRANGER, text="Снова не работает", actor=SYSTEM)
    assert desk.get_ticket(ticket_id).status is Status.CLOSED
    letter = desk.get_ticket(ticket_id).third_party_messages[0]["message_id"]
    desk.accept_third_party_message(ticket_id, message_id=letter, actor=AGENT)
    assert desk.get_ticket(ticket_id).status is Status.OPEN
    assert event_names(desk, ticket_id)[-2:] == ["Reopened", "ThirdPartyMessageAccepted"]


def test_contacts_and_notices_are_recorded_once(desk: SupportDesk) -> None:
    ticket_id = receive(desk, requester=Requester(phone="+7 495 000-00-00"), channel=Channel.PHONE,
                        intake_key="call-1")
    assert desk.record_notice_not_sent(ticket_id, reason="no email address", actor=SYSTEM)
    assert desk.record_notice_not_sent(ticket_id, reason="no email address", actor=SYSTEM) is None
    assert desk.add_contact(ticket_id, email="olga@example.ru", actor=AGENT)
    assert desk.add_contact(ticket_id, email="OLGA@example.ru", actor=AGENT) is None
    assert desk.get_ticket(ticket_id).contacts == ("olga@example.ru",)
    assert event_names(desk, ticket_id) == ["Received", "NoticeNotSent", "ContactAdded"]


def test_a_reply_typed_in_by_an_agent_names_both(desk: SupportDesk) -> None:
    ticket_id = receive(desk, product_version="")
    assert event_names(desk, ticket_id) == ["Received", "InformationRequested"]
    desk.record_reply_once(ticket_id, channel=Channel.PHONE, intake_key="call-7", text="Версия 2025.4",
                           product_version="2025.4", actor=REQUESTER, entered_by=AGENT.id)
    replied = desk.ticket_events(ticket_id)[-1]
    assert replied.actor == REQUESTER.as_dict() and replied.entered_by == AGENT.id  # type: ignore[attr-defined]
    assert desk.get_ticket(ticket_id).status is Status.NEW


def test_a_message_to_a_postponed_ticket_runs_the_reaction_clock(
    desk: SupportDesk, clock: ManualClock
) -> None:
    from domain.values import Category, Level, PostponeReason

    ticket_id = receive(desk)
    desk.classify(ticket_id, level=Level.EMERGENCY, product=Product.ONLINE,
                  category=Category.OPERATIONAL_FAILURE, actor=AGENT)
    desk.respond(ticket_id, text="Смотрим", actor=AGENT)
    desk.postpone(ticket_id, reason=PostponeReason.CANNOT_REPRODUCE, actor=AGENT)
    clock.advance(timedelta(minutes=5))
    desk.record_requester_reply(ticket_id, text="Ответьте!", actor=Actor.requester("olga@example.ru"))
    clock.advance(timedelta(hours=2))
    state = desk.sla(ticket_id)
    assert state.reaction.status is ClockStatus.BREACHED  # emergency: 1 working hour
    assert desk.get_ticket(ticket_id).status is Status.POSTPONED
