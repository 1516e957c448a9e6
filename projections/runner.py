"""Keeps the read models current: follow the log, apply, record the position.

The equivalent of eventsourcing's ``ProjectionRunner`` + tracking recorder, for
every persistence module (SQLite cannot ``subscribe``, so it follows by
polling through ``NotificationFollower``). Each batch is applied to every read
model and each model's position is recorded in **one transaction** of the read
store, and the positions are re-read (``FOR UPDATE`` on PostgreSQL) inside that
transaction; so a crash loses nothing, a restart never applies an event twice,
and two runners on the same read store (two processes) cannot double-count.

Each read model has its own tracking row, so a model added later catches up
from 0 while the others skip what they already have.

Poison (``projections.parking``): when a batch fails for a reason other than the
database not answering, the runner applies it event by event; an event that
keeps failing is set aside (worker ``projections``), its ticket's later events
are held behind it, and every other ticket moves on. ``parked retry`` applies
them later, in order, to the models that passed them.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from eventsourcing.persistence import Tracking

from projections.follower import Delivered, LogRecord, NotificationFollower, stores_plain_json
from projections.parking import PARKED, Item, Parked, PoisonGuard, is_transient
from projections.schema import lock_schema
from projections.store import Cursor, ReadStore
from projections.tickets import (
    Projection,
    RowCache,
    TicketEvent,
    from_delivered,
    from_record,
    is_ticket_topic,
)

log = logging.getLogger("pass24.projections")
WORKER = "projections"

TRACKING = "projection_tracking"
TRACKING_SCHEMA = f"""CREATE TABLE IF NOT EXISTS {TRACKING} (
    projection_name TEXT NOT NULL,
    application_name TEXT NOT NULL,
    notification_id BIGINT NOT NULL,
    PRIMARY KEY (projection_name, application_name))"""
SCHEMAS = "projection_schema"
SCHEMAS_SCHEMA = f"""CREATE TABLE IF NOT EXISTS {SCHEMAS} (
    projection_name TEXT PRIMARY KEY,
    version INTEGER NOT NULL)"""


def ensure_schemas(cursor: Cursor, projections: Sequence[Projection]) -> list[str]:
    """Create each read model's tables; a model whose recorded schema version differs
    from its code's (or that predates versions) is dropped and its positions reset, so
    it is rebuilt from the log on the next catch-up. Returns the names (re)created empty
    (every model, on a new store)."""
    cursor.execute(TRACKING_SCHEMA)
    cursor.execute(SCHEMAS_SCHEMA)
    cursor.execute(f"SELECT projection_name, version FROM {SCHEMAS}")  # noqa: S608
    recorded = {row["projection_name"]: int(row["version"])
                for row in (dict(r) for r in cursor.fetchall())}
    reset = []
    for projection in projections:
        version = int(getattr(projection, "version", 1))
        if recorded.get(projection.name) != version:
            for table in projection.tables:
                cursor.execute(f"DROP TABLE IF EXISTS {table}")  # noqa: S608 - fixed names
            cursor.execute(f"UPDATE {TRACKING} SET notification_id = 0 "  # noqa: S608
                           "WHERE projection_name = ?", (projection.name,))
            cursor.execute(f"DELETE FROM {SCHEMAS} WHERE projection_name = ?",  # noqa: S608
                           (projection.name,))
            cursor.execute(f"INSERT INTO {SCHEMAS} (projection_name, version) VALUES (?, ?)",  # noqa: S608
                           (projection.name, version))
            reset.append(projection.name)
        for statement in projection.schema:
            cursor.execute(statement)
    return reset


class StoreSwitched(Exception):
    """The read store switched under a batch (``projections switch``): the batch is read
    again from the positions the new store holds."""

    transient = True  # never poison: not the event's fault


class ProjectionRunner:
    """Applies the log to read models, in a thread (``start``) or on demand (``catch_up``)."""

    def __init__(
        self,
        follower: NotificationFollower,
        store: ReadStore,
        projections: Sequence[Projection],
        *,
        guard: PoisonGuard | None = None,
        retry_interval: float = 1.0,
        catch_up_batch: int = 5000,
    ) -> None:
        self.follower = follower
        self.guard = guard
        self.retry_interval = retry_interval
        self._retried_at = 0.0
        self.store = store
        self.projections = tuple(projections)
        self.application_name = follower.application_name
        # Plain stored JSON is decoded directly (see projections.tickets); ciphered or
        # compressed stores go through the mapper's domain events.
        self.raw_json = stores_plain_json(follower.app)
        self._changed = threading.Condition()
        self._apply_lock = threading.RLock()
        self._stop = threading.Event()
        self.caught_up = threading.Event()
        """Set once the read models have reached the log's head (after a start or rebuild)."""
        self._thread: threading.Thread | None = None
        self.error: BaseException | None = None
        with store.transaction() as cursor:
            lock_schema(cursor, store.dialect)
            ensure_schemas(cursor, self.projections)
            cursor.executemany(
                f"INSERT INTO {TRACKING} (projection_name, application_name, notification_id) "
                "VALUES (?, ?, 0) ON CONFLICT (projection_name, application_name) DO NOTHING",
                [(p.name, self.application_name) for p in self.projections],
            )
        self._positions = self.tracked_positions()
        self._generation = store.generation
        # Each model may keep the rows it wrote last (RowCache): valid while the positions
        # found in a transaction are the ones this runner wrote (nobody else wrote since).
        for projection in self.projections:
            if hasattr(projection, "cache"):
                projection.cache = RowCache()
        self._written: dict[str, int] | None = None
        self.catch_up_batch = max(catch_up_batch, follower.batch_size)
        self._behind = True

    # -- positions ---------------------------------------------------------------

    def tracked_positions(self, cursor: Cursor | None = None) -> dict[str, int]:
        """Each read model's recorded position, as the store says now."""
        sql = (f"SELECT projection_name, notification_id FROM {TRACKING} "  # noqa: S608
               "WHERE application_name = ?")
        if cursor is None:
            rows = self.store.query(sql, (self.application_name,))
        else:
            if self.store.dialect == "postgres":
                sql += " FOR UPDATE"
            cursor.execute(sql, (self.application_name,))
            rows = [dict(row) for row in cursor.fetchall()]
        found = {row["projection_name"]: int(row["notification_id"]) for row in rows}
        return {p.name: found.get(p.name, 0) for p in self.projections}

    def tracked_position(self) -> int:
        """The lowest position recorded in the store (what every read model has reached)."""
        return min(self.tracked_positions().values(), default=0)

    def position(self) -> int:
        """The lowest position this runner has applied or seen recorded (once the store
        switched and before the runner went on from there: what the new store records)."""
        with self._changed:
            if self._generation == self.store.generation:
                return min(self._positions.values(), default=0)
        self.follower.nudge()  # the runner's thread takes the new store's positions
        return self.tracked_position()

    # -- applying ----------------------------------------------------------------

    def _read(self, after: int) -> tuple[int, int, list[TicketEvent]]:
        """``(first, last, ticket events)`` of the next batch; ``(0, 0, [])`` at the head.

        Far behind (the last batch came back full: a cold start, a rebuild) it reads
        ``catch_up_batch`` events at a time: fewer transactions, and most of a ticket's
        events land in one batch; at the head it keeps the follower's small batches.
        """
        limit = self.catch_up_batch if self._behind else None
        records = self.follower.records(after, limit)
        self._behind = len(records) >= (limit or self.follower.batch_size)
        if not records:
            return 0, 0, []
        tickets = [r for r in records if is_ticket_topic(r.topic)]
        try:
            events = [self._decode(n) for n in tickets]
        except Exception as error:
            if self.guard is None or is_transient(error):
                raise
            events = self._decode_each(tickets)
        return records[0].id, records[-1].id, events

    def _decode(self, record: LogRecord) -> TicketEvent:
        if self.raw_json:
            return from_record(record)
        mapper, name = self.follower.app.mapper, self.application_name
        return from_delivered(Delivered(mapper.to_domain_event(record.notification()),
                                        Tracking(name, record.id), record.topic))

    def _decode_each(self, records: Sequence[LogRecord]) -> list[TicketEvent]:
        """Decode one by one: what cannot be decoded is counted, then set aside."""
        assert self.guard is not None
        events = []
        for record in records:
            try:
                events.append(self._decode(record))
            except Exception as error:
                item = Item(record.id, f"{record.originator_id}:{record.originator_version}",
                            record.originator_id)
                if not self.guard.failed(item, error):
                    raise
        return events

    @staticmethod
    def _item(event: TicketEvent) -> Item:
        return Item(event.position, f"{event.ticket_uuid}:{event.version}", event.ticket_uuid)
    def _forget(self) -> None:
        self._written = None
        for projection in self.projections:
            forget = getattr(projection, "forget", None)
            if forget is not None:
                forget()

    def _apply(self, first: int, last: int, tickets: Sequence[TicketEvent]) -> None:
        try:
            positions = self._apply_in_transaction(first, last, tickets)
        except BaseException:
            self._forget()  # rows were folded in memory but not committed
            raise
        self._written = dict(positions)
        with self._changed:
            self._positions = positions
            self._changed.notify_all()

    def _apply_in_transaction(self, first: int, last: int,
                              tickets: Sequence[TicketEvent]) -> dict[str, int]:
        with self.store.transaction() as cursor:
            if getattr(cursor, "generation", self.store.generation) != self._generation:
                raise StoreSwitched  # the batch was read after the old store's positions
            positions = self.tracked_positions(cursor)
            if positions != self._written:
                self._forget()  # another runner wrote, or a first batch: read rows back
            moved = []
            for projection in self.projections:
                done = positions[projection.name]
                if done >= last:
                    continue
                events = tickets if done < first else [e for e in tickets if e.position > done]
                projection.apply(cursor, events)
                moved.append((last, projection.name, self.application_name))
                positions[projection.name] = last
            if moved:
                cursor.executemany(
                    f"UPDATE {TRACKING} SET notification_id = ? "  # noqa: S608
                    "WHERE projection_name = ? AND application_name = ?", moved)
        return positions

    def _step(self) -> bool:
        """Apply the next batch, if any; False when the log has nothing new."""
        with self._apply_lock:
            try:
                return self._next_batch()
            except StoreSwitched:
                self._follow_switch()
                return True

    def _next_batch(self) -> bool:
        with self._apply_lock:
            self._follow_switch()
            first, last, events = self._read(self.position())
            if not last:
                self.caught_up.set()
                return False
            if self.guard is None:
                self._apply(first, last, events)
                return True
            events = self._hold(events, self.guard.active())
            try:
                self._apply(first, last, events)
            except Exception as error:
                if is_transient(error):
                    raise
                log.warning("projections: batch %d..%d failed (%s); applying it event by event",
                            first, last, error)
                self._apply_each(first, last, events)
            return True

    def _hold(self, events: list[TicketEvent], active: set[str]) -> list[TicketEvent]:
        """Events of tickets with an event set aside are held behind it, not applied."""
        assert self.guard is not None
        if not active:
            return events
        kept = []
        for event in events:
            if event.ticket_uuid in active:
                self.guard.hold(self._item(event))
            else:
                kept.append(event)
        return kept

    def _apply_each(self, first: int, last: int, events: Sequence[TicketEvent]) -> None:
        assert self.guard is not None
        blocked: set[str] = set()
        for event in events:
            if event.ticket_uuid in blocked:
                self.guard.hold(self._item(event))
                continue
            try:
                self._apply(event.position, event.position, [event])
            except Exception as error:
                if not self.guard.failed(self._item(event), error):
                    raise
                blocked.add(event.ticket_uuid)
            else:
                self.guard.succeeded(self._item(event))
        self._apply(first, last, [])

    def _apply_parked(self, row: Parked) -> None:
        """Apply one retried event to every read model that went past it."""
        records = self.follower.records(row.position - 1, 1)
        if not records or records[0].id != row.position:
            raise LookupError(f"no event at position {row.position}")
        event = self._decode(records[0])
        lot = self.guard.lot if self.guard is not None else None
        parked = self.store.shared_table(lot.store, PARKED) if lot is not None else None
        with self.store.transaction() as cursor:
            if parked is not None:
                # One database: mark it applied in the same transaction, so two runners
                # (replicas) never both apply it, and a crash cannot apply it twice.
                cursor.execute(f"UPDATE {parked} SET state = 'done' WHERE id = ?"  # noqa: S608
                               " AND state IN ('retry', 'held') RETURNING id", (row.id,))
                if cursor.fetchone() is None:
                    return
            positions = self.tracked_positions(cursor)
            for projection in self.projections:
                if positions[projection.name] >= row.position:
                    projection.apply(cursor, [event])
        self._forget()  # rows were written behind the row cache's back

    def retry_parked(self) -> int:
        """Apply what ``parked retry`` released (and what was held behind it), in order."""
        if self.guard is None:
            return 0
        with self._apply_lock:
            self._retried_at = time.monotonic()
            return self.guard.retry_pass(self._apply_parked)
    @contextmanager
    def bulk_load(self) -> Iterator[None]:
        """Around filling an empty store (``projections rebuild --into``): indexes nothing
        reads during the load are dropped, and created once at the end."""
        deferred = [entry for p in self.projections
                    for entry in getattr(p, "deferred_indexes", ())]
        with self.store.transaction() as cursor:
            for name, _ in deferred:
                cursor.execute(f"DROP INDEX IF EXISTS {name}")
        try:
            yield
        finally:
            with self.store.transaction() as cursor:
                for _, create in deferred:
                    cursor.execute(create)

    def _follow_switch(self) -> None:
        """After the store switched to a file rebuilt elsewhere, go on from its positions."""
        follow = getattr(self.store, "follow_switch", None)
        if follow is not None:
            follow()
        generation = self.store.generation
        if generation != self._generation:
            positions = self.tracked_positions()
            with self._changed:  # together: waiters never see new positions of the old store
                self._positions, self._generation = positions, generation
                self._changed.notify_all()
            log.info("read store switched to %s at position %s",
                     getattr(self.store, "path", None) or getattr(self.store, "schema", "?"),
                     self.position())

    def catch_up(self) -> int:
        """Apply everything in the log now; returns the position reached.

        A poison event is tried a few times, then set aside; a transient failure raises.
        """
        with self._apply_lock:
            with self._changed:
                self._positions = self.tracked_positions()
            self._behind = True
            failures = 0
            while True:
                try:
                    if not self._step():
                        break
                    failures = 0
                except Exception as error:
                    failures += 1
                    if self.guard is None or is_transient(error) or failures > 3 * self.guard.tries:
                        raise
                    with self._changed:
                        self._positions = self.tracked_positions()
            self.retry_parked()
        return self.position()

    def rebuild(self) -> int:
        """Drop every row and position, then replay the whole log.

        Readers see the models empty and filling while this runs; the thread,
        if started, waits for it.
        """
        with self._apply_lock:
            self.caught_up.clear()
            self._forget()
            with self.store.transaction() as cursor:
                for projection in self.projections:
                    for table in projection.tables:
                        cursor.execute(f"DELETE FROM {table}")  # noqa: S608 - fixed names
                cursor.execute(f"UPDATE {TRACKING} SET notification_id = 0 "  # noqa: S608
                               "WHERE application_name = ?", (self.application_name,))
            with self._changed:
                self._positions = {p.name: 0 for p in self.projections}
            return self.catch_up()

    def wait_for(self, position: int, timeout: float) -> bool:
        """Read-your-writes: True once every read model has applied ``position``."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while self._generation != self.store.generation or \
                    min(self._positions.values(), default=0) < position:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self.follower.nudge()
                self._changed.wait(min(remaining, 0.05))
        return True

    # -- the thread --------------------------------------------------------------

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="projections", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10) -> None:
        self._stop.set()
        self.follower.nudge()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _run(self) -> None:
        backoff = 0.1
        while not self._stop.is_set():
            try:
                if self._step():
                    backoff = 0.1
                    continue
                if time.monotonic() - self._retried_at >= self.retry_interval:
                    self.retry_parked()
                self.follower.wait()
            except Exception as error:  # noqa: BLE001 - a worker must outlive a bad moment
                self.error = error
                log.exception("projections failed after position %s; retrying", self.position())
                self._stop.wait(backoff)
                backoff = min(backoff * 2, 10)
                with self._apply_lock, self._changed:
                    self._positions = self.tracked_positions()
