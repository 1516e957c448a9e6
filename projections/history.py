"""History (D4): every event of a ticket, in order, as JSON-ready records for auditors.

The read model keeps an index of each ticket's events (position, version, type,
instant), not a second copy of them: the event store already holds every event,
and a page of history reads that ticket's events from it (``EventTexts``). So
the read store grows by a few dozen bytes per event, and a rebuild writes
little more than it reads.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

from projections.store import Cursor, ReadStore
from projections.tickets import ENVELOPE, TicketEvent, unwrap, uuid_of

TABLE = "rm_history"
_INSERT = f"INSERT INTO {TABLE} (position, ticket_uuid, version, type, at) VALUES (?, ?, ?, ?, ?)"

EventTexts = Callable[[str, int, int], dict[int, str]]
"""``(ticket UUID, first version, last version)`` -> each version's stored JSON text."""


class HistoryProjection:
    """One row per event, appended in log order (the position is the key)."""

    name = "history"
    version = 2
    tables: tuple[str, ...] = (TABLE,)
    schema: tuple[str, ...] = (
        f"""CREATE TABLE IF NOT EXISTS {TABLE} (
            position INTEGER PRIMARY KEY,
            ticket_uuid TEXT NOT NULL,
            version INTEGER NOT NULL,
            type TEXT NOT NULL,
            at TEXT)""",
        f"CREATE UNIQUE INDEX IF NOT EXISTS {TABLE}_ticket ON {TABLE} (ticket_uuid, version)",
    )
    # Nothing reads it while the model is built from nothing: a bulk load creates it at
    # the end (one sort) instead of inserting a million random keys (``bulk_load``).
    deferred_indexes: tuple[tuple[str, str], ...] = ((f"{TABLE}_ticket", schema[1]),)

    def apply(self, cursor: Cursor, events: Sequence[TicketEvent]) -> None:
        if events:
            cursor.executemany(_INSERT, [
                (e.position, e.ticket_uuid, e.version, e.name, e.fields.get("at")) for e in events
            ])


def record(row: dict[str, Any], text: str | None) -> dict[str, Any]:
    """A history row and its event's stored JSON as auditors read it."""
    data = unwrap(json.loads(text)) if text is not None else {}
    return {
        "version": row["version"],
        "position": row["position"],
        "type": row["type"],
        "at": row["at"],
        "recorded_at": data.get("timestamp"),
        "actor": data.get("actor"),
        "fields": {k: v for k, v in data.items() if k not in ENVELOPE},
    }


class HistoryView:
    def __init__(self, store: ReadStore, texts: EventTexts | None = None) -> None:
        self.store = store
        self.texts = texts

    def page(self, ticket_id: str, *, limit: int, offset: int) -> tuple[list[dict[str, Any]], int]:
        key = uuid_of(ticket_id)
        if key is None:
            return [], 0
        total = self.store.query(f"SELECT COUNT(*) AS n FROM {TABLE} WHERE ticket_uuid = ?",  # noqa: S608
                                 (key,))
        rows = self.store.query(
            f"SELECT * FROM {TABLE} WHERE ticket_uuid = ? ORDER BY version LIMIT ? OFFSET ?",  # noqa: S608
            (key, limit, offset),
        )
        texts = (self.texts(key, rows[0]["version"], rows[-1]["version"])
                 if rows and self.texts is not None else {})
        return [record(row, texts.get(row["version"])) for row in rows], int(total[0]["n"])
