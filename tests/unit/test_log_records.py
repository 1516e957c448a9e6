"""The read models' fast path through the log gives what the slow, general one gives.

Read models read the log as ``LogRecord``s (one lean SQL query on SQLite) and
decode stored states with orjson (``stored_fields``); these tests hold both to
eventsourcing's own notifications and to ``json`` plus the seal's ``strip``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from adapters.audit.seal import strip
from projections.follower import LogRecord, NotificationFollower
from projections.tickets import from_delivered, from_record, is_ticket_topic, plain_fields, stored_fields
from services.application import SupportDesk
from services.clock import ManualClock
from services.demo import run_demo
from tests.helpers import msk


@pytest.fixture
def desk(tmp_path: Path) -> SupportDesk:
    clock = ManualClock(msk("2025-04-28 09:00"))
    desk = SupportDesk(env={"PERSISTENCE_MODULE": "eventsourcing.sqlite",
                            "SQLITE_DBNAME": str(tmp_path / "store.sqlite")}, clock=clock)
    run_demo(desk, clock, run="x")
    return desk


def test_sqlite_records_are_eventsourcings_notifications(desk: SupportDesk) -> None:
    follower = NotificationFollower(desk)
    notifications = follower.notifications(0, 10_000)
    assert len(notifications) > 20
    for after, limit in ((0, 10_000), (7, 5), (len(notifications) - 1, 10)):
        expected = [LogRecord(n.id, str(n.originator_id), n.originator_version, n.topic, n.state)
                    for n in notifications if n.id > after][:limit]
        assert follower.records(after, limit) == expected
    assert follower.records(len(notifications), 10) == []
    first = follower.records(0, 1)[0]
    assert first.notification() == notifications[0]


def test_records_decode_as_the_mapper_does(desk: SupportDesk) -> None:
    follower = NotificationFollower(desk)
    records = {r.id: r for r in follower.records(0, 10_000)}
    names = set()
    for delivered in follower.read(0, 10_000):
        if is_ticket_topic(delivered.topic):
            assert from_record(records[delivered.position]) == from_delivered(delivered)
            names.add(delivered.topic)
    assert len(names) >= 10


@pytest.mark.parametrize("body", [
    b'{"text":"\\ud800 lone surrogate","at":{"_type_":"datetime_iso","_data_":"2025-01-01T09:00:00+03:00"}}',
    b'{"n":123456789012345678901234567890,"at":"x"}',
    b'{"nested":{"deep":{"_type_":"datetime_iso","_data_":"2025-01-01T09:00:00+03:00"}},"at":"x"}',
    b'{"text":"\\u0000 \xd0\x9f\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82 \xf0\x9f\x98\x80","at":"x"}',
    b'{}',
])
@pytest.mark.parametrize("sealed", [False, True])
def test_stored_fields_equal_json_after_strip(body: bytes, sealed: bool) -> None:
    from adapters.audit.seal import attach

    state = attach(body, "abcdef01", bytes(32)) if sealed else body
    assert stored_fields(state) == plain_fields(strip(state).decode())
    assert "_audit" not in stored_fields(state)
    assert json.loads(strip(state)) == json.loads(body)


def test_read_models_of_a_ciphered_store_equal_those_of_a_plain_one(tmp_path: Path) -> None:
    """A ciphered or compressed store goes through the mapper, and the rows come out the same."""
    from eventsourcing.cipher import AESCipher

    from projections.store import SQLiteReadStore
    from projections.system import build_projections

    tables = ("rm_queue", "rm_sla_timers", "rm_sla_stats", "rm_sla_buckets", "rm_history")
    contents = []
    for extra in ({}, {"CIPHER_TOPIC": "eventsourcing.cipher:AESCipher",
                       "CIPHER_KEY": AESCipher.create_key(16),
                       "COMPRESSOR_TOPIC": "eventsourcing.compressor:ZlibCompressor"}):
        clock = ManualClock(msk("2025-04-28 09:00"))
        name = "ciphered" if extra else "plain"
        desk = SupportDesk(env={"PERSISTENCE_MODULE": "eventsourcing.sqlite",
                                "SQLITE_DBNAME": str(tmp_path / f"{name}.sqlite"), **extra},
                           clock=clock)
        run_demo(desk, clock, run="x")
        store = SQLiteReadStore(tmp_path / f"{name}.read.sqlite")
        _, runner = build_projections(desk, calendar=desk.calendar, clock=clock, store=store)
        assert runner.raw_json is not bool(extra)
        runner.catch_up()
        assert runner.position() == desk.recorder.max_notification_id()
        contents.append({table: store.query(f"SELECT * FROM {table} ORDER BY 1, 2, 3")  # noqa: S608
                         for table in tables})
        store.close()
    plain, ciphered = contents
    assert plain["rm_queue"] and plain["rm_history"] and plain["rm_sla_buckets"]
    for table in tables:  # ticket IDs differ between the two stores; nothing else may
        assert _without_uuids(plain[table]) == _without_uuids(ciphered[table]), table


def _without_uuids(rows: list[dict[str, object]]) -> list[dict[str, object]]:
    return [{k: v for k, v in row.items() if k not in ("ticket_uuid", "ticket_id")}
            for row in rows]
