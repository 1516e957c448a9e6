"""Issue #11 item 5: an auto-responder cannot loop, attachments per letter are capped,
and the SMTP listener receives a letter without holding copies of it in memory."""

from __future__ import annotations

import dataclasses
import hashlib
import smtplib
import subprocess
import sys
import tracemalloc
from collections.abc import Iterator
from email.message import EmailMessage
from email.policy import SMTP
from pathlib import Path

import pytest

from adapters.email.intake import Outcome
from adapters.email.smtp_listener import IntakeHandler, SmtpListener
from adapters.outbox.notice_limit import NoticeLimit
from tests.fixtures.email_desk import EmailDesk, email_desk  # noqa: F401
from tests.fixtures.mail import free_port, mail_catcher, plain_letter  # noqa: F401

MB = 1024 * 1024


def test_an_auto_responder_without_headers_gets_three_notices_not_one_per_letter(
    email_desk: EmailDesk,  # noqa: F811
) -> None:
    email_desk.mailer.notice_limit = NoticeLimit("3/hour;10/day")
    outcomes = []
    for n in range(12):
        # Its answers strip our subject (no ticket ID), carry no Auto-Submitted header and
        # look like a person's letter: nothing tells them from a request.
        letter = plain_letter(message_id=f"<auto-{n}@robot.example>", subject=f"Ваше письмо №{n}",
                              text="Спасибо, ваше письмо получено и будет рассмотрено.",
                              sender="Приёмная <robot@robot.example>")
        outcomes.append(email_desk.intake.deliver(letter))
    email_desk.mailer.run_once()

    assert [o.outcome for o in outcomes] == [Outcome.CREATED] * 12  # nothing is lost
    notices = [e for e in email_desk.outbox.entries()
               if e.recipient == "robot@robot.example" and e.status != "withheld"]
    assert len(notices) == 3
    # Every other ticket says why it got no notice.
    silent = [email_desk.desk.get_ticket(o.ticket_id) for o in outcomes[3:]]
    assert all("registration notices" in t.notice_not_sent["reason"] for t in silent)
    # Someone else still gets theirs.
    email_desk.intake.deliver(plain_letter(message_id="<olga-1@example.ru>", subject="Шлагбаум",
                                           text="Не открывается"))
    email_desk.mailer.run_once()
    assert [e.recipient for e in email_desk.outbox.entries()].count("olga@example.ru") == 1


def letter_with_files(count: int, size: int = 100) -> bytes:
    message = EmailMessage()
    message["From"] = "Olga <olga@example.ru>"
    message["To"] = "support@pass24online.ru"
    message["Subject"] = "Скриншоты"
    message["Message-ID"] = f"<files-{count}-{size}@example.ru>"
    message.set_content("Смотрите вложения")
    for n in range(count):
        message.add_attachment(bytes([n % 256]) * size + n.to_bytes(4, "big"),
                               maintype="application", subtype="octet-stream",
                               filename=f"file-{n:03}.bin")
    return message.as_bytes(policy=SMTP)  # CRLF line ends, as on the wire


def test_attachments_past_the_cap_are_listed_but_not_stored(email_desk: EmailDesk) -> None:  # noqa: F811
    email_desk.gate.settings = dataclasses.replace(email_desk.gate.settings, max_attachments=5)
    delivery = email_desk.intake.deliver(letter_with_files(8))

    attachments = email_desk.desk.get_ticket(delivery.ticket_id).attachments
    assert len(attachments) == 8
    assert [a["stored"] for a in attachments] == [True] * 5 + [False] * 3
    assert all("more than 5 attachments" in a["note"] for a in attachments[5:])
    stored = list(email_desk.attachments.root.rglob("*"))
    assert len([p for p in stored if p.is_file()]) == 5


class MeasuringHandler(IntakeHandler):
    """The real handler; notes the traced memory peak when the letter is handed over."""

    peaks: list[int]

    async def handle_DATA(self, server, session, envelope):  # type: ignore[no-untyped-def]
        self.peaks.append(tracemalloc.get_traced_memory()[1])
        return await super().handle_DATA(server, session, envelope)


@pytest.fixture
def measured(email_desk: EmailDesk) -> Iterator[tuple[SmtpListener, MeasuringHandler]]:  # noqa: F811
    listener = SmtpListener(email_desk.intake, host="127.0.0.1", port=free_port(),
                            accept_domains=["pass24online.ru"], max_bytes=30 * MB)
    handler = MeasuringHandler(email_desk.intake, accept_domains=["pass24online.ru"])
    handler.peaks = []
    listener.controller.handler = handler
    listener.start()
    yield listener, handler
    listener.stop()


SEND = """
import smtplib, sys
with smtplib.SMTP("127.0.0.1", int(sys.argv[1]), timeout=60) as client:
    client.sendmail("olga@example.ru", ["support@pass24online.ru"], open(sys.argv[2], "rb").read())
"""


@pytest.mark.slow
def test_the_smtp_listener_spools_a_large_letter_instead_of_holding_it(
    email_desk: EmailDesk, measured: tuple[SmtpListener, MeasuringHandler], tmp_path: Path,  # noqa: F811
) -> None:
    listener, handler = measured
    email_desk.attachments.max_bytes = 30 * MB
    letter = tmp_path / "big.eml"
    letter.write_bytes(letter_with_files(1, size=20 * MB))
    tracemalloc.start()
    try:
        # The client is another process: only the listener's allocations are traced here.
        subprocess.run([sys.executable, "-c", SEND, str(listener.port), str(letter)], check=True,
                       timeout=120)
    finally:
        tracemalloc.stop()
    with smtplib.SMTP("127.0.0.1", listener.port, timeout=60) as client:
        # Past the advertised SIZE (a client that ignores it): counted while streaming, dropped.
        client.ehlo()
        client.mail("olga@example.ru")
        client.rcpt("support@pass24online.ru")
        code, _ = client.data(b"Subject: big\r\n\r\n" + (b"x" * 70 + b"\r\n") * (31 * MB // 72))

    (peak,) = handler.peaks
    # While 27 MB (base64) arrived, the listener held at most the in-memory spool's share.
    assert peak < 4 * MB, f"peak {peak / MB:.1f} MB while receiving"
    assert code == 552
    email_desk.mailer.run_once()
    (ticket_id,) = {e.ticket_id for e in email_desk.outbox.entries()}
    (attachment,) = email_desk.desk.get_ticket(ticket_id).attachments
    content = bytes([0]) * 20 * MB + (0).to_bytes(4, "big")
    assert attachment["stored"] and attachment["sha256"] == hashlib.sha256(content).hexdigest()
