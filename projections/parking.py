"""Poison isolation, shared by every worker that follows a stream.

A worker (the read-model runner, a mailer, the outbox, the Kafka relay, the
intake consumer, the Kafka-fed read models, the SLA watcher) hands each failure
of an item to its ``PoisonGuard``:

- a **transient** failure (the database or the broker does not answer) is never
  set aside: the worker backs off and tries the same item again;
- any other failure is counted; when the same item failed ``tries`` times with
  the same error, it is **parked**: recorded in ``parked_events`` of the main
  database (worker, position, event ID, ticket, error, time, and what is needed
  to apply it later), and the worker moves on.

Order per ticket: while a ticket has an item parked by a worker, that worker
parks the ticket's later items behind it (state ``held``) instead of applying
them. ``pass24-desk parked retry`` marks parked items ``retry``; the worker's
``retry_pass`` then applies, in order, every item of each ticket that has
nothing left parked (the retried item first, then those held behind it). An
item that fails again is parked again. ``drop`` marks an item ``dropped`` (with
who and why in ``parked_actions``), which releases the items held behind it.

Parking is idempotent (one row per worker and event ID), so a crash between
parking an item and moving the worker's position just parks it again.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from projections.schema import blob_type, create_schema, id_column
from projections.store import ReadStore

log = logging.getLogger("pass24.parking")

PARKED = "parked_events"
ACTIONS = "parked_actions"
ACTIVE = ("parked", "held", "retry")
STATES = ("parked", "held", "retry", "done", "dropped")


def is_transient(error: BaseException) -> bool:
    """True for failures of the infrastructure (worth waiting for), not of the item."""
    if isinstance(error, (ConnectionError, TimeoutError, sqlite3.OperationalError)):
        return True
    try:
        import psycopg
        import psycopg_pool

        if isinstance(error, (psycopg.OperationalError, psycopg.InterfaceError,
                              psycopg_pool.PoolTimeout)):
            return True
    except ImportError:  # pragma: no cover - psycopg is a runtime dependency
        pass
    from eventsourcing.persistence import InterfaceError, OperationalError

    if isinstance(error, (OperationalError, InterfaceError)):
        return True
    try:
        from kafka.errors import KafkaError

        if isinstance(error, KafkaError):
            return True
    except ImportError:  # pragma: no cover
        pass
    transient: bool = getattr(error, "transient", False)
    return transient


@dataclass(frozen=True)
class Item:
    """One thing a worker handles, as the parking lot records it."""

    position: int
    """Where it was in the worker's stream (log position, Kafka offset, outbox letter ID)."""
    event_id: str
    """Unique within the worker (``<aggregate UUID>:<version>`` for store events)."""
    ticket: str
    """The key order is kept by (the aggregate UUID, a ticket ID, an intake key)."""
    payload: bytes = b""
    """What the worker needs to apply it later when the stream will not give it again."""


@dataclass(frozen=True)
class Parked:
    id: int
    worker: str
    position: int
    event_id: str
    ticket: str
    state: str
    error: str
    attempts: int
    payload: bytes
    parked_at: str
    updated_at: str

    def plain(self) -> dict[str, Any]:
        return {k: v for k, v in vars(self).items() if k != "payload"}


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


class ParkingLot:
    """The ``parked_events`` and ``parked_actions`` tables of the main database."""

    def __init__(self, store: ReadStore) -> None:
        self.store = store
        d = store.dialect
        create_schema(store, (
            f"""CREATE TABLE IF NOT EXISTS {PARKED} (
                id {id_column(d)},
                worker TEXT NOT NULL,
                position BIGINT NOT NULL,
                event_id TEXT NOT NULL,
                ticket TEXT NOT NULL,
                state TEXT NOT NULL,
                error TEXT NOT NULL,
                attempts INTEGER NOT NULL,
                payload {blob_type(d)},
                parked_at TEXT NOT NULL,
                updated_at TEXT NOT NULL,
                UNIQUE (worker, event_id))""",
            f"CREATE INDEX IF NOT EXISTS {PARKED}_active ON {PARKED} (worker, state, ticket)",
            f"""CREATE TABLE IF NOT EXISTS {ACTIONS} (
                id {id_column(d)},
                parked_id BIGINT NOT NULL,
                worker TEXT NOT NULL,
                event_id TEXT NOT NULL,
                action TEXT NOT NULL,
                actor TEXT NOT NULL,
                reason TEXT NOT NULL,
                at TEXT NOT NULL)""",
        ))

    # -- the workers' side ---------------------------------------------------------------

    def park(self, worker: str, item: Item, *, error: str, attempts: int, held: bool = False) -> None:
        """Set ``item`` aside (again, when a retry failed); a held item stays held."""
        now = _now()
        state = "held" if held else "parked"
        with self.store.transaction() as cursor:
            cursor.execute(
                f"INSERT INTO {PARKED} (worker, position, event_id, ticket, state, error, attempts,"  # noqa: S608
                " payload, parked_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (worker, event_id) DO UPDATE SET state = excluded.state,"
                " error = excluded.error, attempts = excluded.attempts,"
                f" updated_at = excluded.updated_at WHERE {PARKED}.state IN ('retry', 'held')",
                (worker, item.position, item.event_id, item.ticket, state, error[:4000], attempts,
                 item.payload, now, now))

    def active_tickets(self, worker: str) -> set[str]:
        """Tickets whose later items ``worker`` must hold."""
        rows = self.store.query(
            f"SELECT DISTINCT ticket FROM {PARKED} WHERE worker = ? AND state IN (?, ?, ?)",  # noqa: S608
            (worker, *ACTIVE))
        return {str(row["ticket"]) for row in rows}

    def releasable(self, worker: str) -> list[Parked]:
        """Items to apply now, in order: of tickets with nothing parked, retried or held."""
        rows = self.store.query(
            f"SELECT * FROM {PARKED} p WHERE worker = ? AND state IN ('retry', 'held')"  # noqa: S608
            f" AND NOT EXISTS (SELECT 1 FROM {PARKED} q WHERE q.worker = p.worker"
            " AND q.ticket = p.ticket AND q.state = 'parked') ORDER BY id", (worker,))
        return [_parked(row) for row in rows]

    def applied(self, parked_id: int) -> None:
        self._set_state(parked_id, "done")

    # -- the operators' side -----------------------------------------------------------------

    def items(self, *, worker: str | None = None, states: Iterable[str] = ACTIVE,
              ticket: str | None = None, limit: int = 1000) -> list[Parked]:
        wanted = tuple(states)
        sql = f"SELECT * FROM {PARKED} WHERE state IN ({','.join('?' * len(wanted))})"  # noqa: S608
        args: list[Any] = list(wanted)
        if worker:
            sql += " AND worker = ?"
            args.append(worker)
        if ticket:
            sql += " AND ticket = ?"
            args.append(ticket)
        rows = self.store.query(sql + " ORDER BY id LIMIT ?", (*args, limit))
        return [_parked(row) for row in rows]

    def get(self, parked_id: int) -> Parked | None:
        rows = self.store.query(f"SELECT * FROM {PARKED} WHERE id = ?", (parked_id,))  # noqa: S608
        return _parked(rows[0]) if rows else None

    def counts(self) -> dict[tuple[str, str], int]:
        """``{(worker, state): n}`` over the active states."""
        rows = self.store.query(
            f"SELECT worker, state, COUNT(*) AS n FROM {PARKED} WHERE state IN (?, ?, ?)"  # noqa: S608
            " GROUP BY worker, state", ACTIVE)
        return {(str(r["worker"]), str(r["state"])): int(r["n"]) for r in rows}

    def retry(self, ids: Iterable[int], *, actor: str, reason: str = "") -> int:
        """Hand parked items back to their workers; returns how many."""
        return self._act(ids, "retry", from_states=("parked",), actor=actor, reason=reason)

    def drop(self, ids: Iterable[int], *, actor: str, reason: str) -> int:
        """Give up on items for good (the audit trail says who and why)."""
        if not actor.strip() or not reason.strip():
            raise ValueError("dropping needs who (--by) and why (--reason)")
        return self._act(ids, "dropped", from_states=("parked", "held", "retry"), actor=actor,
                         reason=reason, action="drop")

    def actions(self, limit: int = 1000) -> list[dict[str, Any]]:
        return self.store.query(f"SELECT * FROM {ACTIONS} ORDER BY id DESC LIMIT ?", (limit,))  # noqa: S608

    def _act(self, ids: Iterable[int], state: str, *, from_states: tuple[str, ...], actor: str,
             reason: str, action: str | None = None) -> int:
        done = 0
        now = _now()
        with self.store.transaction() as cursor:
            for parked_id in ids:
                marks = ",".join("?" * len(from_states))
                cursor.execute(f"SELECT worker, event_id FROM {PARKED} WHERE id = ?"  # noqa: S608
                               f" AND state IN ({marks})", (parked_id, *from_states))
                row = cursor.fetchone()
                if row is None:
                    continue
                worker, event_id = row["worker"], row["event_id"]
                cursor.execute(f"UPDATE {PARKED} SET state = ?, updated_at = ? WHERE id = ?",  # noqa: S608
                               (state, now, parked_id))
                cursor.execute(
                    f"INSERT INTO {ACTIONS} (parked_id, worker, event_id, action, actor, reason, at)"  # noqa: S608
                    " VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (parked_id, worker, event_id, action or state, actor, reason, now))
                done += 1
        return done

    def _set_state(self, parked_id: int, state: str) -> None:
        with self.store.transaction() as cursor:
            cursor.execute(f"UPDATE {PARKED} SET state = ?, updated_at = ? WHERE id = ?",  # noqa: S608
                           (state, _now(), parked_id))


def _parked(row: dict[str, Any]) -> Parked:
    payload = row["payload"]
    return Parked(int(row["id"]), str(row["worker"]), int(row["position"]), str(row["event_id"]),
                  str(row["ticket"]), str(row["state"]), str(row["error"]), int(row["attempts"]),
                  bytes(payload) if payload is not None else b"", str(row["parked_at"]),
                  str(row["updated_at"]))


def describe(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"


class PoisonGuard:
    """One worker's use of the parking lot: counts failures, parks, holds, retries.

    Failure counts are kept in memory (a restart gives an item its tries again).
    Thread-safe; one guard per worker name and process.
    """

    def __init__(self, lot: ParkingLot | None, worker: str, *, tries: int = 3) -> None:
        self.lot = lot
        self.worker = worker
        self.tries = max(tries, 1)
        self._failures: dict[str, tuple[str, int]] = {}
        self._lock = threading.Lock()
        self.parked = 0
        self.held = 0

    def active(self) -> set[str]:
        """Tickets to hold now (empty without a parking lot)."""
        return self.lot.active_tickets(self.worker) if self.lot is not None else set()

    def failed(self, item: Item, error: BaseException) -> bool:
        """Count one failure of ``item``; True when it is parked now and the worker moves on.

        False: try it again later (transient, or tries left); the caller re-raises.
        """
        if self.lot is None or is_transient(error):
            return False
        text = describe(error)
        with self._lock:
            seen, count = self._failures.get(item.event_id, ("", 0))
            count = count + 1 if seen == text else 1
            self._failures[item.event_id] = (text, count)
            if count < self.tries:
                log.warning("%s: %s failed (%d of %d tries): %s", self.worker, item.event_id, count,
                            self.tries, text)
                return False
            self._failures.pop(item.event_id, None)
        self.lot.park(self.worker, item, error=text, attempts=count)
        self.parked += 1
        log.error("%s: set aside %s of ticket %s at position %d after %d tries: %s", self.worker,
                  item.event_id, item.ticket, item.position, count, text)
        return True

    def succeeded(self, item: Item) -> None:
        if self._failures:
            with self._lock:
                self._failures.pop(item.event_id, None)

    def hold(self, item: Item) -> None:
        """Park ``item`` behind an earlier item of its ticket."""
        assert self.lot is not None
        self.lot.park(self.worker, item, error="held behind an earlier item of its ticket",
                      attempts=0, held=True)
        self.held += 1

    def retry_pass(self, apply: Callable[[Parked], None]) -> int:
        """Apply released items in order; returns how many were applied.

        A transient failure stops the pass (raised); any other parks the item again
        and leaves the rest of its ticket held.
        """
        if self.lot is None:
            return 0
        applied = 0
        blocked: set[str] = set()
        for row in self.lot.releasable(self.worker):
            if row.ticket in blocked:
                continue
            item = Item(row.position, row.event_id, row.ticket, row.payload)
            try:
                apply(row)
            except Exception as error:
                if is_transient(error):
                    raise
                blocked.add(row.ticket)
                self.lot.park(self.worker, item, error=describe(error), attempts=row.attempts + 1)
                log.error("%s: retried %s failed again: %s", self.worker, row.event_id,
                          describe(error))
                continue
            self.lot.applied(row.id)
            applied += 1
            log.info("%s: applied %s (retried)", self.worker, row.event_id)
        return applied
