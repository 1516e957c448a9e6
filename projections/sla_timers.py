"""SLA timers: per ticket, both clocks (reaction, resolution) with due instant,
used and remaining working time, status and the paused intervals.

Rows keep the schedule the ticket's latest event recorded (the decided
instants, with policy and calendar versions); status and remaining time are
evaluated at query time, so they move with the clock without any event.
Rows also keep the alerts already recorded and ``watch_ts``: the earliest
instant at which the SLA watcher has something to record, so a watcher pass
reads only the tickets that are due.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from domain.sla import ClockName, WorkingTime
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
    uuid_of,
)

TABLE = "rm_sla_timers"
# Per clock (r_ reaction, s_ resolution): the schedule's instants as numbers, so a
# clock's status at any moment is a comparison in SQL (see ``status_sql``).
CLOCK_COLUMNS = tuple(f"{p}_{c}" for p in ("r", "s") for c in ("stop", "pause_ts", "risk_ts", "due_ts"))
COLUMNS = (
    "arrival", "ticket_uuid", "ticket_id", "received_ts", "version", "status", "pause",
    "is_open", "level", "emergency", "schedule", "pauses", "alerts", "watch_ts", *CLOCK_COLUMNS,
)
ORDER = "ORDER BY emergency DESC, received_ts ASC, arrival ASC"
CLOCKS = (ClockName.REACTION, ClockName.RESOLUTION)
STATUSES = ("on_track", "at_risk", "breached", "paused", "met")


def _ts(text: str | None) -> float | None:
    return None if text is None else datetime.fromisoformat(text).timestamp()


def clock_columns(schedule: dict[str, Any]) -> dict[str, Any]:
    """``evaluate_clock``'s inputs as numbers: the stopped verdict, pause, at-risk, due."""
    columns: dict[str, Any] = {}
    for prefix, clock in (("r", "reaction"), ("s", "resolution")):
        data = schedule[clock]
        due = _ts(data["due_at"])
        stopped = _ts(data.get("stopped_at"))
        columns[f"{prefix}_stop"] = None if stopped is None else (
            "met" if stopped <= due else "breached")  # type: ignore[operator]
        columns[f"{prefix}_pause_ts"] = _ts(data.get("paused_since"))
        columns[f"{prefix}_risk_ts"] = _ts(data["at_risk_at"])
        columns[f"{prefix}_due_ts"] = due
    return columns


def status_sql(prefix: str, status: str) -> str:
    """A condition on one clock's columns, true when ``evaluate_clock`` gives ``status`` at
    the moment bound to every ``?`` (pass the moment ``clause.count('?')`` times)."""
    stop, pause, risk, due = (f"{prefix}_{c}" for c in ("stop", "pause_ts", "risk_ts", "due_ts"))
    paused = f"({stop} IS NULL AND {pause} IS NOT NULL AND ? >= {pause})"
    running = f"({stop} IS NULL AND ({pause} IS NULL OR ? < {pause}))"
    if status == "met":
        return f"{stop} = 'met'"
    if status == "paused":
        return f"({paused} AND {pause} <= {due})"
    if status == "breached":
        return (f"({stop} = 'breached' OR ({paused} AND {pause} > {due})"
                f" OR ({running} AND ? > {due}))")
    if status == "at_risk":
        return f"({running} AND ? <= {due} AND ? >= {risk})"
    if status == "on_track":
        return f"({running} AND ? < {risk} AND ? <= {due})"
    raise ValueError(f"unknown clock status {status!r}")


@dataclass(frozen=True)
class Alert:
    """An SLA alert that is due and not yet recorded on the ticket."""

    ticket_id: str
    clock: ClockName
    breached: bool


def alert_key(clock: str, breached: bool, started_at: str) -> str:
    """The key ``Ticket.record_sla_alert`` records: once per clock per cycle."""
    return f"{clock}:{'breached' if breached else 'at_risk'}:{started_at}"


def _pending(schedule: dict[str, Any], alerts: Sequence[str]) -> list[tuple[str, bool, str]]:
    """``(clock, breached, from instant)`` of each alert this schedule can still raise."""
    pending = []
    for clock in CLOCKS:
        data = schedule[clock.value]
        if data.get("stopped_at") is not None:
            continue
        at_risk = alert_key(clock.value, False, data["started_at"])
        breach = alert_key(clock.value, True, data["started_at"])
        if breach in alerts:
            continue
        paused_since = data.get("paused_since")
        if paused_since is not None:
            # A paused clock breaches only if it had run past due before the pause.
            if datetime.fromisoformat(paused_since) > datetime.fromisoformat(data["due_at"]):
                pending.append((clock.value, True, data["due_at"]))
            continue
        if at_risk not in alerts:
            pending.append((clock.value, False, data["at_risk_at"]))
        pending.append((clock.value, True, data["due_at"]))
    return pending


def watch_ts(schedule: dict[str, Any], alerts: Sequence[str]) -> float | None:
    instants = [datetime.fromisoformat(at).timestamp() for _, _, at in _pending(schedule, alerts)]
    return min(instants) if instants else None


def _listed(value: Any) -> list[Any]:
    return list(json.loads(value)) if isinstance(value, str) else list(value)


def _close(pauses: list[dict[str, Any]], at: str, kind: str | None = None) -> None:
    if pauses and pauses[-1]["end"] is None and (kind is None or pauses[-1]["kind"] == kind):
        pauses[-1] = {**pauses[-1], "end": at}


class SlaTimersProjection:
    """Keyed by arrival like the queue (see ``QueueProjection``)."""

    name = "sla_timers"
    version = 3  # 3: the order index covers the clock columns
    tables: tuple[str, ...] = (TABLE,)
    schema: tuple[str, ...] = (
        f"""CREATE TABLE IF NOT EXISTS {TABLE} (
            arrival INTEGER PRIMARY KEY,
            ticket_uuid TEXT NOT NULL UNIQUE,
            ticket_id TEXT NOT NULL,
            received_ts DOUBLE PRECISION NOT NULL,
            version INTEGER NOT NULL,
            status TEXT NOT NULL,
            pause TEXT,
            is_open INTEGER NOT NULL,
            level TEXT,
            emergency INTEGER NOT NULL,
            schedule TEXT NOT NULL,
            pauses TEXT NOT NULL,
            alerts TEXT NOT NULL,
            watch_ts DOUBLE PRECISION,
            r_stop TEXT, r_pause_ts DOUBLE PRECISION, r_risk_ts DOUBLE PRECISION,
            r_due_ts DOUBLE PRECISION,
            s_stop TEXT, s_pause_ts DOUBLE PRECISION, s_risk_ts DOUBLE PRECISION,
            s_due_ts DOUBLE PRECISION)""",
        f"CREATE INDEX IF NOT EXISTS {TABLE}_watch ON {TABLE} (is_open, watch_ts)",
        # Handling order, then every clock column: a status filter is decided inside the
        # index (its count reads no table row; its page reads only the rows it returns).
        f"CREATE INDEX IF NOT EXISTS {TABLE}_order ON {TABLE} "
        f"(is_open, emergency DESC, received_ts, arrival, {', '.join(CLOCK_COLUMNS)})",
    )
    deferred_indexes = secondary_indexes(schema)

    def __init__(self, json_columns: JsonColumns | None = None) -> None:
        self.json_columns = json_columns or JsonColumns()
        self.cache: RowCache | None = None

    def forget(self) -> None:
        if self.cache is not None:
            self.cache.clear()

    def apply(self, cursor: Cursor, events: Sequence[TicketEvent]) -> None:
        rows = fold_rows(cursor, TABLE, events, self, cache=self.cache)
        for row in rows:
            schedule = row["schedule"]
            if isinstance(schedule, str):
                schedule = json.loads(schedule)
            row["watch_ts"] = watch_ts(schedule, _listed(row["alerts"])) if row["is_open"] else None
            row.update(clock_columns(schedule))
        upsert(cursor, TABLE, "ticket_uuid", COLUMNS, rows, self.json_columns)

    def start(self, event: TicketEvent) -> Row:
        fields, at = event.fields, event.at
        status, _, pause = step_lifecycle("Received", fields, "new", None, None)
        pauses = [{"kind": pause, "start": at, "end": None}] if pause else []
        return {
            "ticket_id": fields["ticket_id"], "arrival": event.position,
            "received_ts": datetime.fromisoformat(at).timestamp(), "status": status, "pause": pause, "is_open": 1,
            "level": None, "emergency": 0, "schedule": fields["sla"], "pauses": pauses,
            "alerts": [],
        }

    def step(self, row: Row, event: TicketEvent) -> None:
        name, fields = event.name, event.fields
        was_paused = row["pause"]
        row["status"], row["level"], row["pause"] = step_lifecycle(
            name, fields, row["status"], row["level"], row["pause"])
        row["is_open"] = int(row["status"] in OPEN_STATUSES)
        if "sla" in fields:
            row["schedule"] = fields["sla"]
        if name == "EmergencyConfirmed":
            row["emergency"] = 1
        elif name == "Reclassified" and fields["level"] != "emergency":
            row["emergency"] = 0
        elif name in ("SlaAtRisk", "SlaBreached"):
            row["alerts"] = [*_listed(row["alerts"]), fields["key"]]
        at = event.at
        if was_paused != row["pause"] or name in ("Resolved", "Reopened"):
            pauses = _listed(row["pauses"])
            _close(pauses, at)
            if row["pause"] is not None:
                pauses.append({"kind": row["pause"], "start": at, "end": None})
            elif name == "Resolved":
                # Resolved time does not count either (a reopened ticket's clocks skip it).
                pauses.append({"kind": "resolved", "start": at, "end": None})
            row["pauses"] = pauses


class SlaTimersView:
    def __init__(self, store: ReadStore, calendar: WorkingTime,
                 schedules: Schedules | None = None) -> None:
        self.store = store
        self.calendar = calendar
        self.schedules = schedules or Schedules(calendar)

    def page(self, now: datetime, *, ticket_id: str | None, status: str | None, limit: int,
             offset: int) -> tuple[list[dict[str, Any]], int]:
        positions = self.schedules.at(now)
        if ticket_id is not None:
            rows = self.store.query(f"SELECT * FROM {TABLE} WHERE ticket_uuid = ?",  # noqa: S608
                                    (uuid_of(ticket_id),))
            items = [self.item(row, now, positions) for row in rows]
            if status is not None:
                items = [i for i in items
                         if status in (i["reaction"]["status"], i["resolution"]["status"])]
            return items[offset:offset + limit], len(items)
        clause, params = self.open_clause(now, status)
        total = self.store.query(f"SELECT COUNT(*) AS n FROM {TABLE} WHERE {clause}", params)  # noqa: S608
        rows = self.store.query(f"SELECT * FROM {TABLE} WHERE {clause} {ORDER} "  # noqa: S608
                                "LIMIT ? OFFSET ?", (*params, limit, offset))
        return [self.item(row, now, positions) for row in rows], int(total[0]["n"])

    @staticmethod
    def open_clause(now: datetime, status: str | None) -> tuple[str, list[Any]]:
        """Open tickets, with either clock in ``status`` at ``now`` when given: evaluated
        by SQL over the open rows in handling order, so a page stops at its last row."""
        if status is None:
            return "is_open = 1", []
        if status not in STATUSES:
            raise ValueError(f"unknown clock status {status!r}")
        either = f"({status_sql('r', status)} OR {status_sql('s', status)})"
        moment = now.timestamp()
        return f"is_open = 1 AND {either}", [moment] * either.count("?")

    def item(self, row: dict[str, Any], now: datetime, positions: Positions) -> dict[str, Any]:
        schedule, clocks = self.schedules.clocks(row["schedule"], now, positions)
        raw = schedule.raw
        for name, clock in clocks.items():
            recorded = raw[name]
            clock["started_at"] = recorded["started_at"]
            clock["stopped_at"] = recorded.get("stopped_at")
            clock["paused_since"] = recorded.get("paused_since")
        return {
            "id": row["ticket_id"],
            "status": row["status"],
            "level": row["level"],
            "emergency_confirmed": bool(row["emergency"]),
            "reaction": clocks["reaction"],
            "resolution": clocks["resolution"],
            "paused_intervals": json.loads(row["pauses"]),
            "alerts": json.loads(row["alerts"]),
            "policy_version": raw["policy_version"],
            "calendar_version": raw["calendar_version"],
        }

    def due_alerts(self, now: datetime) -> list[Alert]:
        """Alerts whose instant has passed at ``now`` and which the ticket has not recorded."""
        rows = self.store.query(
            f"SELECT ticket_id, schedule, alerts FROM {TABLE} "  # noqa: S608
            "WHERE is_open = 1 AND watch_ts <= ? ORDER BY watch_ts", (now.timestamp(),))
        due: list[Alert] = []
        for row in rows:
            pending = _pending(json.loads(row["schedule"]), json.loads(row["alerts"]))
            for clock in CLOCKS:
                mine = [(breached, datetime.fromisoformat(at))
                        for name, breached, at in pending if name == clock.value]
                if any(breached and now > at for breached, at in mine):
                    # Past due: record the breach; an unrecorded at-risk is moot by then.
                    due.append(Alert(row["ticket_id"], clock, breached=True))
                elif any(not breached and now >= at for breached, at in mine):
                    due.append(Alert(row["ticket_id"], clock, breached=False))
        return due

