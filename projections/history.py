"""History (D4): every event of a ticket, in order, as JSON-ready records for auditors."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from projections.follower import Delivered
from projections.store import Cursor, ReadStore
from projections.tickets import dumps, event_name, payload, uuid_of

TABLE = "rm_history"
_INSERT = (f"INSERT INTO {TABLE} (ticket_uuid, version, position, type, at, recorded_at, actor, "
           "fields) VALUES (?, ?, ?, ?, ?, ?, ?, ?)")


class HistoryProjection:
    name = "history"
    tables = (TABLE,)
    schema = (
        f"""CREATE TABLE IF NOT EXISTS {TABLE} (
            ticket_uuid TEXT NOT NULL,
            version INTEGER NOT NULL,
            position BIGINT NOT NULL,
            type TEXT NOT NULL,
            at TEXT,
            recorded_at TEXT NOT NULL,
            actor TEXT,
            fields TEXT NOT NULL,
            PRIMARY KEY (ticket_uuid, version))""",
    )

    def apply(self, cursor: Cursor, events: Sequence[Delivered]) -> None:
        if events:
            cursor.executemany(_INSERT, [self.row(d) for d in events])

    @staticmethod
    def row(delivered: Delivered) -> tuple[Any, ...]:
        event = delivered.event
        at = getattr(event, "at", None)
        actor = getattr(event, "actor", None)
        return (
            str(event.originator_id),
            event.originator_version,
            delivered.position,
            event_name(delivered),
            at.isoformat() if isinstance(at, datetime) else None,
            event.timestamp.isoformat(),
            dumps(actor) if actor is not None else None,
            dumps(payload(delivered)),
        )


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
        return [
            {
                "version": row["version"],
                "position": row["position"],
                "type": row["type"],
                "at": row["at"],
                "recorded_at": row["recorded_at"],
                "actor": json.loads(row["actor"]) if row["actor"] else None,
                "fields": json.loads(row["fields"]),
            }
            for row in rows
        ], int(total[0]["n"])
