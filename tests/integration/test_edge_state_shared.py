"""What the HTTP edge remembers is shared by every replica: two API instances built on
one store (two ``Services``, each with its own per-process mail directory) refuse a
signed request the other accepted, and list and retry the letters the other quarantined."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from adapters.signing import signed_headers
from services.api import create_app
from services.api.auth import Role, TokenStore
from services.bootstrap import Services
from services.clock import ManualClock
from services.settings import Settings
from tests.fixtures.mail import plain_letter
from tests.helpers import msk

PHONE_SECRET = "phone-secret-0123456789"


def base_settings(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, object]:
    if request.param == "sqlite":
        return {"persistence": "sqlite", "sqlite_path": tmp_path / "desk.sqlite"}
    env = request.getfixturevalue("postgres_env")
    return {"persistence": "postgres", "postgres_host": env["POSTGRES_HOST"],
            "postgres_port": int(env["POSTGRES_PORT"]), "postgres_dbname": env["POSTGRES_DBNAME"],
            "postgres_user": env["POSTGRES_USER"],
            "postgres_password": SecretStr(env["POSTGRES_PASSWORD"])}


class Replica:
    def __init__(self, common: dict[str, object], home: Path, tokens: TokenStore) -> None:
        # Each replica has a directory of its own, as a pod's emptyDir.
        settings = Settings(**common, mail_db_path=home / "mail.sqlite",  # type: ignore[arg-type]
                            tokens_file=home / "tokens.json", attachments_dir=home / "att",
                            phone_secret=SecretStr(PHONE_SECRET))
        self.services = Services(settings, clock=ManualClock(msk("2025-05-12 10:00")))
        app = create_app(self.services.desk, tokens=tokens, read_models=self.services.read_models,
                         runner=self.services.runner, extra_routers=self.services.routers)
        self.client = TestClient(app, raise_server_exceptions=False)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def replicas(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Replica, Replica, str]]:
    common = base_settings(request, tmp_path)
    tokens = TokenStore(None)
    agent = tokens.issue(Role.AGENT, "agent.one")
    a = Replica(common, tmp_path / "a", tokens)
    b = Replica(common, tmp_path / "b", tokens)
    try:
        yield a, b, agent
    finally:
        a.services.stop()
        b.services.stop()


def test_a_signed_request_accepted_by_one_replica_is_a_replay_for_the_other(
        replicas: tuple[Replica, Replica, str]) -> None:
    a, b, _ = replicas
    body = json.dumps({"event": "incoming", "call_id": "c-shared", "caller": "+79001234567"}).encode()
    headers = signed_headers(PHONE_SECRET, body)
    accepted = a.client.post("/intake/phone/events", content=body, headers=headers)
    replayed = b.client.post("/intake/phone/events", content=body, headers=headers)
    assert accepted.status_code == 201, accepted.text
    assert replayed.status_code == 401, replayed.text
    assert "replay" in replayed.json()["detail"]
    # A new signature (another second) for other content is still welcome on B.
    other = json.dumps({"event": "incoming", "call_id": "c-other", "caller": "+79001234568"}).encode()
    fresh = b.client.post("/intake/phone/events", content=other,
                          headers=signed_headers(PHONE_SECRET, other))
    assert fresh.status_code == 201, fresh.text


def test_a_letter_quarantined_by_one_replica_is_listed_and_retried_by_the_other(
        replicas: tuple[Replica, Replica, str]) -> None:
    a, b, agent = replicas
    auth = {"Authorization": f"Bearer {agent}"}
    # On A email is closed today (a public holiday there), so the letter is quarantined.
    a.services.mail.gate.channels.holiday_channels = frozenset()
    a.services.desk.clock = ManualClock(msk("2025-05-01 10:00"))
    delivery = a.services.mail.intake.deliver(plain_letter(
        message_id="<shared-q@example.ru>", subject="Касса", text="Версия 1.2 не печатает"))
    assert delivery.outcome.value == "quarantined", delivery.detail

    listing = b.client.get("/intake/quarantine", headers=auth)
    assert listing.status_code == 200, listing.text
    assert listing.json()["total"] == 1
    (item,) = listing.json()["items"]
    assert "public holiday" in item["reason"]
    raw = b.client.get(f"/intake/quarantine/{item['id']}/raw", headers=auth)
    assert raw.status_code == 200 and b"shared-q@example.ru" in raw.content

    retried = b.client.post(f"/intake/quarantine/{item['id']}/retry", headers=auth)
    assert retried.status_code == 200 and retried.json()["outcome"] == "created", retried.text
    assert a.client.get("/intake/quarantine", headers=auth).json()["total"] == 0


def test_letters_an_older_version_quarantined_per_process_are_taken_into_the_main_database(
        tmp_path: Path) -> None:
    from adapters.email.quarantine import Quarantine
    from projections.store import SQLiteReadStore

    old = Quarantine(tmp_path / "mail.sqlite")
    old.put(b"not a letter", reason="unreadable", source="smtp", at=msk("2025-05-01 10:00"))
    main = Quarantine(SQLiteReadStore(tmp_path / "desk.sqlite"))
    assert main.adopt(tmp_path / "mail.sqlite") == 1
    assert main.adopt(tmp_path / "mail.sqlite") == 0
    (letter,) = main.list()
    assert main.get(letter.id).raw == b"not a letter"  # type: ignore[union-attr]
    assert old.count() == 0
