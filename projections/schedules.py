"""Recorded SLA schedules as the dashboards read them: each text parsed once.

A page of the queue or of the timers evaluates every row's recorded schedule at
"now". Between two pages most rows keep the schedule they had, and a stopped
clock's state does not depend on "now" at all (``evaluate_clock`` measures it up
to the instant it stopped). So the parsed schedule and its stopped clocks' states
are kept per recorded text; only running and paused clocks are evaluated per
request.
"""

from __future__ import annotations

import json
import threading
from datetime import datetime
from typing import Any, NamedTuple

from domain.sla import ClockName, SlaSchedule, WorkingTime, evaluate_clock

CLOCKS = (ClockName.REACTION, ClockName.RESOLUTION)


class Schedule(NamedTuple):
    raw: dict[str, Any]
    """The recorded form, as stored."""
    parsed: SlaSchedule
    stopped: dict[ClockName, dict[str, Any]]
    """``ClockState.as_dict()`` of each stopped clock: the same at any later moment."""


class Schedules:
    """The last ``size`` recorded schedule texts, parsed, for one calendar."""

    def __init__(self, calendar: WorkingTime, size: int = 16_384) -> None:
        self.calendar = calendar
        self.size = size
        self._kept: dict[str, Schedule] = {}
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

    def clocks(self, text: str, now: datetime) -> tuple[Schedule, dict[str, dict[str, Any]]]:
        """The schedule and ``evaluate(schedule, now)``'s clocks as dicts (fresh ones: the
        caller may add to them)."""
        found = self.get(text)
        states: dict[str, dict[str, Any]] = {}
        for name in CLOCKS:
            fixed = found.stopped.get(name)
            states[name.value] = dict(fixed) if fixed is not None else evaluate_clock(
                name, found.parsed.clock(name), now, self.calendar).as_dict()
        return found, states
