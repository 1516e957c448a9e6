"""The email path end to end over real SMTP on loopback.

A letter is sent with smtplib to the desk's own SMTP listener (aiosmtpd); the
outbox worker sends the registration notice to another aiosmtpd server playing
the requester's mail provider; replies, bounces and broken letters come back the
same way.
"""

from __future__ import annotations

import smtplib
from collections.abc import Iterator

import pytest

from adapters.email.intake import Outcome
from adapters.email.smtp_listener import SmtpListener
from adapters.outbox.notices import ack_message_id
from domain.values import Category, Level, Product, Status
from tests.fixtures.email_desk import EmailDesk, email_desk  # noqa: F401
from tests.fixtures.mail import (
    CORPUS_TICKET_ID,
    MailCatcher,
    corpus,
    free_port,
    mail_catcher,  # noqa: F401
    plain_letter,
    wait_for,
)
from tests.helpers import AGENT


@pytest.fixture
def listener(email_desk: EmailDesk) -> Iterator[SmtpListener]:  # noqa: F811
    server = SmtpListener(email_desk.intake, host="127.0.0.1", port=free_port(),
                          accept_domains=["pass24online.ru"])
    server.start()
    yield server
    server.stop()


def smtp_send(listener: SmtpListener, raw: bytes, sender: str = "olga@example.ru") -> None:
    with smtplib.SMTP("127.0.0.1", listener.port, timeout=10) as client:
        client.sendmail(sender, ["support@pass24online.ru"], raw)


def only_ticket(desk: EmailDesk) -> str:
    desk.mailer.run_once()  # queues the registration notice of each new ticket
    ids = {e.ticket_id for e in desk.outbox.entries()}
    assert len(ids) == 1
    return ids.pop()


def test_letter_by_smtp_becomes_a_ticket_and_the_requester_gets_the_id(
    email_desk: EmailDesk, listener: SmtpListener, mail_catcher: MailCatcher,  # noqa: F811
) -> None:
    smtp_send(listener, corpus("utf8_qp_key_app.eml"))
    ticket_id = only_ticket(email_desk)
    ticket = email_desk.desk.get_ticket(ticket_id)
    assert ticket.subject == "Не открывается шлагбаум из приложения"
    assert ticket.requester.email == "olga@example.ru"
    assert ticket.product is Product.MOBILE_KEY and ticket.product_version == "2.4.1"
    assert ticket.device == "iPhone 13, iOS 17.2" and ticket.missing == ()
    assert ticket.acknowledged_at is None  # not accepted until the notice is out (R18)

    assert email_desk.send_mail() == 1
    (notice,) = mail_catcher.to("olga@example.ru")
    message = notice.message
    assert ticket_id in str(message["Subject"])
    assert ticket_id in message.get_content()
    assert message["Message-ID"] == ack_message_id(ticket_id, "pass24online.ru")
    assert message["In-Reply-To"] == "<utf8-qp-001@example.ru>"
    assert message["Auto-Submitted"] == "auto-replied"
    assert email_desk.desk.get_ticket(ticket_id).acknowledged_at is not None
    assert email_desk.send_mail() == 0  # sent once


def test_same_letter_twice_is_one_ticket_and_one_notice(
    email_desk: EmailDesk, listener: SmtpListener, mail_catcher: MailCatcher,  # noqa: F811
) -> None:
    smtp_send(listener, corpus("cp1251_base64.eml"))
    smtp_send(listener, corpus("cp1251_base64.eml"))
    email_desk.send_mail()
    assert len(email_desk.outbox.entries()) == 1
    assert len(mail_catcher.to("ivan@zavod.ru")) == 1
    assert email_desk.intake.deliver(corpus("cp1251_base64.eml")).outcome is Outcome.DUPLICATE


@pytest.mark.parametrize("by", ["subject", "in_reply_to", "references"])
def test_reply_threads_onto_the_ticket_and_resumes_the_wait(
    email_desk: EmailDesk, listener: SmtpListener, by: str,
) -> None:
    smtp_send(listener, plain_letter(message_id="<first@example.ru>", subject="Не работает",
                                     text="Журнал PASS24.online падает"))
    ticket_id = only_ticket(email_desk)
    email_desk.send_mail()
    assert email_desk.desk.get_ticket(ticket_id).status is Status.WAITING_FOR_REQUESTER
    ack = ack_message_id(ticket_id, "pass24online.ru")
    reply = {
        "subject": plain_letter(message_id="<r1@example.ru>", subject=f"Re: Fwd: RE: [{ticket_id.lower()}] Не работает",
                                text="Версия 5.12"),
        "in_reply_to": plain_letter(message_id="<r1@example.ru>", subject="Re: ваше письмо",
                                    text="Версия 5.12", in_reply_to=ack),
        "references": plain_letter(message_id="<r1@example.ru>", subject="ответ",
                                   text="Версия 5.12", references=f"<first@example.ru> {ack}"),
    }[by]
    smtp_send(listener, reply)
    smtp_send(listener, reply)  # delivered twice: still one reply
    ticket = email_desk.desk.get_ticket(ticket_id)
    names = [type(e).__qualname__ for e in email_desk.desk.ticket_events(ticket_id)]
    assert names.count("Ticket.RequesterReplied") == 1
    assert names.count("Ticket.Received") == 1
    assert ticket.product_version == "5.12" and ticket.missing == ()
    assert ticket.status is Status.NEW  # the wait for the requester ended


def test_an_unknown_id_in_the_subject_starts_a_new_ticket(email_desk: EmailDesk) -> None:
    delivery = email_desk.intake.deliver(plain_letter(
        message_id="<u@example.ru>", subject="Re: [P24-ZZZZZZ] old", text="hello"))
    assert delivery.outcome is Outcome.CREATED


def _closed_ticket(email_desk: EmailDesk) -> str:
    ticket_id = email_desk.intake.deliver(plain_letter(
        message_id="<c0@example.ru>", subject="Касса", text="Версия 1.2 не печатает")).ticket_id
    assert ticket_id
    desk = email_desk.desk
    desk.classify(ticket_id, level=Level.STANDARD, product=Product.ONLINE,
                  category=Category.DEFECT, actor=AGENT)
    desk.resolve(ticket_id, resolution="Исправлено", actor=AGENT)
    desk.close_ticket(ticket_id, actor=AGENT)
    return ticket_id


def test_reply_to_a_closed_ticket_reopens_it(email_desk: EmailDesk) -> None:
    ticket_id = _closed_ticket(email_desk)
    delivery = email_desk.intake.deliver(plain_letter(
        message_id="<c1@example.ru>", subject=f"Re: [{ticket_id}] Касса", text="Снова не печатает"))
    assert delivery.outcome is Outcome.REOPENED and delivery.ticket_id == ticket_id
    assert email_desk.desk.get_ticket(ticket_id).is_open


def test_reply_to_a_closed_ticket_can_start_a_linked_new_one(
    tmp_path: object, mail_catcher: MailCatcher,  # noqa: F811
) -> None:
    from pathlib import Path

    from tests.fixtures.email_desk import build_email_desk

    built = build_email_desk(Path(str(tmp_path)), mail_catcher, reply_to_closed="new_ticket")
    old = _closed_ticket(built)
    delivery = built.intake.deliver(plain_letter(
        message_id="<c2@example.ru>", subject=f"Re: [{old}] Касса", text="Снова не печатает"))
    assert delivery.outcome is Outcome.LINKED and delivery.ticket_id != old
    assert built.desk.get_ticket(old).status is Status.CLOSED
    assert old in built.desk.get_ticket(delivery.ticket_id or "").description
    built.desk.close()


@pytest.mark.parametrize("name", ["auto_reply_rfc3834.eml", "out_of_office_exchange.eml",
                                  "precedence_bulk.eml"])
def test_auto_replies_make_no_ticket_and_get_no_notice(
    email_desk: EmailDesk, listener: SmtpListener, mail_catcher: MailCatcher, name: str,  # noqa: F811
) -> None:
    smtp_send(listener, corpus(name))
    email_desk.send_mail()
    assert email_desk.outbox.entries() == []
    assert mail_catcher.received == []
    assert email_desk.quarantine.count() == 0


@pytest.mark.parametrize("name,reason", [("broken_mime_unreadable.eml", "broken MIME"),
                                         ("no_sender.eml", "no sender")])
def test_unreadable_letters_are_quarantined_with_their_bytes(
    email_desk: EmailDesk, listener: SmtpListener, name: str, reason: str,
) -> None:
    smtp_send(listener, corpus(name))
    (entry,) = email_desk.quarantine.list()
    assert reason in entry.reason
    stored = email_desk.quarantine.get(entry.id)
    assert stored is not None  # SMTP ends the data with a line break of its own
    assert stored.raw.rstrip() == corpus(name).rstrip()
    assert email_desk.outbox.entries() == []


def test_attachments_are_stored_and_recorded_on_the_ticket(email_desk: EmailDesk) -> None:
    delivery = email_desk.intake.deliver(corpus("mixed_attachments.eml"))
    ticket = email_desk.desk.get_ticket(delivery.ticket_id or "")
    pdf, png = ticket.attachments
    assert pdf["filename"] == "отчёт.pdf" and pdf["stored"]
    assert email_desk.attachments.read(pdf["sha256"]).startswith(b"%PDF-1.4")
    assert png["content_type"] == "image/png"
    email_desk.intake.deliver(corpus("mixed_attachments.eml"))
    assert len(email_desk.desk.get_ticket(ticket.ticket_id).attachments) == 2


def test_attachment_over_the_limit_is_recorded_but_not_stored(
    tmp_path: object, mail_catcher: MailCatcher,  # noqa: F811
) -> None:
    from pathlib import Path

    from tests.fixtures.email_desk import build_email_desk

    built = build_email_desk(Path(str(tmp_path)), mail_catcher, max_attachment_bytes=100)
    delivery = built.intake.deliver(corpus("mixed_attachments.eml"))
    pdf, png = built.desk.get_ticket(delivery.ticket_id or "").attachments
    assert not pdf["stored"] and "limit" in pdf["note"] and pdf["size"] > 100
    assert png["stored"]
    built.desk.close()


def test_permanent_rejection_records_the_failure_and_offers_the_fallback(
    email_desk: EmailDesk, mail_catcher: MailCatcher,  # noqa: F811
) -> None:
    mail_catcher.answer["nobody@example.ru"] = "550 5.1.1 <nobody@example.ru>: no such user"
    ticket_id = email_desk.intake.deliver(plain_letter(
        message_id="<n1@example.ru>", sender="nobody@example.ru", subject="Помогите",
        text="Версия 1.0")).ticket_id or ""
    email_desk.send_mail()
    ticket = email_desk.desk.get_ticket(ticket_id)
    assert ticket.acknowledged_at is None
    (failure,) = ticket.delivery_failures
    assert failure["notice"] == "acknowledgement" and failure["permanent"]
    assert failure["reason"].startswith("550") and failure["fallback"] == ["chatbot", "phone"]
    assert email_desk.send_mail() == 0


def test_temporary_failure_is_retried_with_backoff_then_delivered(
    email_desk: EmailDesk, mail_catcher: MailCatcher,  # noqa: F811
) -> None:
    mail_catcher.answer["grey@example.ru"] = "451 4.7.1 greylisted, try later"
    ticket_id = email_desk.intake.deliver(plain_letter(
        message_id="<g1@example.ru>", sender="grey@example.ru", subject="Вопрос",
        text="Версия 1.0")).ticket_id or ""
    assert email_desk.send_mail() == 1
    (entry,) = email_desk.outbox.entries()
    assert entry.status == "pending" and entry.attempts == 1 and "451" in entry.last_error
    assert entry.next_attempt_at >= email_desk.now[0] + 5  # base 10 s, jitter in the upper half
    assert email_desk.send_mail() == 0  # not due yet
    del mail_catcher.answer["grey@example.ru"]
    email_desk.now[0] = entry.next_attempt_at
    assert email_desk.send_mail() == 1
    assert len(mail_catcher.to("grey@example.ru")) == 1
    assert email_desk.desk.get_ticket(ticket_id).acknowledged_at is not None


def test_unreachable_server_gives_up_after_the_attempts_and_records_it(
    email_desk: EmailDesk, mail_catcher: MailCatcher,  # noqa: F811
) -> None:
    from dataclasses import replace

    email_desk.worker.sender = replace(email_desk.worker.sender, port=free_port())  # nobody there
    ticket_id = email_desk.intake.deliver(plain_letter(
        message_id="<d1@example.ru>", subject="Вопрос", text="Версия 1.0")).ticket_id or ""
    for _ in range(3):
        email_desk.send_mail()
        email_desk.now[0] += 10_000
    (failure,) = email_desk.desk.get_ticket(ticket_id).delivery_failures
    assert "gave up after 3 attempts" in failure["reason"]


def test_bounce_of_the_notice_is_recorded_as_a_delivery_failure(
    email_desk: EmailDesk, listener: SmtpListener, mail_catcher: MailCatcher,  # noqa: F811
) -> None:
    ticket_id = email_desk.intake.deliver(plain_letter(
        message_id="<b1@example.ru>", subject="Вопрос", text="Версия 1.0")).ticket_id or ""
    email_desk.send_mail()
    assert email_desk.desk.get_ticket(ticket_id).acknowledged_at is not None
    bounce = corpus("bounce_dsn.eml").replace(CORPUS_TICKET_ID + b".ack.corpus",
                                              ticket_id.encode() + b".ack")
    smtp_send(listener, bounce, sender="")
    ticket = email_desk.desk.get_ticket(ticket_id)
    (failure,) = ticket.delivery_failures
    assert failure["reason"].startswith("bounced: 5.1.1") and "User unknown" in failure["reason"]
    assert failure["fallback"] == ["chatbot", "phone"]
    assert "Ticket.RequesterReplied" not in [type(e).__qualname__
                                             for e in email_desk.desk.ticket_events(ticket_id)]
    assert email_desk.quarantine.count() == 0


def test_bounce_for_mail_we_never_sent_is_recorded_as_such_not_quarantined(
    email_desk: EmailDesk,
) -> None:
    delivery = email_desk.intake.deliver(corpus("bounce_plain_mailer_daemon.eml"))
    assert delivery.outcome is Outcome.BOUNCE and delivery.ticket_id is None
    assert "did not send" in delivery.detail
    assert email_desk.quarantine.count() == 0


def test_staff_response_is_mailed_in_the_thread(
    email_desk: EmailDesk, mail_catcher: MailCatcher,  # noqa: F811
) -> None:
    ticket_id = email_desk.intake.deliver(plain_letter(
        message_id="<s1@example.ru>", subject="Вопрос", text="Версия 1.0")).ticket_id or ""
    email_desk.send_mail()
    email_desk.intake.deliver(plain_letter(message_id="<s2@example.ru>",
                                           subject=f"Re: [{ticket_id}]", text="Ещё деталь"))
    email_desk.desk.respond(ticket_id, text="Обновите до 1.1", links=["https://pass24online.ru/faq"],
                            actor=AGENT)
    assert email_desk.mailer.run_once() > 0
    assert email_desk.mailer.run_once() == 0  # position kept
    email_desk.send_mail()
    answer = mail_catcher.to("olga@example.ru")[-1].message
    assert answer["Subject"] == f"Re: [{ticket_id}] Вопрос"
    assert "Обновите до 1.1" in answer.get_content() and "https://pass24online.ru/faq" in answer.get_content()
    assert answer["In-Reply-To"] == "<s2@example.ru>"
    assert str(answer["References"]).split() == [
        "<s1@example.ru>", ack_message_id(ticket_id, "pass24online.ru"), "<s2@example.ru>"]
    assert "Auto-Submitted" not in answer
    # replying to our answer threads back
    delivery = email_desk.intake.deliver(plain_letter(
        message_id="<s3@example.ru>", subject="спасибо", text="ок",
        in_reply_to=str(answer["Message-ID"])))
    assert delivery.outcome is Outcome.REPLIED and delivery.ticket_id == ticket_id


def test_outbox_survives_a_restart_without_losing_or_repeating(
    tmp_path: object, mail_catcher: MailCatcher,  # noqa: F811
) -> None:
    from pathlib import Path

    from tests.fixtures.email_desk import build_email_desk

    root = Path(str(tmp_path))
    first = build_email_desk(root, mail_catcher)
    ticket_id = first.intake.deliver(plain_letter(
        message_id="<p1@example.ru>", subject="Вопрос", text="Версия 1.0")).ticket_id or ""
    first.desk.close()
    second = build_email_desk(root, mail_catcher)  # a new process over the same files
    assert second.send_mail() == 1
    assert second.send_mail() == 0
    assert len(mail_catcher.to("olga@example.ru")) == 1
    assert second.desk.get_ticket(ticket_id).acknowledged_at is not None
    wait_for(lambda: True)
    second.desk.close()


class FailingOnce:
    """A file store whose disk is full the first time (then the real store again)."""

    def __init__(self, real: object) -> None:
        self.real = real
        self.failed = False

    def store(self, file: object) -> dict[str, object]:
        if not self.failed:
            self.failed = True
            raise OSError(28, "No space left on device")
        return self.real.store(file)  # type: ignore[attr-defined, no-any-return]


def test_a_failure_after_the_ticket_is_saved_quarantines_the_letter_and_a_retry_completes_it(
    email_desk: EmailDesk, listener: SmtpListener,
) -> None:
    email_desk.gate.files = FailingOnce(email_desk.attachments)
    smtp_send(listener, corpus("mixed_attachments.eml"))  # the SMTP client sees no error
    (entry,) = email_desk.quarantine.list()
    assert "No space left on device" in entry.reason
    delivery = email_desk.intake.retry(entry.id)
    assert delivery.outcome is Outcome.DUPLICATE and delivery.ticket_id
    ticket = email_desk.desk.get_ticket(delivery.ticket_id)
    pdf, png = ticket.attachments
    assert pdf["filename"] == "отчёт.pdf" and pdf["stored"] and png["content_type"] == "image/png"
    assert email_desk.quarantine.count() == 0
    names = [type(e).__qualname__ for e in email_desk.desk.ticket_events(ticket.ticket_id)]
    assert names.count("Ticket.Received") == 1 and names.count("Ticket.AttachmentsAdded") == 1


def test_a_ticket_without_an_email_address_records_once_why_no_notice_was_sent(
    tmp_path: object, mail_catcher: MailCatcher,  # noqa: F811
) -> None:
    from pathlib import Path

    from domain.intake import IntakeRequest
    from domain.values import Actor, Channel
    from tests.fixtures.email_desk import build_email_desk

    root = Path(str(tmp_path))
    first = build_email_desk(root, mail_catcher)
    ticket_id = first.gate.submit(IntakeRequest(
        channel=Channel.PHONE, intake_key="call-1", actor=Actor.requester("+79160001122"),
        phone="+79160001122", subject="Не открывается шлагбаум")).ticket_id or ""
    first.mailer.run_once()
    first.desk.close()
    again = build_email_desk(root, mail_catcher)  # a restarted process over the same stores
    again.mailer.run_once()
    names = [type(e).__qualname__ for e in again.desk.ticket_events(ticket_id)]
    assert names.count("Ticket.NoticeNotSent") == 1 and "Ticket.Acknowledged" not in names
    assert again.outbox.entries() == [] and mail_catcher.received == []
    again.desk.close()


def test_lines_over_the_rfc_limit_are_taken_in_not_bounced(
        email_desk: EmailDesk, listener: SmtpListener) -> None:  # noqa: F811
    """Outlook and Exchange send lines over 1000 octets and MTAs pass them on: a 500 would
    bounce a real request. Dot-stuffing still applies at line starts only."""
    long_line = "Шлагбаум " * 2000 + "END"
    raw = (f"From: olga@example.ru\r\nTo: support@pass24online.ru\r\nSubject: long\r\n"
           f"Message-ID: <long-1@example.ru>\r\nContent-Type: text/plain; charset=utf-8\r\n"
           f"Content-Transfer-Encoding: 8bit\r\n\r\n{long_line}.middle\r\n.dotted line\r\n").encode()
    smtp_send(listener, raw)  # smtplib doubles the leading dot of ".dotted line"
    ticket = email_desk.desk.get_ticket(only_ticket(email_desk))
    assert long_line + ".middle" in ticket.description
    assert "\n.dotted line" in ticket.description


def test_a_real_outlook_letter_with_long_lines_is_accepted(
        email_desk: EmailDesk, listener: SmtpListener) -> None:  # noqa: F811
    import re
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "data" / "mail" / "real" / "talon" / "outlook.eml"
    raw = re.sub(rb"\r?\n", b"\r\n", path.read_bytes())
    smtp_send(listener, raw)  # raised SMTPDataError 500 "Line too long" before
    received = [n for n in email_desk.desk.recorder.select_notifications(1, 100)
                if n.topic.endswith("Ticket.Received")]
    assert len(received) == 1


def test_an_internationalised_domain_is_sent_in_idna(
    email_desk: EmailDesk, mail_catcher: MailCatcher,  # noqa: F811
) -> None:
    ticket_id = email_desk.intake.deliver(plain_letter(
        message_id="<idn1@example.ru>", sender="olga@пример.рф", subject="Помогите",
        text="Версия 1.0")).ticket_id or ""
    assert email_desk.send_mail() == 1
    assert len(mail_catcher.to("olga@xn--e1afmkfd.xn--p1ai")) == 1
    assert email_desk.desk.get_ticket(ticket_id).acknowledged_at is not None


def test_a_non_ascii_mailbox_goes_as_smtputf8_where_the_server_takes_it(
    email_desk: EmailDesk, mail_catcher: MailCatcher,  # noqa: F811
) -> None:
    email_desk.intake.deliver(plain_letter(
        message_id="<idn2@example.ru>", sender="олег@пример.рф", subject="Помогите",
        text="Версия 1.0"))
    assert email_desk.send_mail() == 1
    assert len(mail_catcher.to("олег@xn--e1afmkfd.xn--p1ai")) == 1


def test_a_non_ascii_mailbox_without_smtputf8_is_a_recorded_failure_not_a_parked_crash(
    email_desk: EmailDesk,  # noqa: F811
) -> None:
    """A server without SMTPUTF8 (RFC 6531): the notice cannot go, the ticket says so and
    offers the fallback, the outbox moves on (it parked with a UnicodeEncodeError before)."""
    from dataclasses import replace

    from aiosmtpd.controller import Controller

    plain = Controller(MailCatcher(), hostname="127.0.0.1", port=free_port(),
                       enable_SMTPUTF8=False)
    plain.start()
    try:
        email_desk.worker.sender = replace(email_desk.worker.sender, port=plain.port)
        ticket_id = email_desk.intake.deliver(plain_letter(
            message_id="<idn3@example.ru>", sender="олег@пример.рф", subject="Помогите",
            text="Версия 1.0")).ticket_id or ""
        email_desk.send_mail()
    finally:
        plain.stop()
    (entry,) = email_desk.outbox.entries()
    assert entry.status != "parked" and "UnicodeEncodeError" not in entry.last_error
    (failure,) = email_desk.desk.get_ticket(ticket_id).delivery_failures
    assert failure["permanent"] and "SMTPUTF8" in failure["reason"]
    assert email_desk.send_mail() == 0


def test_a_text_over_the_attachment_limit_is_still_kept_whole(
    tmp_path: object, mail_catcher: MailCatcher,  # noqa: F811
) -> None:
    """The description is cut with a note saying the full text is kept as an attachment:
    that must be true whatever the attachment limit, or what was said past the cut is lost."""
    from pathlib import Path

    from tests.fixtures.email_desk import build_email_desk

    built = build_email_desk(Path(str(tmp_path)), mail_catcher, max_attachment_bytes=1000)
    text = "".join(f"Строка {n}: шлагбаум не открывается.\n" for n in range(6000))
    delivery = built.intake.deliver(plain_letter(
        message_id="<long-text@example.ru>", subject="Длинное письмо", text=text))
    ticket = built.desk.get_ticket(delivery.ticket_id or "")
    assert "полный текст сохранён во вложении" in ticket.description
    (full,) = ticket.attachments
    assert full["filename"] == "full-text.txt" and full["stored"], full
    stored = built.attachments.read(full["sha256"]).decode()
    assert "Строка 5999: шлагбаум не открывается." in stored
    built.desk.close()


def test_a_mail_follower_started_afresh_does_not_repeat_a_decided_notice(
    email_desk: EmailDesk, mail_catcher: MailCatcher, tmp_path: object,  # noqa: F811
) -> None:
    from pathlib import Path

    from adapters.outbox.notices import Notices, NoticeSettings
    from adapters.outbox.responses import ResponseMailer
    from adapters.outbox.store import Outbox

    mail_catcher.answer["gone@example.ru"] = "550 5.1.1 no such user"
    for n, sender in enumerate(("olga@example.ru", "gone@example.ru")):
        email_desk.intake.deliver(plain_letter(message_id=f"<f{n}@example.ru>", sender=sender,
                                               subject="Вопрос", text="Версия 1.0"))
    email_desk.send_mail()  # one acknowledged, one failed for good (R21)
    # e.g. the outbox's database was lost: a new follower reads the log from the start
    fresh = Outbox(Path(str(tmp_path)) / "fresh-mail.sqlite")
    ResponseMailer(email_desk.desk, fresh, Notices(NoticeSettings(), email_desk.desk.policy)).run_once()
    assert fresh.entries() == []
