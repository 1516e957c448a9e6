"""The queue (R11): open tickets in handling order, confirmed emergencies first,
then by arrival; filterable by level, product, assignee and status.

One row per ticket (closed ones stay, flagged, so a reopened ticket comes
back with its original arrival). Each row carries the SLA schedule its latest
event recorded, so items show both clocks evaluated at query time.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from domain.sla import WorkingTime
from projections.schedules import Positions, Schedules
from projections.store import Cursor, ReadStore
from projections.tickets import (
    OPEN_STATUSES,
    JsonColumns,
    Row,
    RowCache,
    TicketEvent,
    fold_rows,
    secondary_indexes,
    step_lifecycle,
    upsert,
)

TABLE = "rm_queue"
COLUMNS = (
    "arrival", "ticket_uuid", "ticket_id", "received_ts", "received_at", "version", "status",
    "pause", "is_open", "level", "emergency", "product", "category", "channel", "subject",
    "assignee", "updated_at", "schedule",
)
ORDER = "ORDER BY emergency DESC, received_ts ASC, arrival ASC"
# The handling order, as an index: a page reads its rows in order and stops (no sort);
# then every filtered column, so a filter is decided inside the index (its count reads
# no table row, its page only the rows it returns).
ORDER_INDEX = "(is_open, emergency DESC, received_ts, arrival, level, product, status, category, assignee)"


class QueueProjection:
    """Rows are keyed by arrival (the Received event's position): a ticket's row lives
    next to those received about the same time, so the updates of a batch touch a few
    recent pages instead of pages all over a UUID-ordered tree."""

    name = "queue"
    version = 3  # 3: the order index covers the filtered columns
    tables: tuple[str, ...] = (TABLE,)
    schema: tuple[str, ...] = (
        f"""CREATE TABLE IF NOT EXISTS {TABLE} (
            arrival INTEGER PRIMARY KEY,
            ticket_uuid TEXT NOT NULL UNIQUE,
            ticket_id TEXT NOT NULL,
            received_ts DOUBLE PRECISION NOT NULL,
            received_at TEXT NOT NULL,
            version INTEGER NOT NULL,
            status TEXT NOT NULL,
            pause TEXT,
            is_open INTEGER NOT NULL,
            level TEXT,
            emergency INTEGER NOT NULL,
            product TEXT NOT NULL,
            category TEXT,
            channel TEXT NOT NULL,
            subject TEXT NOT NULL,
            assignee TEXT,
            updated_at TEXT NOT NULL,
            schedule TEXT NOT NULL)""",
        f"CREATE INDEX IF NOT EXISTS {TABLE}_order ON {TABLE} {ORDER_INDEX}",
    )
    deferred_indexes = secondary_indexes(schema)

    def __init__(self, json_columns: JsonColumns | None = None) -> None:
        self.json_columns = json_columns or JsonColumns()
        self.cache: RowCache | None = None

    def forget(self) -> None:
        if self.cache is not None:
            self.cache.clear()

    def apply(self, cursor: Cursor, events: Sequence[TicketEvent]) -> None:
        upsert(cursor, TABLE, "ticket_uuid", COLUMNS, fold_rows(cursor, TABLE, events, self, cache=self.cache),
               self.json_columns)

    def start(self, event: TicketEvent) -> Row:
        fields, at = event.fields, event.at
        status, _, pause = step_lifecycle("Received", fields, "new", None, None)
        return {
            "ticket_id": fields["ticket_id"], "arrival": event.position,
            "received_ts": datetime.fromisoformat(at).timestamp(), "received_at": at,
            "status": status, "pause": pause, "is_open": 1, "level": None, "emergency": 0,
            "product": fields["product"], "category": None, "channel": fields["channel"],
            "subject": fields["subject"], "assignee": None, "updated_at": at,
            "schedule": fields["sla"],
        }

    def step(self, row: Row, event: TicketEvent) -> None:
        name, fields = event.name, event.fields
        row["status"], row["level"], row["pause"] = step_lifecycle(
            name, fields, row["status"], row["level"], row["pause"])
        row["is_open"] = int(row["status"] in OPEN_STATUSES)
        if name in ("Classified", "Reclassified"):
            row["product"], row["category"] = fields["product"], fields["category"]
            if fields["level"] != "emergency":
                row["emergency"] = 0
        elif name == "EmergencyConfirmed":
            row["emergency"] = 1
        elif name == "Assigned":
            row["assignee"] = fields["assignee"]
        if "sla" in fields:
            row["schedule"] = fields["sla"]
        row["updated_at"] = event.at


class QueueView:
    def __init__(self, store: ReadStore, calendar: WorkingTime,
                 schedules: Schedules | None = None) -> None:
        self.store = store
        self.calendar = calendar
        self.schedules = schedules or Schedules(calendar)

    def page(self, now: datetime, *, filters: dict[str, str | Sequence[str] | None], limit: int,
             offset: int) -> tuple[list[dict[str, Any]], int]:
        where, params = ["is_open = 1"], []
        for column in ("level", "product", "assignee", "status", "category"):
            value = filters.get(column)
            if isinstance(value, str):
                where.append(f"{column} = ?")
                params.append(value)
            elif value:  # several values: any of them
                where.append(f"{column} IN ({','.join('?' * len(value))})")
                params.extend(value)
        clause = " AND ".join(where)
        total = self.store.query(f"SELECT COUNT(*) AS n FROM {TABLE} WHERE {clause}", params)  # noqa: S608
        rows = self.store.query(
            f"SELECT * FROM {TABLE} WHERE {clause} {ORDER} LIMIT ? OFFSET ?",  # noqa: S608
            [*params, limit, offset],
        )
        positions = self.schedules.at(now)
        return [self.item(row, now, positions) for row in rows], int(total[0]["n"])

    def item(self, row: dict[str, Any], now: datetime, positions: Positions) -> dict[str, Any]:
        schedule, clocks = self.schedules.clocks(row["schedule"], now, positions)
        raw = schedule.raw
        for name, clock in clocks.items():  # "met at ..." needs the instant the clock stopped
            clock["stopped_at"] = raw[name].get("stopped_at")
        sla = {"level": raw["level"], **clocks, "policy_version": raw["policy_version"],
               "calendar_version": raw["calendar_version"]}
        return {
            "id": row["ticket_id"],
            "status": row["status"],
            "level": row["level"],
            "emergency_confirmed": bool(row["emergency"]),
            "product": row["product"],
            "category": row["category"],
            "channel": row["channel"],
            "subject": row["subject"],
            "assignee": row["assignee"],
            "received_at": row["received_at"],
            "updated_at": row["updated_at"],
            "version": row["version"],
            "arrival_position": row["arrival"],
            "sla": sla,
        }
