"""Every letter of the real-mail corpus through ``EmailIntake.deliver`` on a desk with the
whole email path wired (SQLite stores, the outbox, the quarantine): no exception, and the
outcome its manifest kind calls for."""

from __future__ import annotations

from pathlib import Path

from email.header import Header

from adapters.email.intake import Outcome
from tests.fixtures.email_desk import build_email_desk
from tests.fixtures.mail import MailCatcher, mail_catcher, plain_letter  # noqa: F401
from tests.unit.test_email_real_corpus import MANIFEST, REAL

ALLOWED = {
    "ticket": {Outcome.CREATED, Outcome.DUPLICATE},
    "reply": {Outcome.CREATED, Outcome.DUPLICATE},
    "auto-reply": {Outcome.AUTO_REPLY},
    "quarantine": {Outcome.QUARANTINED},
}


def test_every_real_letter_is_delivered_to_the_outcome_of_its_kind(
    tmp_path: Path, mail_catcher: MailCatcher,  # noqa: F811
) -> None:
    built = build_email_desk(tmp_path, mail_catcher)
    wrong: list[str] = []
    try:
        for name, expected in sorted(MANIFEST.items()):
            delivery = built.intake.deliver((REAL / name).read_bytes(), source=f"corpus:{name}")
            if expected["kind"] == "bounce":
                allowed = {Outcome.BOUNCE} if expected.get("permanent", True) else {
                    Outcome.AUTO_REPLY}
            else:
                allowed = ALLOWED[expected["kind"]]
            if delivery.outcome not in allowed:
                wrong.append(f"{name}: {delivery.outcome.value} {delivery.detail}, expected "
                             f"{expected['kind']}")
        built.mailer.run_once()  # queues the registration notice of each new ticket
        created = [e for e in built.outbox.entries()]
    finally:
        built.desk.close()
    print(f"\n{len(MANIFEST)} letters delivered, {len(wrong)} off, "
          f"{len(created)} acknowledgements queued")
    for line in wrong:
        print("  OFF", line)
    assert len(wrong) <= len(MANIFEST) * 0.03


def test_a_subject_in_the_wrong_charset_gets_a_ticket_and_its_acknowledgement_is_sent(
    tmp_path: Path, mail_catcher: MailCatcher,  # noqa: F811
) -> None:
    """Issue #12's crash: windows-1251 bytes in =?utf-8?B?…?= words left the subject
    undecoded and the acknowledgement raised UnicodeEncodeError out of deliver()."""
    built = build_email_desk(tmp_path, mail_catcher)
    try:
        raw = (REAL / "hand" / "cp1251_bytes_in_utf8_words.eml").read_bytes()
        delivery = built.intake.deliver(raw)
        assert delivery.outcome is Outcome.CREATED and delivery.ticket_id
        ticket = built.desk.get_ticket(delivery.ticket_id)
        assert ticket.subject == "Не печатается пропуск"
        assert built.send_mail() == 1
        (sent,) = mail_catcher.to("ivan@zavod.ru")
        assert "Не печатается пропуск" in str(sent.message["Subject"])
        assert built.intake.deliver(raw).outcome is Outcome.DUPLICATE
    finally:
        built.desk.close()


def test_a_final_dsn_with_a_4xx_status_for_our_acknowledgement_triggers_the_fallback(
    tmp_path: Path, mail_catcher: MailCatcher,  # noqa: F811
) -> None:
    built = build_email_desk(tmp_path, mail_catcher)
    try:
        raw = (REAL / "hand" / "cp1251_bytes_in_utf8_words.eml").read_bytes()
        ticket_id = built.intake.deliver(raw).ticket_id or ""
        built.send_mail()
        (entry,) = built.outbox.entries()
        bounce = (REAL / "hand" / "dsn_failed_with_4xx_status.eml").read_bytes().replace(
            b"<P24-4K7Q9M.ack.real@pass24online.ru>", entry.message_id.encode())
        delivery = built.intake.deliver(bounce)
        assert delivery.outcome is Outcome.BOUNCE and delivery.ticket_id == ticket_id
        assert "4.4.7" in delivery.detail
        failures = built.desk.get_ticket(ticket_id).delivery_failures
        assert failures and "4.4.7" in failures[-1]["reason"]
    finally:
        built.desk.close()


def test_a_reply_records_the_new_words_and_keeps_the_whole_letter_as_a_file(
    tmp_path: Path, mail_catcher: MailCatcher,  # noqa: F811
) -> None:
    built = build_email_desk(tmp_path, mail_catcher)
    try:
        raw = (REAL / "hand" / "reply_mailru_napisal.eml").read_bytes()
        first = built.intake.deliver(plain_letter(
            message_id="<first@mail.ru>", subject="Не открывается приложение",
            text="Приложение не открывается.", sender="Ольга <olga@mail.ru>"))
        ticket_id = first.ticket_id or ""
        subject = Header(f"Re: [{ticket_id}] Заявка зарегистрирована", "utf-8").encode()
        reply = b"\r\n".join(
            (b"Subject: " + subject.encode()) if line.startswith(b"Subject:") else line
            for line in raw.split(b"\r\n"))
        delivery = built.intake.deliver(reply)
        assert delivery.outcome is Outcome.REPLIED and delivery.ticket_id == ticket_id
        (event,) = [e for e in built.desk.ticket_events(ticket_id)
                    if type(e).__qualname__ == "Ticket.RequesterReplied"]
        assert event.text == "Спасибо, обновила приложение, теперь открывается."  # type: ignore[attr-defined]
        files = built.desk.get_ticket(ticket_id).attachments
        (whole,) = [f for f in files if f["filename"] == "letter-with-quotes.txt"]
        kept = built.attachments.read(whole["sha256"]).decode()
        assert "Попробуйте обновить приложение." in kept
    finally:
        built.desk.close()
