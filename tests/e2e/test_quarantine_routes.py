"""Quarantined letters over the API: behind its role guards, retried by staff only."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from adapters.email.http import build_quarantine_router
from services.api import create_app
from services.api.auth import READERS, STAFF, Role, TokenStore
from services.api.deps import require
from services.application import SupportDesk
from services.clock import ManualClock
from services.mail import build_mail
from services.settings import Settings
from tests.fixtures.mail import plain_letter
from tests.helpers import msk


def test_staff_retry_a_quarantined_letter_once_the_cause_is_gone(tmp_path: Path) -> None:
    desk = SupportDesk(clock=ManualClock(msk("2025-05-12 10:00")))
    settings = Settings(persistence="popo", mail_db_path=tmp_path / "mail.sqlite",
                        attachments_dir=tmp_path / "attachments",
                        holiday_channels="email")
    mail = build_mail(desk, settings)
    tokens = TokenStore(None)
    agent, auditor = tokens.issue(Role.AGENT, "a"), tokens.issue(Role.AUDITOR, "b")
    app = create_app(desk, tokens=tokens, gate=mail.gate, extra_routers=[
        (build_quarantine_router(mail.quarantine, mail.intake.retry, retry_guard=require(STAFF)),
         READERS)])
    client = TestClient(app)
    # The channels' policy closes email today: the letter is quarantined with the reason...
    mail.gate.channels.holiday_channels = frozenset()
    desk.clock = ManualClock(msk("2025-05-01 10:00"))
    delivery = mail.intake.deliver(plain_letter(message_id="<q1@example.ru>", subject="Касса",
                                                text="Версия 1.2 не печатает"))
    assert delivery.outcome.value == "quarantined" and "public holiday" in delivery.detail
    listing = client.get("/intake/quarantine", headers={"Authorization": f"Bearer {auditor}"})
    (item,) = listing.json()["items"]
    assert client.get("/intake/quarantine").status_code == 401
    path = f"/intake/quarantine/{item['id']}/retry"
    assert client.post(path, headers={"Authorization": f"Bearer {auditor}"}).status_code == 403
    # ... and once the day is over, staff hand it to the desk again.
    desk.clock = ManualClock(msk("2025-05-12 10:00"))
    retried = client.post(path, headers={"Authorization": f"Bearer {agent}"})
    assert retried.status_code == 200 and retried.json()["outcome"] == "created"
    assert mail.quarantine.count() == 0
    missing = client.post(path, headers={"Authorization": f"Bearer {agent}"})
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
