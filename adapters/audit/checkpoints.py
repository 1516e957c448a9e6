"""Store-wide checkpoints: a keyed chain over the notification log, a row every so often.

Checkpoint k seals the raw rows with notification IDs in ``(upto[k-1], upto[k]]``
and checkpoint k-1's seal, so deleting a whole ticket, or the newest events of
a ticket, inside a checkpointed range is caught. Rows after the last
checkpoint are protected by their own chains only (docs/AUDIT.md).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from eventsourcing.persistence import Notification

from adapters.audit.seal import GENESIS, Keyring, key_id


@dataclass(frozen=True)
class Checkpoint:
    seq: int
    upto: int
    count: int
    kid: str
    chain: bytes


def row_digest(digest: Any, n: Notification) -> None:
    """Feed one raw row into a checkpoint's digest."""
    state = bytes(n.state)
    digest.update(b"".join((
        n.id.to_bytes(8, "big"), str(n.originator_id).encode(), b"\0",
        n.originator_version.to_bytes(8, "big", signed=True), n.topic.encode(), b"\0",
        len(state).to_bytes(8, "big"), state,
    )))


def seal_checkpoint(key: bytes, previous: bytes, seq: int, start: int, upto: int, count: int,
                    rows: bytes) -> bytes:
    message = b"".join((previous, seq.to_bytes(8, "big"), start.to_bytes(8, "big"),
                        upto.to_bytes(8, "big"), count.to_bytes(8, "big"), rows))
    return hmac.new(key, message, hashlib.sha256).digest()


class CheckpointStore:
    """Checkpoint rows in a table beside the events (SQLite, PostgreSQL) or in memory (POPO)."""

    def __init__(self, recorder: Any) -> None:
        self._datastore = getattr(recorder, "datastore", None)
        self._memory: list[Checkpoint] = []
        if self._datastore is None:
            return
        table: str = recorder.events_table_name + "_checkpoints"
        schema = getattr(self._datastore, "schema", None)
        self._postgres = schema is not None
        self._table = f"{schema}.{table}" if schema else table
        self._p = "%s" if self._postgres else "?"
        blob = "BYTEA" if self._postgres else "BLOB"
        with self._datastore.transaction(commit=True) as curs:
            if self._postgres:  # replicas starting together take turns (projections.schema)
                from projections.schema import SCHEMA_LOCK

                curs.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK,))
            curs.execute(
                f"CREATE TABLE IF NOT EXISTS {self._table} (seq BIGINT PRIMARY KEY, "
                f"upto BIGINT NOT NULL, count BIGINT NOT NULL, kid TEXT NOT NULL, "
                f"chain {blob} NOT NULL)"
            )

    def all(self) -> list[Checkpoint]:
        if self._datastore is None:
            return list(self._memory)
        with self._datastore.transaction(commit=False) as curs:
            curs.execute(f"SELECT seq, upto, count, kid, chain FROM {self._table} ORDER BY seq")
            rows = curs.fetchall()
        return [Checkpoint(int(r["seq"]), int(r["upto"]), int(r["count"]), str(r["kid"]),
                           bytes(r["chain"])) for r in rows]

    def add(self, checkpoint: Checkpoint) -> None:
        if self._datastore is None:
            self._memory.append(checkpoint)
            return
        p = self._p
        with self._datastore.transaction(commit=True) as curs:
            curs.execute(
                f"INSERT INTO {self._table} (seq, upto, count, kid, chain) "
                f"VALUES ({p}, {p}, {p}, {p}, {p})",
                (checkpoint.seq, checkpoint.upto, checkpoint.count, checkpoint.kid,
                 checkpoint.chain),
            )


def notifications(recorder: Any, after: int, upto: int | None = None,
                  batch: int = 1000) -> Iterator[Notification]:
    position = after
    while True:
        page = recorder.select_notifications(start=position + 1, limit=batch, stop=upto,
                                             inclusive_of_start=True)
        if not page:
            return
        yield from page
        position = page[-1].id


def write_checkpoints(recorder: Any, store: CheckpointStore, keyring: Keyring,
                      every: int = 10_000) -> list[Checkpoint]:
    """Checkpoint everything stored so far, at most ``every`` rows per checkpoint."""
    existing = store.all()
    last = existing[-1] if existing else None
    previous, after, seq = (last.chain, last.upto, last.seq) if last else (GENESIS, 0, 0)
    head = recorder.max_notification_id() or 0
    written: list[Checkpoint] = []
    digest, count, start = hashlib.sha256(), 0, after
    for n in notifications(recorder, after, head):
        row_digest(digest, n)
        count += 1
        if count == every or n.id == head:
            seq += 1
            chain = seal_checkpoint(keyring.current, previous, seq, start, n.id, count,
                                    digest.digest())
            checkpoint = Checkpoint(seq, n.id, count, key_id(keyring.current), chain)
            store.add(checkpoint)
            written.append(checkpoint)
            previous, start, digest, count = chain, n.id, hashlib.sha256(), 0
    return written
