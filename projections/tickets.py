"""The ticket read models: one row per ticket (queue, SLA timers, statistics) and
one row per event (history), built from the notification log.

Each ticket's row is derived from the ticket itself: the projection applies
every event to a private copy of the aggregate (``event.mutate``) and writes
what the aggregate then says, so the read model can never disagree with the
domain's own state machine. Copies are cached; after a restart a ticket in
the middle of its life is loaded once from the event store at the version
before the event being applied.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Callable, Sequence
from datetime import date, datetime
from enum import Enum
from typing import Any
from uuid import UUID

from domain.sla import ClockName, WorkingTime
from domain.ticket import Ticket
from projections.follower import Delivered
from projections.store import Cursor, ReadStore

NAME = "tickets"
TICKET_EVENT_PREFIX = "domain.ticket:Ticket."
_ENVELOPE = {"originator_id", "originator_version", "timestamp", "at", "actor"}

SCHEMA = [
    """CREATE TABLE IF NOT EXISTS rm_tracking (
        name TEXT PRIMARY KEY, application_name TEXT NOT NULL, notification_id BIGINT NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS rm_tickets (
        ticket_id TEXT PRIMARY KEY,
        arrival BIGINT NOT NULL,
        version INTEGER NOT NULL,
        status TEXT NOT NULL,
        is_open INTEGER NOT NULL,
        level TEXT,
        emergency INTEGER NOT NULL,
        product TEXT NOT NULL,
        category TEXT,
        channel TEXT NOT NULL,
        subject TEXT NOT NULL,
        assignee TEXT,
        received_at TEXT NOT NULL,
        received_ts DOUBLE PRECISION NOT NULL,
        updated_at TEXT NOT NULL,
        resolved_at TEXT,
        first_reply_seconds DOUBLE PRECISION,
        resolution_seconds DOUBLE PRECISION,
        alerts TEXT NOT NULL,
        schedule TEXT NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS rm_tickets_queue ON rm_tickets (is_open, emergency, arrival)",
    "CREATE INDEX IF NOT EXISTS rm_tickets_received ON rm_tickets (received_ts)",
    """CREATE TABLE IF NOT EXISTS rm_events (
        ticket_id TEXT NOT NULL,
        version INTEGER NOT NULL,
        position BIGINT NOT NULL,
        type TEXT NOT NULL,
        at TEXT,
        actor TEXT,
        data TEXT NOT NULL,
        PRIMARY KEY (ticket_id, version))""",
]
TABLES = ("rm_tickets", "rm_events", "rm_tracking")

_UPSERT_TICKET = """
INSERT INTO rm_tickets (ticket_id, arrival, version, status, is_open, level, emergency, product,
    category, channel, subject, assignee, received_at, received_ts, updated_at, resolved_at,
    first_reply_seconds, resolution_seconds, alerts, schedule)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (ticket_id) DO UPDATE SET
    version = excluded.version, status = excluded.status, is_open = excluded.is_open,
    level = excluded.level, emergency = excluded.emergency, product = excluded.product,
    category = excluded.category, subject = excluded.subject, assignee = excluded.assignee,
    updated_at = excluded.updated_at, resolved_at = excluded.resolved_at,
    first_reply_seconds = COALESCE(rm_tickets.first_reply_seconds, excluded.first_reply_seconds),
    resolution_seconds = CASE WHEN excluded.resolved_at IS NULL THEN NULL
        ELSE COALESCE(excluded.resolution_seconds, rm_tickets.resolution_seconds) END,
    alerts = excluded.alerts,
    schedule = excluded.schedule
"""
_INSERT_EVENT = """
INSERT INTO rm_events (ticket_id, version, position, type, at, actor, data)
VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (ticket_id, version) DO NOTHING
"""


def _plain(value: Any) -> Any:
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def event_type(event: Any) -> str:
    return type(event).__qualname__.rsplit(".", 1)[-1]


def event_row(ticket_id: str, delivered: Delivered, raw: bool) -> tuple[Any, ...]:
    """A history row. With ``raw``, the stored JSON is kept as it is (typed values
    wrapped the transcoder's way, unwrapped on reading): re-encoding every event
    cost more than the rest of the projection."""
    event = delivered.event
    fields = vars(event)
    at = fields.get("at")
    if raw and delivered.state:
        data: Any = delivered.state.decode("utf-8")
    else:
        data = json.dumps({k: _plain(v) for k, v in fields.items() if k not in _ENVELOPE},
                          ensure_ascii=False, sort_keys=True)
    return (
        ticket_id,
        event.originator_version,
        delivered.position,
        event_type(event),
        at.isoformat() if isinstance(at, datetime) else None,
        json.dumps(fields.get("actor"), ensure_ascii=False),
        data,
    )


def unwrap(value: Any) -> Any:
    """Stored JSON as plain values: ``{"_type_": ..., "_data_": x}`` becomes ``x``."""
    if isinstance(value, dict):
        if "_type_" in value and "_data_" in value and len(value) == 2:
            return unwrap(value["_data_"])
        return {k: unwrap(v) for k, v in value.items()}
    if isinstance(value, list):
        return [unwrap(v) for v in value]
    return value


def history_data(text: str) -> dict[str, Any]:
    data = unwrap(json.loads(text))
    return {k: v for k, v in data.items()
            if k not in _ENVELOPE and k != "originator_topic"}


class TicketsProjection:
    """Applies batches of delivered events to the ticket tables."""

    def __init__(
        self,
        calendar: WorkingTime,
        load: Callable[[UUID, int], Ticket],
        *,
        cache_size: int = 20_000,
        raw_state: bool = True,
    ) -> None:
        self.calendar = calendar
        self.raw_state = raw_state
        self._load = load
        self._cache: OrderedDict[UUID, Ticket] = OrderedDict()
        self._cache_size = cache_size

    def reset(self) -> None:
        self._cache.clear()

    def _ticket_before(self, originator_id: UUID, version: int) -> Ticket | None:
        ticket = self._cache.get(originator_id)
        if ticket is not None and ticket.version == version - 1:
            self._cache.move_to_end(originator_id)
            return ticket
        if version == 1:
            return None
        ticket = self._load(originator_id, version - 1)
        return ticket

    def apply(self, cursor: Cursor, batch: Sequence[Delivered]) -> None:
        """Write the rows for ``batch``; the caller commits them with the position."""
        changed: dict[UUID, tuple[Ticket, int, float | None, float | None]] = {}
        events: list[tuple[Any, ...]] = []
        for delivered in batch:
            if not delivered.topic.startswith(TICKET_EVENT_PREFIX):
                continue
            event = delivered.event
            before = self._ticket_before(event.originator_id, event.originator_version)
            # mutate() changes the cached ticket in place: read what is needed first.
            replied_before = bool(before is not None and before.responses)
            resolved_before = before.history.resolved_at if before is not None else None
            ticket = event.mutate(before)
            assert isinstance(ticket, Ticket)
            self._remember(ticket)
            first_reply, resolution = changed[ticket.id][2:] if ticket.id in changed else (None, None)
            if ticket.responses and not replied_before:
                first_reply = ticket.sla(event.at, self.calendar).reaction.used.total_seconds()
            resolved_at = ticket.history.resolved_at
            if resolved_at is None:
                resolution = None
            elif resolved_before != resolved_at:
                resolution = ticket.sla(resolved_at, self.calendar).resolution.used.total_seconds()
            changed[ticket.id] = (ticket, delivered.position, first_reply, resolution)
            events.append(event_row(ticket.ticket_id, delivered, self.raw_state))
        if not changed:
            return
        cursor.executemany(_INSERT_EVENT, events)
        cursor.executemany(_UPSERT_TICKET, [self._row(*item) for item in changed.values()])

    def _remember(self, ticket: Ticket) -> None:
        self._cache[ticket.id] = ticket
        self._cache.move_to_end(ticket.id)
        while len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)

    def _row(self, ticket: Ticket, position: int, first_reply: float | None,
             resolution: float | None) -> tuple[Any, ...]:
        resolved_at = ticket.history.resolved_at
        return (
            ticket.ticket_id,
            position,
            ticket.version,
            ticket.status.value,
            int(ticket.is_open),
            ticket.level.value if ticket.level else None,
            int(ticket.emergency_confirmed),
            ticket.product.value,
            ticket.category.value if ticket.category else None,
            ticket.channel.value,
            ticket.subject,
            ticket.assignee,
            ticket.received_at.isoformat(),
            ticket.received_at.timestamp(),
            ticket.updated_at.isoformat(),
            resolved_at.isoformat() if resolved_at else None,
            first_reply,
            resolution,
            json.dumps(list(ticket.sla_alerts)),
            json.dumps(ticket.sla_recorded, sort_keys=True),
        )


def create_tables(store: ReadStore) -> None:
    with store.transaction() as cursor:
        for statement in SCHEMA:
            cursor.execute(statement)


def drop_rows(cursor: Cursor) -> None:
    for table in TABLES:
        cursor.execute(f"DELETE FROM {table}")  # noqa: S608 - fixed table names


CLOCKS = (ClockName.REACTION, ClockName.RESOLUTION)
