"""The ticket's side of the intake rules: R10 (every requester message starts the
reaction clock), R16 (missing details asked for, or "call the requester"), R18
(no notice possible), R19 (contacts and third-party letters)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from domain.calendar import WorkingCalendar
from domain.errors import InvalidValue, RuleViolated
from domain.sla import ClockName, ClockStatus, SlaPolicy, SlaRules
from domain.ticket import Ticket, TicketSnapshot
from domain.values import (
    Actor,
    ActorKind,
    Category,
    Channel,
    Level,
    PostponeReason,
    Product,
    Requester,
    RequiredInfo,
    Status,
)
from tests.helpers import AGENT, CLIENT, REQUESTER, SYSTEM, msk

CAL = WorkingCalendar.default()
RULES = SlaRules(SlaPolicy.regulation_default(), CAL)
PHONE_ONLY = Requester(name="Пост охраны", phone="+7 495 000-00-00")
STRANGER = "someone.else@example.com"
FILE = {"filename": "invoice.exe", "content_type": "application/octet-stream", "size": 10,
        "sha256": "a" * 64, "stored": False, "note": "refused: executable"}


def received(**overrides: Any) -> Ticket:
    fields: dict[str, Any] = dict(
        ticket_id="P24-4K7Q9M", channel=Channel.EMAIL, requester=CLIENT,
        subject="Шлагбаум не открывается", description="С 09:40 пропуска не открывают шлагбаум.",
        product=Product.CONTROL, product_version="3.14.2", at=msk("2025-04-28 10:00"),
        actor=SYSTEM, rules=RULES,
    )
    fields.update(overrides)
    return Ticket.receive(**fields)


def classified(**overrides: Any) -> Ticket:
    ticket = received(**overrides)
    ticket.classify(level=Level.STANDARD, product=Product.CONTROL,
                    category=Category.OPERATIONAL_FAILURE, at=msk("2025-04-28 10:05"),
                    actor=AGENT, rules=RULES)
    ticket.respond(text="Смотрим.", at=msk("2025-04-28 10:10"), actor=AGENT, rules=RULES)
    return ticket


def replay(ticket: Ticket) -> Ticket:
    rebuilt: Ticket | None = None
    for event in ticket.collect_events():
        rebuilt = event.mutate(rebuilt)
    assert rebuilt is not None
    return rebuilt


def names(ticket: Ticket) -> list[str]:
    return [type(e).__name__ for e in ticket.pending_events]


# -- R10 -------------------------------------------------------------------------------


@pytest.mark.parametrize("pause", ["postpone", "escalate"])
def test_a_message_to_a_paused_ticket_starts_the_reaction_clock_and_it_breaches(pause: str) -> None:
    ticket = classified()
    if pause == "postpone":
        ticket.postpone(reason=PostponeReason.CANNOT_REPRODUCE, at=msk("2025-04-28 11:00"),
                        actor=AGENT, rules=RULES)
        paused = Status.POSTPONED
    else:
        ticket.escalate(summary="Ошибка прошивки", at=msk("2025-04-28 11:00"), actor=AGENT,
                        rules=RULES)
        paused = Status.WAITING_FOR_RELEASE
    ticket.record_requester_reply(text="Есть новости?", at=msk("2025-04-29 10:00"),
                                  actor=REQUESTER, rules=RULES)
    assert ticket.status is paused  # the status stays ...
    state = ticket.sla(msk("2025-04-29 17:00"), CAL)
    assert state.reaction.status is ClockStatus.AT_RISK  # ... the reaction clock runs (8 h standard)
    assert state.resolution.status is ClockStatus.PAUSED
    later = ticket.sla(msk("2025-04-30 10:30"), CAL)
    assert later.reaction.status is ClockStatus.BREACHED
    # The watcher can record the breach: the clock is breached by the ticket's own rule.
    assert ticket.record_sla_alert(clock=ClockName.REACTION, breached=True,
                                   at=msk("2025-04-30 10:30"), actor=SYSTEM, calendar=CAL)
    # A reply from support stops it; the pause still holds the resolution clock.
    ticket.respond(text="Ждём релиз.", at=msk("2025-04-30 11:00"), actor=AGENT, rules=RULES)
    assert ticket.sla(msk("2025-04-30 12:00"), CAL).reaction.status is ClockStatus.BREACHED
    assert ticket.status is paused
    rebuilt = replay(ticket)
    assert rebuilt.status is paused and rebuilt.sla_recorded == ticket.sla_recorded


def test_a_postponement_after_the_message_still_holds_the_clock() -> None:
    ticket = classified()
    ticket.record_requester_reply(text="Ещё вопрос", at=msk("2025-04-28 11:00"),
                                  actor=REQUESTER, rules=RULES)
    ticket.postpone(reason=PostponeReason.OUT_OF_SCOPE, at=msk("2025-04-28 12:00"), actor=AGENT,
                    rules=RULES)
    assert ticket.sla(msk("2025-04-30 12:00"), CAL).reaction.status is ClockStatus.PAUSED


def test_a_message_while_support_owes_a_reply_keeps_the_running_clock() -> None:
    ticket = received()
    due = ticket.schedule.reaction.due_at
    ticket.record_requester_reply(text="Забыл добавить", at=msk("2025-04-28 11:00"),
                                  actor=REQUESTER, rules=RULES)
    assert ticket.schedule.reaction.due_at == due


# -- R16 -------------------------------------------------------------------------------


def test_missing_details_are_asked_for_by_the_system_in_the_same_save() -> None:
    ticket = received(product=Product.MOBILE_KEY, product_version="", device="")
    assert names(ticket) == ["Received", "InformationRequested"]
    asked = ticket.pending_events[1]
    assert asked.actor == {"kind": "system", "id": "pass24-desk"}  # type: ignore[attr-defined]
    assert asked.items == ["device", "product_version"]  # type: ignore[attr-defined]
    assert "номер версии продукта" in asked.text  # type: ignore[attr-defined]
    assert ticket.status is Status.WAITING_FOR_REQUESTER
    assert ticket.responses == 0 and ticket.first_response_at is None
    assert not ticket.call_requester
    assert ticket.sla(msk("2025-04-30 10:00"), CAL).reaction.status is ClockStatus.PAUSED
    rebuilt = replay(ticket)
    assert rebuilt.status is Status.WAITING_FOR_REQUESTER and rebuilt.responses == 0


def test_without_an_email_address_the_ticket_asks_for_a_call_and_its_clock_runs() -> None:
    ticket = received(requester=PHONE_ONLY, channel=Channel.PHONE, product_version="")
    assert names(ticket) == ["Received"]
    assert ticket.status is Status.NEW and ticket.call_requester
    assert ticket.missing == (RequiredInfo.PRODUCT_VERSION,)
    assert ticket.sla(msk("2025-04-29 10:00"), CAL).reaction.status is ClockStatus.BREACHED
    # An agent calls and asks: support has reacted, the ticket waits for the requester.
    ticket.request_information(text="Спросили версию по телефону", items=[RequiredInfo.PRODUCT_VERSION],
                               at=msk("2025-04-28 10:30"), actor=AGENT, rules=RULES)
    assert ticket.status is Status.WAITING_FOR_REQUESTER and not ticket.call_requester
    assert ticket.sla(msk("2025-04-29 10:00"), CAL).reaction.status is ClockStatus.MET
    # The requester calls back; the agent types in the answer on their behalf.
    ticket.record_requester_reply(text="Версия 3.14", product_version="3.14",
                                  at=msk("2025-04-28 11:00"), actor=Actor.requester("+7 495 000-00-00"),
                                  entered_by=AGENT.id, rules=RULES)
    replied = ticket.pending_events[-1]
    assert replied.actor["kind"] == "requester" and replied.entered_by == AGENT.id  # type: ignore[attr-defined]
    assert ticket.missing == () and ticket.status is Status.NEW
    assert replay(ticket).status is Status.NEW


def test_an_agent_may_ask_for_more_while_the_ticket_is_paused() -> None:
    ticket = classified()
    ticket.postpone(reason=PostponeReason.CANNOT_REPRODUCE, at=msk("2025-04-28 11:00"),
                    actor=AGENT, rules=RULES)
    ticket.request_information(text="Пришлите логи контроллера", at=msk("2025-04-28 12:00"),
                               actor=AGENT, rules=RULES)
    assert ticket.status is Status.POSTPONED
    waiting = received(product=Product.MOBILE_KEY, product_version="", device="")
    waiting.request_information(text="И скриншот", at=msk("2025-04-28 10:30"), actor=AGENT,
                                rules=RULES)
    assert waiting.status is Status.WAITING_FOR_REQUESTER
    assert replay(waiting).status is Status.WAITING_FOR_REQUESTER


# -- R18 -------------------------------------------------------------------------------


def test_a_ticket_without_email_records_once_why_no_notice_was_sent() -> None:
    ticket = received(requester=PHONE_ONLY, channel=Channel.PHONE)
    at = msk("2025-04-28 10:01")
    assert ticket.record_notice_not_sent(reason="no email address", at=at, actor=SYSTEM)
    assert not ticket.record_notice_not_sent(reason="no email address", at=at, actor=SYSTEM)
    assert names(ticket)[-1] == "NoticeNotSent"
    assert ticket.notice_not_sent == {"notice": "acknowledgement", "reason": "no email address",
                                      "at": at}
    with pytest.raises(RuleViolated):
        ticket.record_notice_not_sent(reason="x", at=at, actor=REQUESTER)
    acknowledged = received()
    acknowledged.acknowledge(at=at, actor=SYSTEM)
    with pytest.raises(RuleViolated):
        acknowledged.record_notice_not_sent(reason="no email", at=at, actor=SYSTEM)


# -- R19 -------------------------------------------------------------------------------


def test_contacts_are_the_requester_the_original_cc_and_those_staff_add() -> None:
    ticket = received(contacts=["Boss@Example.ru", "olga@example.ru", "boss@example.ru", ""])
    assert ticket.contacts == ("olga@example.ru", "Boss@Example.ru")
    assert ticket.is_contact("BOSS@example.ru") and not ticket.is_contact(STRANGER)
    assert ticket.add_contact(email=STRANGER, at=msk("2025-04-28 10:30"), actor=AGENT)
    assert not ticket.add_contact(email=STRANGER.upper(), at=msk("2025-04-28 10:31"), actor=AGENT)
    assert ticket.is_contact(STRANGER)
    with pytest.raises(RuleViolated):
        ticket.add_contact(email="x@y.ru", at=msk("2025-04-28 10:32"), actor=REQUESTER)
    with pytest.raises(InvalidValue):
        ticket.add_contact(email="not an address", at=msk("2025-04-28 10:32"), actor=AGENT)
    assert replay(ticket).contacts == ticket.contacts


def test_trusting_the_requesters_domain_is_a_choice_and_never_covers_public_mail() -> None:
    ticket = received(requester=Requester(email="it@zhk-sosny.ru"), contacts=["olga@gmail.com"])
    assert not ticket.is_contact("guard@zhk-sosny.ru")
    assert ticket.is_contact("Guard@ZHK-Sosny.ru", trust_domain=True)
    assert not ticket.is_contact("anyone@gmail.com", trust_domain=True)
    assert not ticket.is_contact("x@evil-zhk-sosny.ru", trust_domain=True)
    assert not received(requester=PHONE_ONLY).is_contact("a@b.ru", trust_domain=True)


def test_a_third_party_letter_changes_nothing_until_staff_accept_it() -> None:
    ticket = classified()
    ticket.request_information(text="Версия?", at=msk("2025-04-28 10:20"), actor=AGENT, rules=RULES)
    before = (ticket.status, ticket.sla_recorded, list(ticket.attachments))
    at = msk("2025-04-28 11:00")
    letter = ticket.receive_third_party_message(
        channel=Channel.EMAIL, intake_key="<tp-1@mail.example.com>",
        sender=f"Чужой <{STRANGER}>", text="Это мой счёт\x00", at=at, actor=SYSTEM,
        attachments=[FILE])
    assert letter is not None and letter.startswith("L-") and "/" not in letter
    assert ticket.receive_third_party_message(
        channel=Channel.EMAIL, intake_key="<tp-1@mail.example.com>", sender=STRANGER,
        text="again", at=at, actor=SYSTEM) is None
    assert (ticket.status, ticket.sla_recorded, ticket.attachments) == before
    assert [m["message_id"] for m in ticket.pending_third_party_messages] == [letter]
    assert ticket.third_party_messages[0]["text"] == "Это мой счёт"
    with pytest.raises(RuleViolated):
        ticket.accept_third_party_message(message_id=letter, at=at, actor=SYSTEM, rules=RULES)
    with pytest.raises(RuleViolated):
        ticket.accept_third_party_message(message_id="L-0", at=at, actor=AGENT, rules=RULES)
    accepted_at = at + timedelta(minutes=30)
    ticket.accept_third_party_message(message_id=letter, at=accepted_at, actor=AGENT, rules=RULES)
    # Now it counts as the requester's message: the wait ends, the reaction clock starts.
    assert ticket.status is Status.OPEN
    assert ticket.schedule.reaction.started_at == accepted_at
    assert ticket.schedule.reaction.stopped_at is None
    assert [a["source"] for a in ticket.attachments] == ["<tp-1@mail.example.com>"]
    assert ticket.pending_third_party_messages == []
    with pytest.raises(RuleViolated):
        ticket.accept_third_party_message(message_id=letter, at=accepted_at, actor=AGENT, rules=RULES)
    assert names(ticket)[-2:] == ["ThirdPartyMessageReceived", "ThirdPartyMessageAccepted"]
    rebuilt = replay(ticket)
    assert rebuilt.third_party_messages == ticket.third_party_messages
    assert rebuilt.attachments == ticket.attachments and rebuilt.status is Status.OPEN


def test_a_requester_cannot_record_a_third_party_letter() -> None:
    ticket = received()
    with pytest.raises(RuleViolated):
        ticket.receive_third_party_message(channel=Channel.EMAIL, intake_key="m", sender=STRANGER,
                                           text="x", at=msk("2025-04-28 11:00"), actor=REQUESTER)


def test_stored_names_of_the_new_events_are_pinned() -> None:
    assert Ticket.ThirdPartyMessageReceived.__qualname__ == "Ticket.ThirdPartyMessageReceived"  # type: ignore[attr-defined]
    assert Ticket.ThirdPartyMessageAccepted.__qualname__ == "Ticket.ThirdPartyMessageAccepted"  # type: ignore[attr-defined]
    assert Ticket.ContactAdded.__qualname__ == "Ticket.ContactAdded"  # type: ignore[attr-defined]
    assert Ticket.NoticeNotSent.__qualname__ == "Ticket.NoticeNotSent"  # type: ignore[attr-defined]


def test_snapshots_keep_contacts_letters_and_notices() -> None:
    ticket = received(requester=PHONE_ONLY, channel=Channel.PHONE, contacts=["cc@example.ru"])
    ticket.record_notice_not_sent(reason="no email", at=msk("2025-04-28 10:01"), actor=SYSTEM)
    ticket.receive_third_party_message(channel=Channel.EMAIL, intake_key="m1", sender=STRANGER,
                                       text="hi", at=msk("2025-04-28 10:02"), actor=SYSTEM)
    snapshot = TicketSnapshot.take(ticket)
    restored = snapshot.mutate(None)
    assert restored.contacts == ("cc@example.ru",)
    assert restored.third_party_messages == ticket.third_party_messages
    assert restored.notice_not_sent == ticket.notice_not_sent


def test_old_snapshots_and_received_events_still_load() -> None:
    ticket = received(product=Product.MOBILE_KEY, product_version="", device="")
    first = ticket.pending_events[0]
    for key in ("contacts", "waiting_for_requester"):
        del first.__dict__[key]
    rebuilt = first.mutate(None)
    assert rebuilt.status is Status.WAITING_FOR_REQUESTER and rebuilt.contacts == ("olga@example.ru",)
    snapshot = TicketSnapshot.take(received())
    for key in ("extra_contacts", "third_party_messages", "notice_not_sent"):
        del snapshot.state[key]
    assert snapshot.mutate(None).third_party_messages == []


def test_text_entering_events_is_normalised_once() -> None:
    ticket = received(subject="Шлагбаум\r\nBcc: all@example.ru\x00", description="a\r\nb\x00")
    assert ticket.subject == "Шлагбаум Bcc: all@example.ru"
    assert ticket.description == "a\nb"
    assert ActorKind.SYSTEM.value == SYSTEM.kind.value
