"""No SMTP server (development, or an outage): one log line per reason, not one per letter and pass."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from tests.fixtures.email_desk import build_email_desk
from tests.fixtures.mail import MailCatcher, free_port, plain_letter


def test_the_same_delivery_failure_is_logged_once(tmp_path: Path,
                                                  caplog: pytest.LogCaptureFixture) -> None:
    nobody = MailCatcher(port=free_port())  # nothing listens there: connection refused
    built = build_email_desk(tmp_path, nobody)
    try:
        for n in range(3):
            built.intake.deliver(plain_letter(message_id=f"<quiet-{n}@example.ru>",
                                              subject=f"Вопрос {n}", text="Как выгрузить журнал?"))
        built.mailer.run_once()  # queues the registration notices
        caplog.clear()
        with caplog.at_level(logging.DEBUG, logger="adapters.outbox.worker"):
            for _ in range(3):
                built.now[0] += 3600  # every letter is due again
                built.worker.run_once()
        failures = [r for r in caplog.records if "retry in" in r.getMessage()]
        assert len(failures) >= 6  # every try is still recorded (outbox list, DEBUG)
        loud = [r for r in failures if r.levelno >= logging.INFO]
        assert len(loud) == 1, [r.getMessage() for r in loud]
        assert "outbox list" in loud[0].getMessage()
    finally:
        built.desk.close()
