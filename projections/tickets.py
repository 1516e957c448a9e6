"""What every ticket read model shares: the events as plain records, the
ticket's lifecycle (status, open pause) folded from event fields, and the
fold-then-upsert step that keeps SQL to a few statements per batch.

Read models fold events, not aggregates: they never load a ticket from the
event store, so a rebuild reads the log once and a restart needs nothing but
the read model's own rows. ``step_lifecycle`` mirrors ``Ticket``'s ``@event``
bodies; ``tests/unit/test_projections.py`` checks it against the aggregate's
own status after every event of a long lifecycle.

Events reach the read models as ``TicketEvent`` records of JSON values
(instants as ISO strings). When the store keeps plain JSON (no cipher, no
compression) they are decoded straight from the stored text, without building
domain event objects: the JSON parser does the work in C, and the history
keeps the stored text as it is. Otherwise they come from the mapper's domain
events (``from_delivered``).
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from enum import Enum
from typing import Any, Protocol
from uuid import UUID

from adapters.audit import seal
from domain.errors import InvalidValue
from domain.ids import ticket_uuid
from projections.follower import Delivered, LogRecord
from projections.store import Cursor

TICKET_TOPIC = "domain.ticket:Ticket."
ENVELOPE = frozenset({"timestamp", "at", "actor", "originator_topic"})
OPEN_STATUSES = frozenset({"new", "open", "waiting_for_requester", "waiting_for_release", "postponed"})
_PAUSE_STARTS = {
    "Escalated": "waiting_for_release",
    "Postponed": "postponed",
}
_PAUSE_ENDS = frozenset({"FixReleased", "Resumed", "Resolved"})
_REQUESTER_WROTE = frozenset({"RequesterReplied", "ThirdPartyMessageAccepted"})
_RUNNING_AGAIN = frozenset({*_REQUESTER_WROTE, "FixReleased", "Resumed", "Reopened"})


@dataclass(frozen=True, slots=True)
class TicketEvent:
    """One ticket event as the read models see it."""

    position: int
    ticket_uuid: str
    version: int
    name: str
    """``Received``, ``Classified``, ... (the explicit, stable event class names)."""
    fields: dict[str, Any]
    """Every attribute but the originator ID and version, as JSON values."""
    at: str
    """When it happened (ISO 8601 with offset)."""


class Projection(Protocol):
    """One read model: its tables, and how a batch of ticket events changes them.

    ``apply`` runs inside the runner's transaction, which also records the
    position; it writes with as few statements as it can (executemany), never
    commits, and keeps no state outside the database.
    """

    name: str
    tables: tuple[str, ...]
    schema: tuple[str, ...]

    def apply(self, cursor: Cursor, events: Sequence[TicketEvent]) -> None: ...


# -- decoding ----------------------------------------------------------------------


def is_ticket_topic(topic: str) -> bool:
    return topic.startswith(TICKET_TOPIC)


def unwrap(value: Any) -> Any:
    """JSONTranscoder's ``{"_type_": ..., "_data_": ...}`` as its plain data (ISO text, hex)."""
    if isinstance(value, dict):
        if len(value) == 2 and "_type_" in value and "_data_" in value:
            return unwrap(value["_data_"])
        return {k: unwrap(v) for k, v in value.items()}
    if isinstance(value, list):
        return [unwrap(v) for v in value]
    return value


def plain_fields(text: str) -> dict[str, Any]:
    """Stored event JSON as plain JSON values."""
    return _plain(json.loads(text), text.count('"_type_"'))


_USUALLY_WRAPPED = ("timestamp", "at")  # datetimes every event has


def _plain(fields: dict[str, Any], wrapped: int) -> dict[str, Any]:
    for key in _USUALLY_WRAPPED:
        if not wrapped:
            return fields
        value = fields.get(key)
        if type(value) is dict and "_type_" in value:
            fields[key] = value["_data_"]
            wrapped -= 1
    if wrapped:
        for key, value in fields.items():
            if type(value) is dict and "_type_" in value:
                fields[key] = value["_data_"]
                wrapped -= 1
        if wrapped:  # wrapped values further down: rare, take the slow path
            fields = unwrap(fields)
    return fields


def stored_fields(state: bytes) -> dict[str, Any]:
    """A stored state (sealed or not) as plain JSON values, without the seal."""
    fields: dict[str, Any] = seal.parse(state)
    fields.pop(seal.SEAL_KEY, None)
    return _plain(fields, state.count(b'"_type_"'))


def from_record(record: LogRecord) -> TicketEvent:
    # The audit seal is storage, not part of the event: read models never see it.
    fields = stored_fields(record.state)
    return TicketEvent(
        record.id, record.originator_id, record.originator_version,
        record.topic[len(TICKET_TOPIC):], fields, fields["at"],
    )


def from_delivered(delivered: Delivered) -> TicketEvent:
    event = delivered.event
    text = dumps({k: v for k, v in vars(event).items()
                  if k not in ("originator_id", "originator_version")})
    fields = json.loads(text)
    return TicketEvent(
        delivered.position, str(event.originator_id), event.originator_version,
        delivered.topic[len(TICKET_TOPIC):], fields, fields["at"],
    )


def _default(value: Any) -> Any:
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    raise TypeError(f"not JSON-ready: {type(value).__name__}")


def dumps(value: Any) -> str:
    return json.dumps(value, default=_default, ensure_ascii=False, separators=(",", ":"))


def uuid_of(ticket_id: str) -> str | None:
    """The key read models store a ticket under; None for text that is no ticket ID."""
    try:
        return str(ticket_uuid(ticket_id))
    except InvalidValue:
        return None


def secondary_indexes(schema: Sequence[str]) -> tuple[tuple[str, str], ...]:
    """``(name, statement)`` of each non-unique index in ``schema``: only queries read
    them, so a bulk load into a new store creates them once at the end (``bulk_load``)."""
    found = []
    for statement in schema:
        match = re.match(r"CREATE INDEX IF NOT EXISTS (\w+) ON ", statement)
        if match:
            found.append((match.group(1), statement))
    return tuple(found)


# -- the lifecycle -----------------------------------------------------------------


def running_status(pause: str | None, level: str | None) -> str:
    if pause is not None:
        return pause
    return "open" if level is not None else "new"


def step_lifecycle(
    name: str, fields: dict[str, Any], status: str, level: str | None, pause: str | None
) -> tuple[str, str | None, str | None]:
    """``(status, level, open pause)`` after one event, as ``Ticket``'s event bodies decide them."""
    if name == "Received":
        # Received events stored before ``waiting_for_requester`` existed always waited.
        waits = fields["missing"] and fields.get("waiting_for_requester", True)
        pause = "waiting_for_requester" if waits else None
        return running_status(pause, None), None, pause
    if name == "InformationRequested":
        # Asking a paused ticket (postponed, waiting for a release) keeps its pause.
        pause = pause or "waiting_for_requester"
        return running_status(pause, level), level, pause
    if name in ("Classified", "Reclassified"):
        level = fields["level"]
        if name == "Classified" and status == "new":
            status = "open"
        return status, level, pause
    if name in _PAUSE_STARTS:
        pause = _PAUSE_STARTS[name]
        return pause, level, pause
    if name in _REQUESTER_WROTE and pause == "waiting_for_requester":
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


# -- fold, then write --------------------------------------------------------------

Row = dict[str, Any]
_JSON_COLUMNS = frozenset({"schedule", "pauses", "alerts"})


class TicketFold(Protocol):
    """How one read model starts a ticket's row and moves it on by one event."""

    def start(self, event: TicketEvent) -> Row: ...

    def step(self, row: Row, event: TicketEvent) -> None: ...


def rows_by_key(cursor: Cursor, table: str, key: str, keys: Sequence[str]) -> dict[str, Row]:
    """Existing rows for ``keys`` (chunked ``IN`` lists: one round trip per 500)."""
    found: dict[str, Row] = {}
    for start in range(0, len(keys), 500):
        chunk = keys[start:start + 500]
        marks = ",".join("?" * len(chunk))
        cursor.execute(f"SELECT * FROM {table} WHERE {key} IN ({marks})", chunk)  # noqa: S608
        for row in cursor.fetchall():
            record = dict(row)
            found[record[key]] = record
    return found


class RowCache:
    """The rows a model wrote last, by ticket UUID, so the next batch need not read them back.

    Only valid while nobody else writes the model: ``ProjectionRunner`` turns it on
    (``projection.cache = RowCache()``) and clears it (``forget``) whenever the positions
    it finds in a transaction are not the ones it wrote last (another runner wrote), a
    batch fails (rows were folded but not committed) or the models are rebuilt. Keeps
    the ``limit`` most recently written tickets: most events come from recent tickets.
    """

    def __init__(self, limit: int = 20_000) -> None:
        self.rows: dict[str, Row] = {}
        self.limit = limit

    def take(self, keys: Sequence[str]) -> tuple[dict[str, Row], list[str]]:
        found, missing = {}, []
        for key in keys:
            row = self.rows.get(key)
            if row is None:
                missing.append(key)
            else:
                found[key] = row
        return found, missing

    def put(self, rows: Sequence[Row]) -> None:
        cached = self.rows
        for row in rows:
            key = row["ticket_uuid"]
            cached.pop(key, None)  # to the end: the most recently written
            cached[key] = row
        excess = len(cached) - self.limit
        if excess > 0:
            for key in list(itertools.islice(cached, excess)):
                del cached[key]

    def clear(self) -> None:
        self.rows.clear()


def fold_rows(cursor: Cursor, table: str, events: Sequence[TicketEvent], fold: TicketFold,
              before: dict[str, Row] | None = None, cache: RowCache | None = None) -> list[Row]:
    """Each touched ticket's row after the batch: existing rows read once (or taken from
    ``cache``), folded in memory; the rows returned go back into ``cache``.

    Tickets that begin in this batch (their first event here is version 1)
    need no read at all, which is most tickets during a rebuild. ``before``, if
    given, receives a copy of each existing row as it was.
    """
    groups: dict[str, list[TicketEvent]] = {}
    for event in events:
        groups.setdefault(event.ticket_uuid, []).append(event)
    wanted = [key for key, items in groups.items() if items[0].version > 1]
    if cache is not None:
        existing, wanted = cache.take(wanted)
        if wanted:
            existing.update(rows_by_key(cursor, table, "ticket_uuid", wanted))
    else:
        existing = rows_by_key(cursor, table, "ticket_uuid", wanted) if wanted else {}
    if before is not None:
        before.update((key, dict(row)) for key, row in existing.items())
    changed: list[Row] = []
    for key, items in groups.items():
        row: Row | None = existing.get(key)
        for event in items:
            if event.name == "Received":
                row = fold.start(event)
                row["ticket_uuid"] = key
            elif row is None:
                # A ticket this model never saw received: only when rows were deleted
                # by hand. Skip rather than invent a ticket; a rebuild restores it.
                continue
            else:
                fold.step(row, event)
            row["version"] = event.version
        if row is not None:
            changed.append(row)
    if cache is not None:
        cache.put(changed)
    return changed


class JsonColumns:
    """Serialises dict/list column values once per object, across read models.

    The read models of one batch share event field objects (the ``sla``
    dict), so the first model to write a schedule serialises it and the
    others reuse the text. Keeps a reference to each object, so an ``id``
    cannot be reused while remembered; forgets everything past ``limit``.
    Callers must not mutate a value after writing it (folds replace, never
    mutate, what they store).
    """

    def __init__(self, limit: int = 20_000) -> None:
        self._texts: dict[int, tuple[Any, str]] = {}
        self._limit = limit

    def text(self, value: Any) -> Any:
        if not isinstance(value, (dict, list)):
            return value
        known = self._texts.get(id(value))
        if known is None:
            if len(self._texts) >= self._limit:
                self._texts.clear()
            known = (value, dumps(value))
            self._texts[id(value)] = known
        return known[1]

    def clear(self) -> None:
        self._texts.clear()


def upsert(cursor: Cursor, table: str, key: str, columns: Sequence[str], rows: Sequence[Row],
           json_columns: JsonColumns | None = None) -> None:
    """Write whole rows (insert, or replace by ``key``) in one ``executemany``."""
    if not rows:
        return
    names = ", ".join(columns)
    marks = ", ".join("?" * len(columns))
    updates = ", ".join(f"{c} = excluded.{c}" for c in columns if c != key)
    sql = (f"INSERT INTO {table} ({names}) VALUES ({marks}) "  # noqa: S608 - fixed names
           f"ON CONFLICT ({key}) DO UPDATE SET {updates}")
    text = (json_columns or JsonColumns()).text
    structured = [c for c in columns if c in _JSON_COLUMNS]
    for row in rows:
        for column in structured:
            row[column] = text(row[column])
    cursor.executemany(sql, [tuple(row[c] for c in columns) for row in rows])
