"""Tamper-evident history: rows edited, deleted, reordered or forged by SQL are caught."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import pytest

from adapters.audit.checkpoints import CheckpointStore, write_checkpoints
from adapters.audit.verify import verify_originator, verify_store
from domain.ids import ticket_uuid
from domain.values import Category, Level, Product
from services.application import SupportDesk
from tests.integration.test_desk_persistence import make_desk, new_ticket
from tests.helpers import AGENT, REQUESTER, msk


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_env(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[dict[str, str]]:
    if request.param == "sqlite":
        yield {"PERSISTENCE_MODULE": "eventsourcing.sqlite",
               "SQLITE_DBNAME": str(tmp_path / "desk.sqlite"), "SQLITE_LOCK_TIMEOUT": "10"}
    else:
        yield request.getfixturevalue("postgres_env")


class Tamper:
    """Raw SQL on the stored rows, bypassing the application."""

    def __init__(self, desk: SupportDesk) -> None:
        self.desk = desk
        self.table = desk.recorder.events_table_name  # type: ignore[attr-defined]
        self.postgres = hasattr(desk.recorder.datastore, "schema")  # type: ignore[attr-defined]

    def oid(self, ticket_id: str) -> Any:
        uuid = ticket_uuid(ticket_id)
        return uuid if self.postgres else uuid.hex

    def sql(self, statement: str, *params: Any) -> list[Any]:
        statement = statement.replace("{t}", self.table)
        if self.postgres:
            statement = statement.replace("?", "%s")
        with self.desk.recorder.datastore.transaction(commit=True) as curs:  # type: ignore[attr-defined]
            curs.execute(statement, params)
            try:
                return list(curs.fetchall())
            except Exception:
                return []

    def state(self, ticket_id: str, version: int) -> bytes:
        rows = self.sql("SELECT state FROM {t} WHERE originator_id = ? AND originator_version = ?",
                        self.oid(ticket_id), version)
        return bytes(rows[0]["state"])

    def set_state(self, ticket_id: str, version: int, state: bytes) -> None:
        self.sql("UPDATE {t} SET state = ? WHERE originator_id = ? AND originator_version = ?",
                 state, self.oid(ticket_id), version)


@pytest.fixture
def desk(store_env: dict[str, str]) -> Iterator[SupportDesk]:
    desk = make_desk(store_env)
    yield desk
    desk.close()


def fill(desk: SupportDesk) -> tuple[str, str]:
    first = new_ticket(desk, "<one@example.ru>")
    desk.classify(first, level=Level.STANDARD, product=Product.ONLINE,
                  category=Category.DEFECT, actor=AGENT, at=msk("2025-04-28 10:05"))
    desk.request_information(first, text="Screenshot?", actor=AGENT, at=msk("2025-04-28 10:30"))
    desk.record_requester_reply(first, text="Here", actor=REQUESTER, at=msk("2025-04-29 10:30"))
    second = new_ticket(desk)
    desk.resolve(first, resolution="Cache cleared", actor=AGENT, at=msk("2025-04-29 12:00"))
    desk.assign(second, assignee="ivanov", actor=AGENT, at=msk("2025-04-29 12:10"))
    return first, second


def test_untouched_store_verifies_with_checkpoints(desk: SupportDesk) -> None:
    first, second = fill(desk)
    write_checkpoints(desk.recorder, CheckpointStore(desk.recorder), desk.mapper.keyring, every=3)
    desk.assign(second, assignee="petrov", actor=AGENT, at=msk("2025-04-29 13:00"))
    report = verify_store(desk)
    assert report.ok, report.broken
    assert (report.events, report.checkpoints, report.unchecked_tail) == (9, 3, 1)
    assert verify_originator(desk, ticket_uuid(first)).events == 5


def test_edited_field_is_caught(desk: SupportDesk) -> None:
    first, _ = fill(desk)
    tamper = Tamper(desk)
    state = tamper.state(first, 3)
    assert b"Screenshot?" in state
    tamper.set_state(first, 3, state.replace(b"Screenshot?", b"No problem"))
    broken = verify_store(desk).broken
    assert broken is not None
    assert (broken.originator_id, broken.version) == (str(ticket_uuid(first)), 3)
    assert broken.notification_id == 4
    assert "does not match its seal" in broken.problem
    assert verify_originator(desk, ticket_uuid(first)).broken is not None


def test_deleted_event_is_caught(desk: SupportDesk) -> None:
    first, _ = fill(desk)
    Tamper(desk).sql("DELETE FROM {t} WHERE originator_id = ? AND originator_version = 2",
                     Tamper(desk).oid(first))
    broken = verify_store(desk).broken
    assert broken is not None and broken.version == 3
    assert "version 2 missing" in broken.problem


def test_deleted_newest_event_is_caught_by_a_checkpoint(desk: SupportDesk) -> None:
    first, second = fill(desk)
    write_checkpoints(desk.recorder, CheckpointStore(desk.recorder), desk.mapper.keyring)
    tamper = Tamper(desk)
    tamper.sql("DELETE FROM {t} WHERE originator_id = ? AND originator_version = 2",
               tamper.oid(second))
    broken = verify_store(desk).broken
    assert broken is not None
    assert "checkpoint 1" in broken.problem and "8 rows, 7 are stored" in broken.problem


def test_reordered_events_are_caught(desk: SupportDesk) -> None:
    first, _ = fill(desk)
    tamper = Tamper(desk)
    oid = tamper.oid(first)
    update = "UPDATE {t} SET originator_version = ? WHERE originator_id = ? AND originator_version = ?"
    tamper.sql(update, 99, oid, 2)
    tamper.sql(update, 2, oid, 3)
    tamper.sql(update, 3, oid, 99)
    broken = verify_store(desk).broken
    assert broken is not None
    assert (broken.originator_id, broken.version) == (str(ticket_uuid(first)), 3)
    assert broken.notification_id == 3


def test_swapped_contents_are_caught(desk: SupportDesk) -> None:
    first, _ = fill(desk)
    tamper = Tamper(desk)
    two, three = tamper.state(first, 2), tamper.state(first, 3)
    tamper.set_state(first, 2, three)
    tamper.set_state(first, 3, two)
    broken = verify_store(desk).broken
    assert broken is not None and broken.version == 2


@pytest.mark.parametrize("copy_seal", [True, False])
def test_forged_event_is_caught(desk: SupportDesk, copy_seal: bool) -> None:
    first, _ = fill(desk)
    tamper = Tamper(desk)
    state = tamper.state(first, 5)  # Resolved, sealed
    forged = state if copy_seal else state[:state.index(b',"_audit"')] + b"}"
    tamper.sql("INSERT INTO {t} (originator_id, originator_version, topic, state) "
               "VALUES (?, ?, ?, ?)", tamper.oid(first), 6,
               "domain.ticket:Ticket.Resolved", forged)
    broken = verify_store(desk).broken
    assert broken is not None and broken.version == 6
    assert ("does not match its seal" if copy_seal else "not sealed") in broken.problem


def test_forged_ticket_is_caught(desk: SupportDesk) -> None:
    first, _ = fill(desk)
    tamper = Tamper(desk)
    row = tamper.sql("SELECT topic, state FROM {t} WHERE originator_id = ? "
                     "AND originator_version = 1", tamper.oid(first))[0]
    forged: UUID = uuid4()
    tamper.sql("INSERT INTO {t} (originator_id, originator_version, topic, state) "
               "VALUES (?, ?, ?, ?)", forged if tamper.postgres else forged.hex, 1,
               row["topic"], bytes(row["state"]))
    broken = verify_store(desk).broken
    assert broken is not None and broken.originator_id == str(forged)


def test_tampered_snapshot_is_caught(desk: SupportDesk) -> None:
    _, second = fill(desk)
    for n in range(48):
        desk.assign(second, assignee=f"agent{n:02}", actor=AGENT, at=msk("2025-04-30 10:00"))
    assert desk.snapshots is not None
    assert verify_store(desk).snapshots == 1
    recorder: Any = desk.snapshots.recorder
    snapshot = recorder.select_events(ticket_uuid(second))[0]
    assert snapshot.originator_version == 50 and b"agent47" in bytes(snapshot.state)
    tamper = Tamper(desk)
    tamper.table = recorder.events_table_name
    tamper.set_state(second, 50, bytes(snapshot.state).replace(b"agent47", b"agent00"))
    broken = verify_store(desk).broken
    assert broken is not None and broken.version == 50
    assert "snapshot differs" in broken.problem


def test_cli_verify_names_the_broken_event(desk: SupportDesk, store_env: dict[str, str],
                                           capsys: pytest.CaptureFixture[str],
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    if "SQLITE_DBNAME" not in store_env:
        pytest.skip("the CLI reads PASS24_* settings; SQLite is enough to test the wiring")
    from services.cli import main

    first, _ = fill(desk)
    monkeypatch.setenv("PASS24_SQLITE_PATH", store_env["SQLITE_DBNAME"])
    assert main(["audit", "checkpoint"]) == 0
    assert main(["audit", "verify"]) == 0
    assert "OK 8 events" in capsys.readouterr().out
    tamper = Tamper(desk)
    tamper.set_state(first, 2, tamper.state(first, 2).replace(b"defect", b"feature"))
    assert main(["audit", "verify", "--ticket", first]) == 1
    out = capsys.readouterr().out
    assert f"ticket {first} ({ticket_uuid(first)}), version 2" in out
