"""Recorded SLA schedules as the dashboards read them: each text parsed once.

A page of the queue or of the timers evaluates every row's recorded schedule at
"now". Between two pages most rows keep the schedule they had, and a stopped
clock's state does not depend on "now" at all (``evaluate_clock`` measures it up
to the instant it stopped). So the parsed schedule and its stopped clocks' states
are kept per recorded text; only running and paused clocks are evaluated per
request, and their working time is a difference of positions (``Positions``):
each recorded instant's is kept, "now"'s is found once per page.
"""

from __future__ import annotations

import json
import threading
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from domain.sla import ClockName, SlaSchedule, WorkingTime, evaluate_clock

CLOCKS = (ClockName.REACTION, ClockName.RESOLUTION)
_KEYS = tuple((name, name.value) for name in CLOCKS)  # an enum's .value is a slow property


class Schedule(NamedTuple):
    raw: dict[str, Any]
    """The recorded form, as stored."""
    parsed: SlaSchedule
    stopped: dict[ClockName, dict[str, Any]]
    """``ClockState.as_dict()`` of each stopped clock: the same at any later moment."""


class Positions:
    """A calendar answering ``working_time_between`` as ``position(end) - position(start)``,
    a position being the working time from one anchor instant: exact, since working time
    adds up (``between(a, c) == between(a, b) + between(b, c)``), and one calendar query
    per instant instead of one per pair. Recorded instants' positions are kept in
    ``kept``; ``now``'s is found when the object is made (one per page)."""

    def __init__(self, calendar: WorkingTime, anchor: datetime, now: datetime,
                 kept: dict[datetime, timedelta], size: int) -> None:
        self.calendar = calendar
        self.anchor = anchor
        self.now = now
        self.kept = kept
        self.size = size
        self.now_position = calendar.working_time_between(anchor, now)

    @property
    def version(self) -> str:
        return self.calendar.version

    def position(self, moment: datetime) -> timedelta:
        if moment is self.now:
            return self.now_position
        found = self.kept.get(moment)
        if found is None:
            found = self.calendar.working_time_between(self.anchor, moment)
            if len(self.kept) >= self.size:
                self.kept.clear()
            self.kept[moment] = found
        return found

    def working_time_between(self, start: datetime, end: datetime) -> timedelta:
        return self.position(end) - self.position(start)

    def add_working_time(self, start: datetime, delta: timedelta) -> datetime:
        return self.calendar.add_working_time(start, delta)

    def add_working_days(self, start: datetime, days: int) -> datetime:
        return self.calendar.add_working_days(start, days)


class Schedules:
    """The last ``size`` recorded schedule texts, parsed, for one calendar."""

    def __init__(self, calendar: WorkingTime, size: int = 16_384) -> None:
        self.calendar = calendar
        self.size = size
        self._kept: dict[str, Schedule] = {}
        self._positions: dict[datetime, timedelta] = {}
        self._anchor: datetime | None = None
        self._lock = threading.Lock()

    def get(self, text: str) -> Schedule:
        found = self._kept.get(text)
        if found is not None:
            return found
        raw = json.loads(text)
        parsed = SlaSchedule.from_dict(raw)
        stopped = {}
        for name in CLOCKS:
            clock = parsed.clock(name)
            if clock.stopped_at is not None:
                stopped[name] = evaluate_clock(name, clock, clock.stopped_at, self.calendar).as_dict()
        found = Schedule(raw, parsed, stopped)
        with self._lock:
            if len(self._kept) >= self.size:
                del self._kept[next(iter(self._kept))]
            self._kept[text] = found
        return found

    def at(self, now: datetime) -> Positions:
        """The calendar to evaluate a page's clocks at ``now`` with. The anchor is the
        first moment asked, set once: every kept position counts from it."""
        anchor = self._anchor
        if anchor is None:
            with self._lock:
                if self._anchor is None:
                    self._anchor = now
                anchor = self._anchor
        return Positions(self.calendar, anchor, now, self._positions, self.size * 4)

    def clocks(self, text: str, now: datetime,
               positions: Positions | None = None) -> tuple[Schedule, dict[str, dict[str, Any]]]:
        """The schedule and ``evaluate(schedule, now)``'s clocks as dicts (fresh ones: the
        caller may add to them); ``positions``: from ``at(now)``, shared by a page."""
        found = self.get(text)
        calendar = positions if positions is not None else self.at(now)
        states: dict[str, dict[str, Any]] = {}
        for name, key in _KEYS:
            fixed = found.stopped.get(name)
            states[key] = dict(fixed) if fixed is not None else evaluate_clock(
                name, found.parsed.clock(name), now, calendar).as_dict()
        return found, states
