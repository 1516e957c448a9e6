"""What intake by email added to the ticket: attachments, delivery failures (R21), replies once."""

from __future__ import annotations

from datetime import timedelta

import pytest

from domain.errors import InvalidValue, RuleViolated
from domain.values import Channel, Status
from services.application import SupportDesk
from tests.helpers import AGENT, CLIENT, REQUESTER, SYSTEM, msk

AT = msk("2025-04-28 10:00")
FILE = {"filename": "screen.png", "content_type": "image/png", "size": 1234,
        "sha256": "a" * 64, "stored": True}


def _ticket(desk: SupportDesk) -> str:
    return desk.receive(channel=Channel.EMAIL, requester=CLIENT, subject="Касса не печатает",
                        description="Шаги: ...", actor=REQUESTER, intake_key="<m1@x>",
                        at=AT).ticket_id


def test_attachments_of_one_letter_are_recorded_once() -> None:
    desk = SupportDesk()
    ticket_id = _ticket(desk)
    assert desk.add_attachments(ticket_id, source="<m1@x>", attachments=[FILE], actor=REQUESTER,
                                at=AT) is not None
    assert desk.add_attachments(ticket_id, source="<m1@x>", attachments=[FILE], actor=REQUESTER,
                                at=AT) is None
    ticket = desk.get_ticket(ticket_id)
    assert [a["filename"] for a in ticket.attachments] == ["screen.png"]
    assert ticket.attachments[0]["source"] == "<m1@x>"
    assert [type(e).__qualname__ for e in desk.ticket_events(ticket_id)][-1] == "Ticket.AttachmentsAdded"


@pytest.mark.parametrize("field,bad", [("filename", ""), ("content_type", "png"), ("size", -1),
                                       ("sha256", "xyz"), ("stored", "yes")])
def test_attachment_metadata_is_checked_before_recording(field: str, bad: object) -> None:
    desk = SupportDesk()
    ticket_id = _ticket(desk)
    with pytest.raises(InvalidValue) as caught:
        desk.add_attachments(ticket_id, source="<m1@x>", attachments=[{**FILE, field: bad}],
                             actor=REQUESTER, at=AT)
    assert caught.value.field == f"attachments.{field}"
    assert desk.get_ticket(ticket_id).attachments == []


def test_delivery_failure_offers_the_fallback_once_per_message() -> None:
    desk = SupportDesk()
    ticket_id = _ticket(desk)
    kwargs = dict(notice="acknowledgement", recipient="olga@example.ru", reason="550 no such user",
                  permanent=True, message_id="<P24-ack@desk>",
                  fallback=[Channel.CHATBOT, Channel.PHONE], actor=SYSTEM, at=AT)
    assert desk.record_delivery_failure(ticket_id, **kwargs) is not None  # type: ignore[arg-type]
    assert desk.record_delivery_failure(ticket_id, **kwargs) is None  # type: ignore[arg-type]
    ticket = desk.get_ticket(ticket_id)
    assert ticket.acknowledged_at is None
    assert ticket.delivery_failures[0]["fallback"] == ["chatbot", "phone"]
    assert ticket.delivery_failures[0]["permanent"] is True


def test_delivery_failure_needs_a_real_fallback_and_the_system() -> None:
    desk = SupportDesk()
    ticket_id = _ticket(desk)
    with pytest.raises(InvalidValue):
        desk.record_delivery_failure(ticket_id, notice="acknowledgement", recipient="a@b",
                                     reason="550", permanent=True, message_id="<x@y>",
                                     fallback=[Channel.EMAIL], actor=SYSTEM, at=AT)
    with pytest.raises(RuleViolated):
        desk.record_delivery_failure(ticket_id, notice="acknowledgement", recipient="a@b",
                                     reason="550", permanent=True, message_id="<x@y>",
                                     fallback=[Channel.PHONE], actor=REQUESTER, at=AT)
    with pytest.raises(InvalidValue):
        desk.record_delivery_failure(ticket_id, notice="invoice", recipient="a@b",
                                     reason="550", permanent=True, message_id="<x@y>",
                                     fallback=[Channel.PHONE], actor=SYSTEM, at=AT)


def test_a_reply_letter_delivered_twice_is_one_reply() -> None:
    desk = SupportDesk()
    ticket_id = _ticket(desk)
    first = desk.record_reply_once(ticket_id, channel=Channel.EMAIL, intake_key="<r1@x>",
                                   text="Версия 3.1", actor=REQUESTER, at=AT + timedelta(hours=1))
    again = desk.record_reply_once(ticket_id, channel=Channel.EMAIL, intake_key="<r1@x>",
                                   text="Версия 3.1", actor=REQUESTER, at=AT + timedelta(hours=2))
    assert first.created and not again.created and again.ticket_id == ticket_id
    names = [type(e).__qualname__ for e in desk.ticket_events(ticket_id)]
    assert names.count("Ticket.RequesterReplied") == 1


def test_a_reply_to_a_closed_ticket_reopens_it_in_the_same_save() -> None:
    from domain.values import Category, Level, Product

    desk = SupportDesk()
    ticket_id = _ticket(desk)
    desk.classify(ticket_id, level=Level.STANDARD, product=Product.ONLINE,
                  category=Category.DEFECT, actor=AGENT, at=AT)
    desk.resolve(ticket_id, resolution="Исправлено", actor=AGENT, at=AT)
    desk.close_ticket(ticket_id, actor=AGENT, at=AT)
    receipt = desk.record_reply_once(ticket_id, channel=Channel.EMAIL, intake_key="<r2@x>",
                                     text="Снова не печатает", reopen_reason="requester replied",
                                     actor=REQUESTER, at=AT + timedelta(days=1))
    assert receipt.created
    assert desk.get_ticket(ticket_id).status is not Status.CLOSED
    names = [type(e).__qualname__ for e in desk.ticket_events(ticket_id)]
    assert names[-2:] == ["Ticket.Reopened", "Ticket.RequesterReplied"]


def test_a_reply_to_a_closed_ticket_without_reopening_is_refused_and_not_claimed() -> None:
    from domain.values import Category, Level, Product

    desk = SupportDesk()
    ticket_id = _ticket(desk)
    desk.classify(ticket_id, level=Level.STANDARD, product=Product.ONLINE,
                  category=Category.DEFECT, actor=AGENT, at=AT)
    desk.resolve(ticket_id, resolution="Исправлено", actor=AGENT, at=AT)
    with pytest.raises(RuleViolated):
        desk.record_reply_once(ticket_id, channel=Channel.EMAIL, intake_key="<r3@x>",
                               text="ещё", actor=REQUESTER, at=AT + timedelta(days=1))
    assert desk.ticket_for_intake_key(Channel.EMAIL, "<r3@x>") is None
