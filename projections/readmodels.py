"""The query façade over the read models: queue, SLA timers, history, statistics.

Items are JSON-ready: instants as ISO-8601 strings with their offset, durations
in seconds, enum values as strings. SLA statuses and remaining times are
evaluated at ``clock.now()`` on every query, so they move as time passes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from domain.sla import WorkingTime
from projections.history import EventTexts, HistoryView
from projections.queue import QueueView
from projections.review import ThirdPartyReviewView
from projections.runner import TRACKING
from projections.schedules import Schedules
from projections.sla_stats import SlaStatsView
from projections.sla_timers import Alert, SlaTimersView
from projections.store import ReadStore


class Clock(Protocol):
    def now(self) -> datetime: ...


@dataclass(frozen=True)
class Page:
    items: list[dict[str, Any]]
    total: int
    limit: int
    offset: int


class ReadModels:
    def __init__(self, store: ReadStore, *, calendar: WorkingTime, clock: Clock,
                 event_texts: EventTexts | None = None) -> None:
        self.store = store
        self.calendar = calendar
        self.clock = clock
        # One cache of parsed schedules: the queue's rows and the timers' carry the same texts.
        schedules = Schedules(calendar)
        self._queue = QueueView(store, calendar, schedules)
        self._timers = SlaTimersView(store, calendar, schedules)
        self._history = HistoryView(store, event_texts)
        self._stats = SlaStatsView(store)
        self._review = ThirdPartyReviewView(store)

    def queue(self, *, level: str | None = None, product: str | None = None,
              assignee: str | None = None, status: str | Sequence[str] | None = None,
              category: str | None = None, limit: int = 50, offset: int = 0) -> Page:
        """Open tickets in handling order (R11): confirmed emergencies first, then by arrival;
        ``status`` may name several statuses (any of them)."""
        items, total = self._queue.page(
            self.clock.now(),
            filters={"level": level, "product": product, "assignee": assignee, "status": status,
                     "category": category},
            limit=limit, offset=offset,
        )
        return Page(items, total, limit, offset)

    def sla_timers(self, *, ticket_id: str | None = None, status: str | None = None,
                   limit: int = 50, offset: int = 0) -> Page:
        """Both clocks of every open ticket (or of one ticket, open or not); ``status``
        keeps tickets with either clock in that status now."""
        items, total = self._timers.page(self.clock.now(), ticket_id=ticket_id, status=status,
                                         limit=limit, offset=offset)
        return Page(items, total, limit, offset)

    def history(self, ticket_id: str, *, limit: int = 500, offset: int = 0) -> Page:
        """Every event of the ticket in order (empty for an unknown or malformed ID)."""
        items, total = self._history.page(ticket_id, limit=limit, offset=offset)
        return Page(items, total, limit, offset)

    def stats(self, *, level: str | None = None, product: str | None = None,
              since: datetime | None = None, until: datetime | None = None) -> list[dict[str, Any]]:
        """Per level and product, over tickets received in ``[since, until)``."""
        return self._stats.rows(self.clock.now(), level=level, product=product, since=since,
                                until=until)

    def third_party_letters(self, *, pending: bool = True, limit: int = 50,
                            offset: int = 0) -> Page:
        """Letters from non-contacts kept on tickets (R19): waiting for staff, or decided."""
        items, total = self._review.page(pending=pending, limit=limit, offset=offset)
        return Page(items, total, limit, offset)

    def due_alerts(self, now: datetime | None = None) -> list[Alert]:
        """SLA alerts due at ``now`` (default: the clock) and not yet recorded: the watcher's input."""
        return self._timers.due_alerts(now or self.clock.now())

    def position(self) -> int:
        """The lowest notification ID every read model has processed (0 before any)."""
        rows = self.store.query(f"SELECT MIN(notification_id) AS p FROM {TRACKING}")  # noqa: S608
        return int(rows[0]["p"] or 0) if rows else 0
