"""SLA statistics: per level and product over a period of receipt, counts
received / resolved / breached / met, and median and 90th-percentile working
time to first reply and to resolution.

One row of facts per ticket; groups and percentiles are computed at query
time (a period is any ``[since, until)`` window, so nothing is pre-bucketed).
Working times are measured when the fact happens, from the schedule the event
recorded: first reply = the reaction clock's used time at the first reply
(pauses excluded); resolution = the resolution clock's used time at the
(latest) resolution. A ticket counts as breached if either clock ever went
past due: stopped late, alert recorded, or still running past due at query
time. Met = resolved and never breached.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from domain.sla import ClockName, ClockSchedule, WorkingTime
from domain.values import Level
from projections.store import Cursor, ReadStore
from projections.tickets import JsonColumns, Row, TicketEvent, fold_rows, upsert

TABLE = "rm_sla_stats"
COLUMNS = (
    "ticket_uuid", "ticket_id", "version", "level", "product", "received_ts", "is_open",
    "resolved_at", "first_reply_seconds", "resolution_seconds", "breached", "schedule",
)
_FIRST_REPLY = frozenset({"Responded", "InformationRequested"})
# Events after which a clock can newly be stopped late: a stop, or due instants recomputed.
_BOTH = ("reaction", "resolution")
_STOPS_OR_MOVES = {"Responded": ("reaction",), "InformationRequested": ("reaction",),
                   "Resolved": _BOTH, "Reclassified": _BOTH}
_LEVEL_ORDER = {level.value: n for n, level in enumerate(Level)}


def _late(sla: dict[str, Any], clocks: tuple[str, ...]) -> bool:
    """One of ``clocks`` stopped after its due instant."""
    for clock in clocks:
        stopped = sla[clock].get("stopped_at")
        if stopped is not None and datetime.fromisoformat(stopped) > datetime.fromisoformat(
            sla[clock]["due_at"]
        ):
            return True
    return False


def _running_late(sla: dict[str, Any], now: datetime) -> bool:
    for clock in ("reaction", "resolution"):
        data = sla[clock]
        if data.get("stopped_at") is not None:
            continue
        end = datetime.fromisoformat(data["paused_since"]) if data.get("paused_since") else now
        if end > datetime.fromisoformat(data["due_at"]):
            return True
    return False


class SlaStatsProjection:
    name = "sla_stats"
    tables: tuple[str, ...] = (TABLE,)
    schema: tuple[str, ...] = (
        f"""CREATE TABLE IF NOT EXISTS {TABLE} (
            ticket_uuid TEXT PRIMARY KEY,
            ticket_id TEXT NOT NULL,
            version INTEGER NOT NULL,
            level TEXT,
            product TEXT NOT NULL,
            received_ts DOUBLE PRECISION NOT NULL,
            is_open INTEGER NOT NULL,
            resolved_at TEXT,
            first_reply_seconds DOUBLE PRECISION,
            resolution_seconds DOUBLE PRECISION,
            breached INTEGER NOT NULL,
            schedule TEXT NOT NULL)""",
        f"CREATE INDEX IF NOT EXISTS {TABLE}_received ON {TABLE} (received_ts)",
    )

    def __init__(self, calendar: WorkingTime, json_columns: JsonColumns | None = None) -> None:
        self.calendar = calendar
        self.json_columns = json_columns or JsonColumns()

    def apply(self, cursor: Cursor, events: Sequence[TicketEvent]) -> None:
        upsert(cursor, TABLE, "ticket_uuid", COLUMNS, fold_rows(cursor, TABLE, events, self),
               self.json_columns)

    def start(self, event: TicketEvent) -> Row:
        fields = event.fields
        return {
            "ticket_id": fields["ticket_id"], "level": None, "product": fields["product"],
            "received_ts": datetime.fromisoformat(event.at).timestamp(), "is_open": 1, "resolved_at": None,
            "first_reply_seconds": None, "resolution_seconds": None, "breached": 0,
            "schedule": fields["sla"],
        }

    def step(self, row: Row, event: TicketEvent) -> None:
        name, fields, at = event.name, event.fields, event.at
        if name in ("Classified", "Reclassified"):
            row["level"], row["product"] = fields["level"], fields["product"]
        elif name == "SlaBreached":
            row["breached"] = 1
        elif name == "Resolved":
            row["is_open"] = 0
            row["resolved_at"] = at
            row["resolution_seconds"] = self._used(fields["sla"], at, ClockName.RESOLUTION)
        elif name == "Reopened":
            row["is_open"], row["resolved_at"], row["resolution_seconds"] = 1, None, None
        elif name == "Closed":
            row["is_open"] = 0
        # The system's request for missing details at receipt is no reply from support.
        by_system = (fields.get("actor") or {}).get("kind") == "system"
        if name in _FIRST_REPLY and row["first_reply_seconds"] is None and not by_system:
            row["first_reply_seconds"] = self._used(fields["sla"], at, ClockName.REACTION)
        if "sla" in fields:
            row["schedule"] = fields["sla"]
            clocks = _STOPS_OR_MOVES.get(name)
            if clocks and not row["breached"] and _late(fields["sla"], clocks):
                row["breached"] = 1

    def _used(self, sla: dict[str, Any], at: str, clock: ClockName) -> float:
        """Working time the clock had used when it stopped at ``at`` (first reply, resolution).

        ``evaluate_clock``'s measure for a stopped clock, without its remaining time.
        """
        schedule = ClockSchedule.from_dict(sla[clock.value])
        end = schedule.stopped_at or datetime.fromisoformat(at)
        used = self.calendar.working_time_between(schedule.started_at, end) - schedule.paused
        return max(used.total_seconds(), 0.0)


class SlaStatsView:
    def __init__(self, store: ReadStore) -> None:
        self.store = store

    def rows(self, now: datetime, *, level: str | None, product: str | None,
             since: datetime | None, until: datetime | None) -> list[dict[str, Any]]:
        where: list[str] = []
        params: list[Any] = []
        for clause, value in (("level = ?", level), ("product = ?", product),
                              ("received_ts >= ?", since.timestamp() if since else None),
                              ("received_ts < ?", until.timestamp() if until else None)):
            if value is not None:
                where.append(clause)
                params.append(value)
        rows = self.store.query(
            f"SELECT * FROM {TABLE}" + (f" WHERE {' AND '.join(where)}" if where else ""),  # noqa: S608
            params,
        )
        groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
        for row in rows:
            groups.setdefault((row["level"] or "unclassified", row["product"]), []).append(row)
        result = []
        for (lvl, prod), members in sorted(
            groups.items(), key=lambda g: (_LEVEL_ORDER.get(g[0][0], len(_LEVEL_ORDER)), g[0][1])
        ):
            breached = [
                bool(r["breached"]) or bool(r["is_open"]) and _running_late(json.loads(r["schedule"]), now)
                for r in members
            ]
            resolved = [r["resolved_at"] is not None for r in members]
            result.append({
                "level": lvl,
                "product": prod,
                "since": since.isoformat() if since else None,
                "until": until.isoformat() if until else None,
                "received": len(members),
                "resolved": sum(resolved),
                "breached": sum(breached),
                "met": sum(1 for b, r in zip(breached, resolved, strict=True) if r and not b),
                "first_reply_seconds": summary(
                    [r["first_reply_seconds"] for r in members if r["first_reply_seconds"] is not None]),
                "resolution_seconds": summary(
                    [r["resolution_seconds"] for r in members if r["resolution_seconds"] is not None]),
            })
        return result


def summary(values: list[float]) -> dict[str, float | None]:
    """Median, and the nearest-rank 90th percentile (an observed value, no interpolation)."""
    if not values:
        return {"median": None, "p90": None}
    ordered = sorted(values)
    rank = -(-9 * len(ordered) // 10)  # ceil(0.9 n), 1-based
    return {"median": float(statistics.median(ordered)), "p90": float(ordered[rank - 1])}

