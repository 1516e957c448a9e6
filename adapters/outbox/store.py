"""The outbox: messages waiting to be sent, in SQLite, so a restart loses none.

A message moves ``pending`` → ``sent`` or ``failed``; ``recorded`` says whether
the outcome is already in the ticket's history, so a crash between the SMTP
server's answer and the event store is finished on restart without sending again.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS outbox (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        key TEXT NOT NULL UNIQUE,
        kind TEXT NOT NULL,
        ticket_id TEXT NOT NULL,
        recipient TEXT NOT NULL,
        message_id TEXT NOT NULL,
        message BLOB NOT NULL,
        status TEXT NOT NULL DEFAULT 'pending',
        recorded INTEGER NOT NULL DEFAULT 0,
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_at REAL NOT NULL,
        last_error TEXT NOT NULL DEFAULT '',
        permanent INTEGER NOT NULL DEFAULT 0,
        created_at REAL NOT NULL,
        finished_at REAL
    )""",
    "CREATE INDEX IF NOT EXISTS outbox_due ON outbox (status, next_attempt_at)",
    "CREATE INDEX IF NOT EXISTS outbox_message_id ON outbox (message_id)",
    "CREATE TABLE IF NOT EXISTS outbox_positions (name TEXT PRIMARY KEY, position INTEGER NOT NULL)",
)
_COLUMNS = ("id, key, kind, ticket_id, recipient, message_id, message, status, recorded, attempts,"
            " next_attempt_at, last_error, permanent")


@dataclass(frozen=True)
class OutboundMail:
    key: str
    kind: str
    ticket_id: str
    recipient: str
    message_id: str
    message: bytes


@dataclass(frozen=True)
class OutboxEntry:
    id: int
    key: str
    kind: str
    ticket_id: str
    recipient: str
    message_id: str
    message: bytes
    status: str
    recorded: bool
    attempts: int
    next_attempt_at: float
    last_error: str
    permanent: bool


class Outbox:
    """Durable queue of outbound mail, keyed so the same notice is queued once."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.Lock()
        with self._transaction() as conn:
            for statement in _SCHEMA:
                conn.execute(statement)

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        conn = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
        finally:
            conn.close()

    def enqueue(self, mail: OutboundMail, *, now: float) -> bool:
        """Queue a message; False when its key was queued before."""
        with self._lock, self._transaction() as conn:
            return self._insert(conn, mail, now)

    def enqueue_tracked(self, mails: Iterable[OutboundMail], *, follower: str, position: int,
                        now: float) -> int:
        """Queue messages and move a log follower's position in one transaction."""
        with self._lock, self._transaction() as conn:
            added = sum(self._insert(conn, mail, now) for mail in mails)
            conn.execute(
                "INSERT INTO outbox_positions (name, position) VALUES (?, ?)"
                " ON CONFLICT(name) DO UPDATE SET position = excluded.position",
                (follower, position),
            )
        return added

    def position(self, follower: str) -> int:
        with self._transaction() as conn:
            row = conn.execute("SELECT position FROM outbox_positions WHERE name = ?",
                               (follower,)).fetchone()
        return int(row[0]) if row else 0

    @staticmethod
    def _insert(conn: sqlite3.Connection, mail: OutboundMail, now: float) -> bool:
        cursor = conn.execute(
            "INSERT OR IGNORE INTO outbox (key, kind, ticket_id, recipient, message_id, message,"
            " next_attempt_at, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (mail.key, mail.kind, mail.ticket_id, mail.recipient, mail.message_id, mail.message,
             now, now),
        )
        return cursor.rowcount == 1

    def due(self, *, now: float, limit: int = 50) -> list[OutboxEntry]:
        """Messages to try now, and finished ones whose outcome the ticket does not know yet."""
        with self._transaction() as conn:
            rows = conn.execute(
                f"SELECT {_COLUMNS} FROM outbox WHERE (status = 'pending' AND next_attempt_at <= ?)"
                " OR (status != 'pending' AND recorded = 0) ORDER BY id LIMIT ?", (now, limit),
            ).fetchall()
        return [_entry(row) for row in rows]

    def get(self, key: str) -> OutboxEntry | None:
        with self._transaction() as conn:
            row = conn.execute(f"SELECT {_COLUMNS} FROM outbox WHERE key = ?", (key,)).fetchone()
        return _entry(row) if row else None

    def by_message_id(self, message_id: str) -> OutboxEntry | None:
        with self._transaction() as conn:
            row = conn.execute(f"SELECT {_COLUMNS} FROM outbox WHERE message_id = ?",
                               (message_id,)).fetchone()
        return _entry(row) if row else None

    def entries(self, *, ticket_id: str | None = None) -> list[OutboxEntry]:
        query = f"SELECT {_COLUMNS} FROM outbox"
        args: tuple[str, ...] = ()
        if ticket_id:
            query += " WHERE ticket_id = ?"
            args = (ticket_id,)
        with self._transaction() as conn:
            rows = conn.execute(query + " ORDER BY id", args).fetchall()
        return [_entry(row) for row in rows]

    def mark_sent(self, entry_id: int, *, now: float) -> None:
        self._update(entry_id, "status = 'sent', attempts = attempts + 1, finished_at = ?, "
                     "last_error = ''", now)

    def mark_retry(self, entry_id: int, *, error: str, next_attempt_at: float) -> None:
        self._update(entry_id, "attempts = attempts + 1, last_error = ?, next_attempt_at = ?",
                     error[:2000], next_attempt_at)

    def mark_failed(self, entry_id: int, *, error: str, now: float, counts_attempt: bool = True) -> None:
        """Delivery failed for good (5xx, too many attempts, or a bounce after it was sent)."""
        self._update(entry_id, "status = 'failed', permanent = 1, recorded = 0, last_error = ?, "
                     f"finished_at = ?, attempts = attempts + {1 if counts_attempt else 0}",
                     error[:2000], now)

    def mark_recorded(self, entry_id: int) -> None:
        self._update(entry_id, "recorded = 1")

    def _update(self, entry_id: int, assignments: str, *args: object) -> None:
        with self._lock, self._transaction() as conn:
            conn.execute(f"UPDATE outbox SET {assignments} WHERE id = ?", (*args, entry_id))


def _entry(row: Any) -> OutboxEntry:
    (id_, key, kind, ticket_id, recipient, message_id, message, status, recorded, attempts,
     next_at, error, permanent) = row
    return OutboxEntry(int(str(id_)), str(key), str(kind), str(ticket_id), str(recipient),
                       str(message_id), bytes(message), str(status),
                       bool(recorded), int(str(attempts)), float(str(next_at)), str(error),
                       bool(permanent))
