"""What every ticket read model shares: which log items are ticket events, and
the ticket's lifecycle (status, open pause) folded from plain event fields.

Read models fold events, not aggregates: they never load a ticket from the
event store, so a rebuild reads the log once and a restart needs nothing but
the read model's own rows. The fold mirrors ``Ticket``'s ``@event`` bodies;
``tests/unit/test_projections.py`` checks it against the aggregate's own
status after every event of a long lifecycle.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from datetime import date, datetime
from enum import Enum
from typing import Any, Protocol
from uuid import UUID

from domain.errors import InvalidValue
from domain.ids import ticket_uuid
from projections.follower import Delivered
from projections.store import Cursor

TICKET_TOPIC = "domain.ticket:Ticket."

OPEN_STATUSES = frozenset({"new", "open", "waiting_for_requester", "waiting_for_release", "postponed"})
_PAUSE_STARTS = {
    "InformationRequested": "waiting_for_requester",
    "Escalated": "waiting_for_release",
    "Postponed": "postponed",
}
_PAUSE_ENDS = frozenset({"FixReleased", "Resumed", "Resolved"})
_RUNNING_AGAIN = frozenset({"RequesterReplied", "FixReleased", "Resumed", "Reopened"})
_ENVELOPE = frozenset({"originator_id", "originator_version", "timestamp", "at", "actor"})


class Projection(Protocol):
    """One read model: its tables, and how a batch of ticket events changes them.

    ``apply`` runs inside the runner's transaction, which also records the
    position; it must write with as few statements as it can (executemany),
    never commit, and keep no state outside the database.
    """

    name: str
    tables: tuple[str, ...]
    schema: tuple[str, ...]

    def apply(self, cursor: Cursor, events: Sequence[Delivered]) -> None: ...


def is_ticket_event(delivered: Delivered) -> bool:
    return delivered.topic.startswith(TICKET_TOPIC)


def event_name(delivered: Delivered) -> str:
    """``Received``, ``Classified``, ... (the explicit, stable event class names)."""
    return delivered.topic[len(TICKET_TOPIC):]


def uuid_of(ticket_id: str) -> str | None:
    """The key read models store a ticket under; None for text that is no ticket ID."""
    try:
        return str(ticket_uuid(ticket_id))
    except InvalidValue:
        return None


def running_status(pause: str | None, level: str | None) -> str:
    if pause is not None:
        return pause
    return "open" if level is not None else "new"


def step_lifecycle(
    name: str, fields: dict[str, Any], status: str, level: str | None, pause: str | None
) -> tuple[str, str | None, str | None]:
    """``(status, level, open pause)`` after one event; as ``Ticket``'s event bodies decide them."""
    if name == "Received":
        pause = "waiting_for_requester" if fields["missing"] else None
        return running_status(pause, None), None, pause
    if name in ("Classified", "Reclassified"):
        level = fields["level"]
        if name == "Classified" and status == "new":
            status = "open"
        return status, level, pause
    if name in _PAUSE_STARTS:
        pause = _PAUSE_STARTS[name]
        return pause, level, pause
    if name == "RequesterReplied" and pause == "waiting_for_requester":
        pause = None
    elif name in _PAUSE_ENDS:
        pause = None
    if name == "Resolved":
        return "resolved", level, None
    if name == "Closed":
        return "closed", level, pause
    if name in _RUNNING_AGAIN:
        return running_status(pause, level), level, pause
    return status, level, pause


def by_ticket(events: Sequence[Delivered]) -> Iterator[tuple[UUID, list[Delivered]]]:
    """The batch's events grouped per ticket, tickets in order of first appearance."""
    groups: dict[UUID, list[Delivered]] = {}
    for delivered in events:
        groups.setdefault(delivered.event.originator_id, []).append(delivered)
    return iter(groups.items())


def rows_by_key(cursor: Cursor, table: str, key: str, keys: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Existing rows for ``keys`` (chunked ``IN`` lists: one round trip per 500)."""
    found: dict[str, dict[str, Any]] = {}
    for start in range(0, len(keys), 500):
        chunk = keys[start:start + 500]
        marks = ",".join("?" * len(chunk))
        cursor.execute(f"SELECT * FROM {table} WHERE {key} IN ({marks})", chunk)  # noqa: S608
        for row in cursor.fetchall():
            record = dict(row)
            found[record[key]] = record
    return found


def _default(value: Any) -> Any:
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, (UUID, Enum)):
        return str(value.value if isinstance(value, Enum) else value)
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    raise TypeError(f"not JSON-ready: {type(value).__name__}")


def dumps(value: Any) -> str:
    return json.dumps(value, default=_default, ensure_ascii=False, separators=(",", ":"))


def payload(delivered: Delivered) -> dict[str, Any]:
    """The event's own fields (without the envelope: ids, version, timestamp, at, actor)."""
    return {k: v for k, v in vars(delivered.event).items() if k not in _ENVELOPE}


Row = dict[str, Any]


class TicketFold(Protocol):
    """How one read model starts a ticket's row and moves it on by one event."""

    def start(self, delivered: Delivered, fields: dict[str, Any]) -> Row: ...

    def step(self, row: Row, name: str, delivered: Delivered, fields: dict[str, Any]) -> None: ...


def fold_rows(cursor: Cursor, table: str, events: Sequence[Delivered], fold: TicketFold) -> list[Row]:
    """Each touched ticket's row after the batch: existing rows read once, folded in memory.

    Tickets that begin in this batch (their first event here is version 1)
    need no read at all, which is most tickets during a rebuild.
    """
    groups = list(by_ticket(events))
    wanted = [str(key) for key, items in groups if items[0].event.originator_version > 1]
    existing = rows_by_key(cursor, table, "ticket_uuid", wanted) if wanted else {}
    changed: list[Row] = []
    for key, items in groups:
        row: Row | None = existing.get(str(key))
        for delivered in items:
            name = event_name(delivered)
            fields = vars(delivered.event)
            if name == "Received":
                row = fold.start(delivered, fields)
                row["ticket_uuid"] = str(key)
            elif row is None:
                # An event of a ticket this model never saw received: only possible when
                # the model's rows were removed by hand; skip rather than invent a ticket.
                continue
            else:
                fold.step(row, name, delivered, fields)
            row["version"] = delivered.event.originator_version
        if row is not None:
            changed.append(row)
    return changed


def upsert(cursor: Cursor, table: str, key: str, columns: Sequence[str], rows: Sequence[Row]) -> None:
    """Write whole rows (insert or replace by ``key``) in one ``executemany``."""
    if not rows:
        return
    names = ", ".join(columns)
    marks = ", ".join("?" * len(columns))
    updates = ", ".join(f"{c} = excluded.{c}" for c in columns if c != key)
    sql = (f"INSERT INTO {table} ({names}) VALUES ({marks}) "  # noqa: S608 - fixed names
           f"ON CONFLICT ({key}) DO UPDATE SET {updates}")
    cursor.executemany(sql, [
        tuple(dumps(v) if isinstance(v, (dict, list)) else v for v in (row[c] for c in columns))
        for row in rows
    ])
