"""History (D4): every event of a ticket, in order, as JSON-ready records for auditors."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from projections.store import Cursor, ReadStore
from projections.tickets import ENVELOPE, TicketEvent, unwrap, uuid_of

TABLE = "rm_history"
_INSERT = f"INSERT INTO {TABLE} (ticket_uuid, version, position, type, at, data) VALUES (?, ?, ?, ?, ?, ?)"


class HistoryProjection:
    """One row per event; ``data`` is the event's JSON as stored (plain stores) and is
    unwrapped and split into envelope and fields when read, not when written."""

    name = "history"
    tables: tuple[str, ...] = (TABLE,)
    schema: tuple[str, ...] = (
        f"""CREATE TABLE IF NOT EXISTS {TABLE} (
            ticket_uuid TEXT NOT NULL,
            version INTEGER NOT NULL,
            position BIGINT NOT NULL,
            type TEXT NOT NULL,
            at TEXT,
            data TEXT NOT NULL,
            PRIMARY KEY (ticket_uuid, version))""",
    )

    def apply(self, cursor: Cursor, events: Sequence[TicketEvent]) -> None:
        if events:
            cursor.executemany(_INSERT, [
                (e.ticket_uuid, e.version, e.position, e.name, e.fields.get("at"), e.data)
                for e in events
            ])


def record(row: dict[str, Any]) -> dict[str, Any]:
    """A history row as auditors read it."""
    data = unwrap(json.loads(row["data"]))
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
    def __init__(self, store: ReadStore) -> None:
        self.store = store

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
        return [record(row) for row in rows], int(total[0]["n"])
