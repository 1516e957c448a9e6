"""Replay for auditors: SLA outcomes rebuilt from the events, "what if" under
other rules, and a ticket's history told in words.

Nothing here writes. The recorded outcome uses the due instants the events
themselves carry (the policy and calendar in force when they were decided);
the what-if outcome recomputes them from the same SLA history under another
policy and calendar. Output is deterministic for a given ``as_of``: the same
store (SQLite or PostgreSQL), replayed twice, exports the same bytes.
"""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TextIO

from eventsourcing.persistence import JSONTranscoder

from adapters.audit.seal import strip
from domain.sla import (
    ClockStatus,
    SlaPolicy,
    SlaState,
    WorkingTime,
    compute_schedule,
    evaluate,
)
from projections.follower import NotificationFollower
from services.application import SupportDesk

RECEIVED_TOPIC = "domain.ticket:Ticket.Received"
CSV_COLUMNS = [
    "ticket_id", "received_at", "status", "level", "product", "events",
    "reaction_status", "reaction_due_at", "resolution_status", "resolution_due_at",
    "whatif_reaction_status", "whatif_reaction_due_at",
    "whatif_resolution_status", "whatif_resolution_due_at", "changed",
    "policy_version", "calendar_version", "whatif_policy_version", "whatif_calendar_version",
]


@dataclass(frozen=True)
class WhatIf:
    policy: SlaPolicy
    calendar: WorkingTime


def received_tickets(desk: SupportDesk, batch_size: int = 1000) -> Iterator[tuple[str, int]]:
    """``(ticket ID, position)`` of every ticket, in order of receipt, as the notification
    log is read (one pass; only ``Received`` events are decoded, from their stored JSON
    when the store keeps plain JSON)."""
    follower = NotificationFollower(desk, batch_size=batch_size)
    mapper = desk.mapper
    plain = (getattr(mapper, "cipher", None) is None and getattr(mapper, "compressor", None) is None
             and isinstance(mapper.transcoder, JSONTranscoder))
    position = 0
    while batch := follower.notifications(position):
        position = batch[-1].id
        for notification in batch:
            if notification.topic != RECEIVED_TOPIC:
                continue
            if plain:
                ticket_id = json.loads(strip(notification.state))["ticket_id"]
            else:
                ticket_id = mapper.to_domain_event(notification).ticket_id  # type: ignore[attr-defined]
            yield str(ticket_id), notification.id


def ticket_ids(desk: SupportDesk, batch_size: int = 1000) -> list[str]:
    """Every ticket in the store, in order of receipt (from the notification log)."""
    return [ticket_id for ticket_id, _ in received_tickets(desk, batch_size)]


def _clock(state: SlaState, name: str) -> dict[str, Any]:
    clock = state.reaction if name == "reaction" else state.resolution
    return {"status": clock.status.value, "due_at": clock.due_at.isoformat(),
            "used_seconds": clock.used.total_seconds(),
            "remaining_seconds": clock.remaining.total_seconds()}


def replay_ticket(
    desk: SupportDesk, ticket_id: str, as_of: datetime, what_if: WhatIf | None = None
) -> dict[str, Any] | None:
    """One ticket's state and SLA outcome as of ``as_of``; None if not yet received."""
    events, ticket = desk.ticket_as_of(ticket_id, as_of)
    if ticket is None:
        return None
    count = len(events)
    recorded = evaluate(ticket.schedule, as_of, desk.calendar)
    result: dict[str, Any] = {
        "ticket_id": ticket.ticket_id,
        "received_at": ticket.received_at.isoformat(),
        "status": ticket.status.value,
        "level": ticket.level.value if ticket.level else None,
        "product": ticket.product.value,
        "events": count,
        "as_of": as_of.isoformat(),
        "recorded": {"reaction": _clock(recorded, "reaction"),
                     "resolution": _clock(recorded, "resolution"),
                     "policy_version": recorded.policy_version,
                     "calendar_version": recorded.calendar_version},
    }
    if what_if is not None:
        schedule = compute_schedule(ticket.history, what_if.policy, what_if.calendar)
        state = evaluate(schedule, as_of, what_if.calendar)
        result["whatif"] = {"reaction": _clock(state, "reaction"),
                            "resolution": _clock(state, "resolution"),
                            "policy_version": state.policy_version,
                            "calendar_version": state.calendar_version}
        result["changed"] = any(
            result["recorded"][c]["status"] != result["whatif"][c]["status"]
            for c in ("reaction", "resolution")
        )
    return result


def replay(
    desk: SupportDesk,
    as_of: datetime,
    *,
    ticket: str | None = None,
    what_if: WhatIf | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Iterator[dict[str, Any]]:
    """Each ticket's result as soon as it is known: one pass over the log finds the
    tickets, each is read on its own; nothing is kept, so memory stays flat however long
    the history. ``progress(done, total)`` counts log positions (one ticket: 1 of 1)."""
    if ticket:
        result = replay_ticket(desk, ticket, as_of, what_if)
        if progress is not None:
            progress(1, 1)
        if result is not None:
            yield result
        return
    head = int(desk.recorder.max_notification_id() or 0)
    for ticket_id, position in received_tickets(desk):
        if position > head:
            break  # received after the replay began: not part of this one
        result = replay_ticket(desk, ticket_id, as_of, what_if)
        if progress is not None:
            progress(position, head)
        if result is not None:
            yield result
    if progress is not None:
        progress(head, head)


def progress_bar(stream: TextIO | None = None, width: int = 30) -> Callable[[int, int], None]:
    shown = [-1]

    def show(done: int, total: int) -> None:
        filled = int(width * done / total) if total else width
        if filled == shown[0] and done != total:
            return  # redraw only when the bar moves
        if shown[0] == width:
            return  # finished once already
        shown[0] = filled
        out = stream or sys.stderr
        out.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total}")
        if done == total:
            out.write("\n")
        out.flush()

    return show


def write_jsonl(results: Iterable[dict[str, Any]], out: TextIO) -> int:
    n = 0
    for result in results:
        out.write(json.dumps(result, ensure_ascii=False, sort_keys=True) + "\n")
        n += 1
    return n


def _flat(result: dict[str, Any]) -> dict[str, Any]:
    row = {k: result.get(k) for k in ("ticket_id", "received_at", "status", "level", "product", "events")}
    for side, prefix in (("recorded", ""), ("whatif", "whatif_")):
        data = result.get(side)
        if not data:
            continue
        for clock in ("reaction", "resolution"):
            row[f"{prefix}{clock}_status"] = data[clock]["status"]
            row[f"{prefix}{clock}_due_at"] = data[clock]["due_at"]
        row[f"{prefix}policy_version"] = data["policy_version"]
        row[f"{prefix}calendar_version"] = data["calendar_version"]
    row["changed"] = result.get("changed", "")
    return row


def write_csv(results: Iterable[dict[str, Any]], out: TextIO) -> int:
    writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    n = 0
    for result in results:
        writer.writerow(_flat(result))
        n += 1
    return n


# -- the human-readable export -----------------------------------------------------

def export_ticket(desk: SupportDesk, ticket_id: str, *, language: str = "ru",
                  as_of: datetime | None = None) -> str:
    """The full history, one event per paragraph, with every SLA clock change explained,
    in ``language``, Moscow times to the minute (``services/ticket_report``). Without
    ``as_of`` the state is told as of the last recorded event, so the same store always
    exports the same bytes."""
    from services.ticket_report import build, last_event_at, text

    return text(build(desk, ticket_id, as_of or last_event_at(desk, ticket_id), language))


class Outcomes:
    """Counts results as they stream past (``counted(results)``), for the closing summary."""

    def __init__(self) -> None:
        self.counts = {"tickets": 0, "breached": 0, "whatif_breached": 0, "changed": 0}

    def counted(self, results: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        for result in results:
            _count(self.counts, result)
            yield result


def outcome_summary(results: Iterable[dict[str, Any]]) -> dict[str, int]:
    counts = {"tickets": 0, "breached": 0, "whatif_breached": 0, "changed": 0}
    for result in results:
        _count(counts, result)
    return counts


def _count(counts: dict[str, int], result: dict[str, Any]) -> None:
    counts["tickets"] += 1
    clocks = ("reaction", "resolution")
    if any(result["recorded"][c]["status"] == ClockStatus.BREACHED.value for c in clocks):
        counts["breached"] += 1
    whatif = result.get("whatif")
    if whatif and any(whatif[c]["status"] == ClockStatus.BREACHED.value for c in clocks):
        counts["whatif_breached"] += 1
    counts["changed"] += int(bool(result.get("changed")))


__all__ = [
    "Outcomes", "WhatIf", "export_ticket", "outcome_summary", "progress_bar", "received_tickets",
    "replay", "replay_ticket", "ticket_ids", "write_csv", "write_jsonl",
]
