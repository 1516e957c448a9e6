"""Queries over the read models: the queue, SLA timers, history and statistics.

Rows hold the SLA schedule the ticket's events recorded; statuses and
remaining time are evaluated at query time with the calendar, so they move
as time passes without any event.
"""

from __future__ import annotations

import json
import statistics
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from domain.sla import ClockState, SlaSchedule, WorkingTime, evaluate
from domain.values import Level
from projections.store import ReadStore
from projections.tickets import history_data


class Clock(Protocol):
    def now(self) -> datetime: ...


_OPEN_ORDER = "ORDER BY emergency DESC, arrival ASC"


@dataclass(frozen=True)
class Page:
    items: list[dict[str, Any]]
    total: int
    limit: int
    offset: int


def _clock(state: ClockState) -> dict[str, Any]:
    return {
        "status": state.status.value,
        "due_at": state.due_at.isoformat(),
        "at_risk_at": state.at_risk_at.isoformat(),
        "used_seconds": state.used.total_seconds(),
        "remaining_seconds": state.remaining.total_seconds(),
        "paused_seconds": state.paused.total_seconds(),
    }


class ReadModels:
    def __init__(self, store: ReadStore, *, calendar: WorkingTime, clock: Clock,
                 runner: Any | None = None) -> None:
        self.store = store
        self.calendar = calendar
        self.clock = clock
        self.runner = runner

    def position(self) -> int:
        if self.runner is not None:
            position: int = self.runner.position()
            return position
        rows = self.store.query("SELECT MIN(notification_id) AS p FROM rm_tracking")
        return int(rows[0]["p"] or 0) if rows else 0

    def _sla(self, row: dict[str, Any], now: datetime) -> dict[str, Any]:
        schedule = SlaSchedule.from_dict(json.loads(row["schedule"]))
        state = evaluate(schedule, now, self.calendar)
        return {
            "level": state.level.value,
            "reaction": _clock(state.reaction),
            "resolution": _clock(state.resolution),
            "policy_version": state.policy_version,
            "calendar_version": state.calendar_version,
        }

    def _item(self, row: dict[str, Any], now: datetime) -> dict[str, Any]:
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
            "sla": self._sla(row, now),
        }

    def queue(self, *, level: str | None = None, product: str | None = None,
              assignee: str | None = None, status: str | None = None,
              limit: int = 50, offset: int = 0) -> Page:
        """Open tickets in handling order (R11): confirmed emergencies first, then by arrival."""
        where, params = ["is_open = 1"], []
        for column, value in (("level", level), ("product", product), ("assignee", assignee),
                              ("status", status)):
            if value is not None:
                where.append(f"{column} = ?")
                params.append(value)
        clause = " AND ".join(where)
        total = self.store.query(f"SELECT COUNT(*) AS n FROM rm_tickets WHERE {clause}", params)  # noqa: S608
        rows = self.store.query(
            f"SELECT * FROM rm_tickets WHERE {clause} {_OPEN_ORDER} LIMIT ? OFFSET ?",  # noqa: S608
            [*params, limit, offset],
        )
        now = self.clock.now()
        return Page([self._item(r, now) for r in rows], int(total[0]["n"]), limit, offset)

    def sla_timers(self, *, ticket_id: str | None = None, status: str | None = None,
                   limit: int = 50, offset: int = 0) -> Page:
        """Both clocks of every open ticket (or one ticket), optionally only those in ``status``."""
        if ticket_id is not None:
            rows = self.store.query("SELECT * FROM rm_tickets WHERE ticket_id = ?", (ticket_id.upper(),))
        else:
            rows = self.store.query(f"SELECT * FROM rm_tickets WHERE is_open = 1 {_OPEN_ORDER}")
        now = self.clock.now()
        items = []
        for row in rows:
            sla = self._sla(row, now)
            if status is not None and status not in (sla["reaction"]["status"], sla["resolution"]["status"]):
                continue
            schedule = json.loads(row["schedule"])
            items.append({"id": row["ticket_id"], "status": row["status"], "level": row["level"],
                          "emergency_confirmed": bool(row["emergency"]),
                          "reaction": {**sla["reaction"], **_pauses(schedule, "reaction")},
                          "resolution": {**sla["resolution"], **_pauses(schedule, "resolution")},
                          "alerts": json.loads(row["alerts"])})
        return Page(items[offset: offset + limit], len(items), limit, offset)

    def history(self, ticket_id: str, *, limit: int = 500, offset: int = 0) -> Page:
        total = self.store.query("SELECT COUNT(*) AS n FROM rm_events WHERE ticket_id = ?", (ticket_id,))
        rows = self.store.query(
            "SELECT * FROM rm_events WHERE ticket_id = ? ORDER BY version LIMIT ? OFFSET ?",
            (ticket_id, limit, offset),
        )
        items = [{"version": r["version"], "position": r["position"], "type": r["type"],
                  "at": r["at"], "actor": json.loads(r["actor"]) if r["actor"] else None,
                  "data": history_data(r["data"])} for r in rows]
        return Page(items, int(total[0]["n"]), limit, offset)

    def stats(self, *, level: str | None = None, product: str | None = None,
              since: datetime | None = None, until: datetime | None = None) -> list[dict[str, Any]]:
        """Per level and product, over tickets received in ``[since, until)``."""
        where, params = ["1 = 1"], []
        if level is not None:
            where.append("level = ?")
            params.append(level)
        if product is not None:
            where.append("product = ?")
            params.append(product)
        if since is not None:
            where.append("received_ts >= ?")
            params.append(since.timestamp())
        if until is not None:
            where.append("received_ts < ?")
            params.append(until.timestamp())
        rows = self.store.query(
            "SELECT level, product, status, resolved_at, first_reply_seconds, resolution_seconds, "
            f"schedule, alerts FROM rm_tickets WHERE {' AND '.join(where)}",  # noqa: S608
            params,
        )
        now = self.clock.now()
        groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
        for row in rows:
            groups.setdefault((row["level"] or "unclassified", row["product"]), []).append(row)
        order = {lv.value: i for i, lv in enumerate(Level)}
        result = []
        for (lvl, prod), members in sorted(groups.items(), key=lambda g: (order.get(g[0][0], 9), g[0][1])):
            breached = met = 0
            for row in members:
                sla = self._sla(row, now)
                statuses = (sla["reaction"]["status"], sla["resolution"]["status"])
                alerts = json.loads(row["alerts"])
                if "breached" in statuses or any(":breached:" in a for a in alerts):
                    breached += 1
                elif row["resolved_at"] is not None and sla["resolution"]["status"] == "met":
                    met += 1
            replies = [r["first_reply_seconds"] for r in members if r["first_reply_seconds"] is not None]
            resolutions = [r["resolution_seconds"] for r in members if r["resolution_seconds"] is not None]
            result.append({
                "level": lvl,
                "product": prod,
                "received": len(members),
                "resolved": sum(1 for r in members if r["resolved_at"] is not None),
                "breached": breached,
                "met": met,
                "first_reply_seconds": _summary(replies),
                "resolution_seconds": _summary(resolutions),
            })
        return result


def _summary(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"median": None, "p90": None}
    ordered = sorted(values)
    rank = max(0, -(-9 * len(ordered) // 10) - 1)  # nearest-rank 90th percentile
    return {"median": statistics.median(ordered), "p90": ordered[rank]}


def _pauses(schedule: dict[str, Any], clock: str) -> dict[str, Any]:
    data = schedule.get(clock, {})
    return {"paused_since": data.get("paused_since"), "stopped_at": data.get("stopped_at")}
