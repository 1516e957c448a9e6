"""The auditors' replay and export understand the intake-rule events."""

from __future__ import annotations

from datetime import timedelta

from domain.values import Actor, Category, Channel, Level, PostponeReason, Product, Requester
from services.application import SupportDesk
from services.audit_replay import export_ticket, replay_ticket
from services.clock import ManualClock
from tests.helpers import AGENT, CLIENT, SYSTEM, msk


def test_export_and_replay_tell_the_new_events() -> None:
    clock = ManualClock(msk("2025-04-28 10:00"))
    desk = SupportDesk(clock=clock)
    tid = desk.receive(channel=Channel.EMAIL, requester=CLIENT, subject="Касса", description="Сбой",
                       actor=SYSTEM, intake_key="<a@x>").ticket_id
    step = timedelta(minutes=15)
    clock.advance(step)
    desk.record_reply_once(tid, channel=Channel.PHONE, intake_key="call-1", text="Версия 3.1",
                           product_version="3.1", actor=Actor.requester("olga@example.ru"),
                           entered_by="agent.ivanova")
    clock.advance(step)
    desk.classify(tid, level=Level.STANDARD, product=Product.ONLINE, category=Category.DEFECT,
                  actor=AGENT)
    desk.respond(tid, text="Смотрим", actor=AGENT)
    desk.postpone(tid, reason=PostponeReason.CANNOT_REPRODUCE, actor=AGENT)
    clock.advance(step)
    desk.record_third_party_message_once(tid, channel=Channel.EMAIL, intake_key="<t@x>",
                                         sender="boss@y.ru", text="Когда?", actor=SYSTEM)
    clock.advance(step)
    desk.add_contact(tid, email="boss@y.ru", actor=AGENT)
    letter = desk.get_ticket(tid).third_party_messages[0]["message_id"]
    desk.accept_third_party_message(tid, message_id=letter, actor=AGENT)
    text = export_ticket(desk, tid, language="en")
    assert "the system asked the requester for the missing details (R16): the product version number" in text
    assert "typed in by agent.ivanova" in text
    assert "not a contact of the ticket: kept for staff to review" in text
    assert "boss@y.ru is a contact now" in text
    assert f"staff accepted letter {letter}" in text
    assert "reaction clock runs whatever the ticket's status: the requester wrote (R10)" in text
    clock.advance(timedelta(days=1))  # 9 working hours later; standard reaction is 8
    result = replay_ticket(desk, tid, clock.now())
    assert result is not None and result["status"] == "postponed"
    assert result["recorded"]["reaction"]["status"] == "breached"  # R10: nobody answered

    phone = desk.receive(channel=Channel.PHONE, requester=Requester(phone="101"), subject="Звонок",
                         description="Не открывается", product_version="3.1", actor=AGENT).ticket_id
    desk.record_notice_not_sent(phone, reason="no email address", actor=SYSTEM)
    assert "no registration notice could be sent (R18): no email address" in export_ticket(desk, phone, language="en")
