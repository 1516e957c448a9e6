"""The outbox: letters waiting to be sent, in the main database, safe for N workers.

A letter moves ``pending`` → ``sent`` or ``failed`` (or ``parked``, set aside as
poison, see ``projections.parking``); ``recorded`` says whether the outcome is
already in the ticket's history, so a crash between the SMTP server's answer and
the event store is finished on restart without sending again.

Several workers share one outbox: a worker **claims** letters (an atomic
``UPDATE`` of ``claimed_by`` and ``lease_until``; ``FOR UPDATE SKIP LOCKED`` on
PostgreSQL, the write lock of ``BEGIN IMMEDIATE`` on SQLite) before it sends
them, so each letter is sent by one worker. A worker that dies leaves its
claims to expire after the lease.

Letters are queued under a key per event (``ack:<ticket>``,
``response:<ticket>:<version>``), so queueing again is a no-op: two mailers, or a
mailer started afresh, never queue a letter twice. The mailers' log positions
(``outbox_positions``) are stored with the letters, in the same transaction, and
only ever move forward.

A registration notice is decided once for all mailers (``queue_notice``): under
a lock per recipient, the notices queued to that address in the limit's windows
are counted from this table, and the ticket's ``ack:<ticket>`` key is taken
either by the letter or by a ``withheld`` row (never sent, never claimed), so
two mailers cannot both send and refuse the same ticket's notice.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from projections.schema import blob_type, create_schema, id_column, real_type
from projections.store import Cursor, ReadStore, SQLiteReadStore


WITHHELD = "withheld"  # a key taken by a notice that is never sent (the ticket says why)


def _schema(dialect: str) -> tuple[str, ...]:
    real = real_type(dialect)
    return (
        f"""CREATE TABLE IF NOT EXISTS outbox (
            id {id_column(dialect)},
            key TEXT NOT NULL UNIQUE,
            kind TEXT NOT NULL,
            ticket_id TEXT NOT NULL,
            recipient TEXT NOT NULL,
            message_id TEXT NOT NULL,
            message {blob_type(dialect)} NOT NULL,
            status TEXT NOT NULL DEFAULT 'pending',
            recorded INTEGER NOT NULL DEFAULT 0,
            attempts INTEGER NOT NULL DEFAULT 0,
            next_attempt_at {real} NOT NULL,
            last_error TEXT NOT NULL DEFAULT '',
            permanent INTEGER NOT NULL DEFAULT 0,
            created_at {real} NOT NULL,
            finished_at {real},
            claimed_by TEXT,
            lease_until {real}
        )""",
        "CREATE INDEX IF NOT EXISTS outbox_due ON outbox (status, next_attempt_at)",
        "CREATE INDEX IF NOT EXISTS outbox_message_id ON outbox (message_id)",
        "CREATE INDEX IF NOT EXISTS outbox_ticket ON outbox (ticket_id)",
        "CREATE TABLE IF NOT EXISTS outbox_positions (name TEXT PRIMARY KEY, position BIGINT NOT NULL)",
    )


_COLUMNS = ("id, key, kind, ticket_id, recipient, message_id, message, status, recorded, attempts,"
            " next_attempt_at, last_error, permanent")
_CLAIMABLE = ("((status = 'pending' AND next_attempt_at <= ?"
              # A ticket's letters go out in order: none overtakes an earlier one still waiting.
              " AND NOT EXISTS (SELECT 1 FROM outbox earlier WHERE earlier.ticket_id = outbox.ticket_id"
              " AND earlier.id < outbox.id AND earlier.status IN ('pending', 'parked')))"
              " OR (status IN ('sent', 'failed') AND recorded = 0))"
              " AND (lease_until IS NULL OR lease_until < ?)")


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
    """Durable queue of outbound mail, keyed so the same notice is queued once.

    ``where``: the main database's store; a path opens an SQLite file (tools, tests).
    """

    def __init__(self, where: ReadStore | Path | str) -> None:
        if isinstance(where, (Path, str)):
            where = SQLiteReadStore(where)
        self.store = where
        self.dialect = where.dialect
        create_schema(where, _schema(self.dialect))

    def enqueue(self, mail: OutboundMail, *, now: float) -> bool:
        """Queue a message; False when its key was queued before."""
        with self.store.transaction() as cursor:
            return self._insert(cursor, mail, now)

    def enqueue_tracked(self, mails: Iterable[OutboundMail], *, follower: str, position: int,
                        now: float) -> int:
        """Queue messages and move a log follower's position (forward only) in one transaction."""
        highest = "GREATEST" if self.dialect == "postgres" else "MAX"
        with self.store.transaction() as cursor:
            added = sum(self._insert(cursor, mail, now) for mail in mails)
            cursor.execute(
                "INSERT INTO outbox_positions (name, position) VALUES (?, ?)"
                f" ON CONFLICT(name) DO UPDATE SET position = {highest}(outbox_positions.position,"
                " excluded.position)", (follower, position))
        return added

    def queue_notice(self, mail: OutboundMail, *, now: float,
                     windows: Sequence[tuple[float, int]]) -> str:
        """Queue a registration notice unless its recipient had ``amount`` notices queued
        within ``seconds`` for one of the ``windows``; then its key is taken by a
        ``withheld`` row instead. Answers ``queued``, ``withheld``, or the status of the
        row that held the key before (decided by another mailer, or before a restart)."""
        recipient = mail.recipient.strip().lower()
        with self.store.transaction() as cursor:
            if self.dialect == "postgres":  # SQLite: the transaction holds the write lock already
                cursor.execute("SELECT pg_advisory_xact_lock(hashtext(?))", (f"notice:{recipient}",))
            cursor.execute("SELECT status FROM outbox WHERE key = ?", (mail.key,))
            row = cursor.fetchone()
            if row is not None:
                return str(dict(row)["status"])
            for seconds, amount in windows:
                cursor.execute("SELECT COUNT(*) AS n FROM outbox WHERE kind = ? AND status <> ?"
                               " AND lower(recipient) = ? AND created_at > ?",
                               (mail.kind, WITHHELD, recipient, now - seconds))
                found = cursor.fetchone()
                if found is not None and int(dict(found)["n"]) >= amount:
                    self._insert(cursor, OutboundMail(mail.key, mail.kind, mail.ticket_id,
                                                      mail.recipient, "", b""), now, WITHHELD)
                    return WITHHELD
            self._insert(cursor, mail, now)
            return "queued"

    def position(self, follower: str) -> int:
        rows = self.store.query("SELECT position FROM outbox_positions WHERE name = ?", (follower,))
        return int(rows[0]["position"]) if rows else 0

    @staticmethod
    def _insert(cursor: Cursor, mail: OutboundMail, now: float, status: str = "pending") -> bool:
        cursor.execute(
            "INSERT INTO outbox (key, kind, ticket_id, recipient, message_id, message, status,"
            " recorded, next_attempt_at, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (key) DO NOTHING RETURNING id",
            (mail.key, mail.kind, mail.ticket_id, mail.recipient, mail.message_id, mail.message,
             status, int(status == WITHHELD), now, now),
        )
        return cursor.fetchone() is not None

    def claim(self, *, worker: str, now: float, lease: float = 300.0, limit: int = 50,
              hold: Collection[str] = ()) -> list[OutboxEntry]:
        """Take up to ``limit`` letters due now (to send, or whose outcome the ticket lacks)
        for ``worker`` until ``now + lease``; letters of tickets in ``hold`` stay queued."""
        where = _CLAIMABLE
        args: list[Any] = [now, now]
        if hold:
            where += f" AND ticket_id NOT IN ({','.join('?' * len(hold))})"
            args += list(hold)
        pick = f"SELECT id FROM outbox WHERE {where} ORDER BY id LIMIT ?"  # noqa: S608
        if self.dialect == "postgres":
            pick += " FOR UPDATE SKIP LOCKED"
        with self.store.transaction() as cursor:
            cursor.execute(f"UPDATE outbox SET claimed_by = ?, lease_until = ? WHERE id IN ({pick})"  # noqa: S608
                           f" RETURNING {_COLUMNS}", (worker, now + lease, *args, limit))
            rows = cursor.fetchall()
        return sorted((_entry(row) for row in rows), key=lambda e: e.id)

    def due(self, *, now: float, limit: int = 50) -> list[OutboxEntry]:
        """What ``claim`` would take now, without claiming (for tools)."""
        rows = self.store.query(f"SELECT {_COLUMNS} FROM outbox WHERE {_CLAIMABLE}"  # noqa: S608
                                " ORDER BY id LIMIT ?", (now, now, limit))
        return [_entry(row) for row in rows]

    def get(self, key: str) -> OutboxEntry | None:
        rows = self.store.query(f"SELECT {_COLUMNS} FROM outbox WHERE key = ?", (key,))  # noqa: S608
        return _entry(rows[0]) if rows else None

    def get_by_id(self, entry_id: int) -> OutboxEntry | None:
        rows = self.store.query(f"SELECT {_COLUMNS} FROM outbox WHERE id = ?", (entry_id,))  # noqa: S608
        return _entry(rows[0]) if rows else None

    def by_message_id(self, message_id: str) -> OutboxEntry | None:
        rows = self.store.query(f"SELECT {_COLUMNS} FROM outbox WHERE message_id = ?",  # noqa: S608
                                (message_id,))
        return _entry(rows[0]) if rows else None

    def entries(self, *, ticket_id: str | None = None) -> list[OutboxEntry]:
        query = f"SELECT {_COLUMNS} FROM outbox"  # noqa: S608
        args: tuple[str, ...] = ()
        if ticket_id:
            query += " WHERE ticket_id = ?"
            args = (ticket_id,)
        return [_entry(row) for row in self.store.query(query + " ORDER BY id", args)]

    def mark_sent(self, entry_id: int, *, now: float) -> None:
        self._update(entry_id, "status = 'sent', attempts = attempts + 1, finished_at = ?, "
                     "last_error = ''", now)

    def mark_retry(self, entry_id: int, *, error: str, next_attempt_at: float) -> None:
        self._update(entry_id, "attempts = attempts + 1, last_error = ?, next_attempt_at = ?, "
                     "claimed_by = NULL, lease_until = NULL", error[:2000], next_attempt_at)

    def mark_failed(self, entry_id: int, *, error: str, now: float, counts_attempt: bool = True) -> None:
        """Delivery failed for good (5xx, too many attempts, or a bounce after it was sent)."""
        self._update(entry_id, "status = 'failed', permanent = 1, recorded = 0, last_error = ?, "
                     f"finished_at = ?, attempts = attempts + {1 if counts_attempt else 0}",
                     error[:2000], now)

    def mark_withheld(self, entry_id: int) -> None:
        """Never sent: the ticket records why it got no notice."""
        self._update(entry_id, "status = 'withheld', recorded = 1, claimed_by = NULL, "
                     "lease_until = NULL")

    def mark_recorded(self, entry_id: int) -> None:
        self._update(entry_id, "recorded = 1, claimed_by = NULL, lease_until = NULL")

    def unclaim(self, entry_id: int) -> None:
        self._update(entry_id, "claimed_by = NULL, lease_until = NULL")

    def mark_parked(self, entry_id: int, *, error: str) -> None:
        """Set aside as poison: never claimed until ``release``d."""
        self._update(entry_id, "status = 'parked', last_error = ?, claimed_by = NULL, "
                     "lease_until = NULL", error[:2000])

    def release(self, entry_id: int, *, now: float) -> None:
        """A parked letter goes back to the queue (``parked retry``)."""
        self._update(entry_id, "status = CASE WHEN finished_at IS NULL THEN 'pending' ELSE "
                     "CASE WHEN permanent = 1 THEN 'failed' ELSE 'sent' END END, "
                     "next_attempt_at = ?, claimed_by = NULL, lease_until = NULL", now)

    def _update(self, entry_id: int, assignments: str, *args: object) -> None:
        with self.store.transaction() as cursor:
            cursor.execute(f"UPDATE outbox SET {assignments} WHERE id = ?", (*args, entry_id))  # noqa: S608


def _entry(row: Any) -> OutboxEntry:
    r = dict(row)
    return OutboxEntry(int(r["id"]), str(r["key"]), str(r["kind"]), str(r["ticket_id"]),
                       str(r["recipient"]), str(r["message_id"]), bytes(r["message"]),
                       str(r["status"]), bool(r["recorded"]), int(r["attempts"]),
                       float(r["next_attempt_at"]), str(r["last_error"]), bool(r["permanent"]))
