"""The SLA policy (R7–R10, R12, R14) and the clocks it runs on a ticket.

Two clocks run on every ticket:

* **reaction** — how long the requester waits for a reply from support. A
  cycle starts on receipt, and again whenever the requester writes back or the
  ticket is reopened; it stops at the next reply from support.
* **resolution** — from receipt until the ticket is resolved.

Both count working time only and both stop while the ticket waits for the
requester, for a development release, or is postponed (R14). Each pause
shifts the clock's instants by the working time it lasted, unless the instant
had already passed when the pause began: a pause never un-breaches a clock.
A clock is held only by pauses that begin after it started: when the
requester writes to a postponed ticket or one waiting for a release, the
reaction clock starts and runs although the ticket stays paused (R10).

Computation is split in two pure steps so history stays fixed:
``compute_schedule`` turns a ticket's SLA history into due instants (recorded
in the ticket's events with the policy and calendar versions), and
``evaluate`` tells the state of a recorded schedule at a given moment.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum
from functools import cached_property, partial
from typing import Any, Protocol

from domain.errors import InvalidValue
from domain.values import Level, parse_enum


class WorkingTime(Protocol):
    """What the SLA needs of a working calendar."""

    @property
    def version(self) -> str: ...

    def add_working_time(self, start: datetime, delta: timedelta) -> datetime: ...

    def working_time_between(self, start: datetime, end: datetime) -> timedelta: ...

    def add_working_days(self, start: datetime, days: int) -> datetime: ...


@dataclass(frozen=True)
class LevelTerms:
    """One level's promises.

    ``target`` is working time to resolution; ``deadline_days`` is the hard
    deadline in calendar days with weekends and holidays not counted (R8, R9
    decision). Without ``deadline_days`` the target is itself the deadline.
    """

    reaction: timedelta
    target: timedelta
    deadline_days: int | None = None

    def __post_init__(self) -> None:
        if self.reaction <= timedelta(0) or self.target <= timedelta(0):
            raise InvalidValue("sla", "reaction and target must be positive durations")
        if self.deadline_days is not None and self.deadline_days <= 0:
            raise InvalidValue("sla", "deadline_days must be a positive number of days")

    def as_dict(self) -> dict[str, Any]:
        return {
            "reaction_seconds": int(self.reaction.total_seconds()),
            "target_seconds": int(self.target.total_seconds()),
            "deadline_days": self.deadline_days,
        }


@dataclass(frozen=True)
class SlaPolicy:
    """Service-level terms per level; the numbers are configuration."""

    terms: Mapping[Level, LevelTerms]
    default_level: Level = Level.STANDARD
    at_risk_ratio: float = 0.75
    name: str = "pass24-regulation"

    def __post_init__(self) -> None:
        missing = [level.value for level in Level if level not in self.terms]
        if missing:
            raise InvalidValue("sla.terms", f"no terms for level(s): {', '.join(missing)}")
        if not 0 < self.at_risk_ratio < 1:
            raise InvalidValue("sla.at_risk_ratio", "at_risk_ratio must be between 0 and 1")

    @classmethod
    def regulation_default(cls) -> SlaPolicy:
        """The regulation's numbers: R7 4 h; R8 24 h to 5 days; R9 48 h to 5 days; R10 1/8/16 h."""
        hours = timedelta(hours=1)
        return cls(
            terms={
                Level.EMERGENCY: LevelTerms(reaction=1 * hours, target=4 * hours),
                Level.STANDARD: LevelTerms(reaction=8 * hours, target=24 * hours, deadline_days=5),
                Level.CONSULTATION: LevelTerms(
                    reaction=16 * hours, target=48 * hours, deadline_days=5
                ),
            }
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "default_level": self.default_level.value,
            "at_risk_ratio": self.at_risk_ratio,
            "terms": {level.value: self.terms[level].as_dict() for level in Level},
        }

    @cached_property
    def version(self) -> str:
        """Identifies these exact numbers; recorded with every computed due instant."""
        canonical = json.dumps(self.as_dict(), sort_keys=True, separators=(",", ":"))
        return f"{self.name}:{hashlib.sha256(canonical.encode()).hexdigest()[:10]}"


class PauseKind(StrEnum):
    WAITING_FOR_REQUESTER = "waiting_for_requester"
    WAITING_FOR_RELEASE = "waiting_for_release"
    POSTPONED = "postponed"
    RESOLVED = "resolved"


@dataclass(frozen=True)
class Pause:
    kind: PauseKind
    start: datetime
    end: datetime | None = None


@dataclass(frozen=True)
class SlaHistory:
    """The facts of a ticket that its clocks depend on.

    Reclassification recomputes from the original receipt under the new
    level (R12), so only the current level matters.
    """

    received_at: datetime
    level: Level | None = None
    pauses: tuple[Pause, ...] = ()
    reaction_started_at: datetime | None = None
    reaction_stopped_at: datetime | None = None
    resolved_at: datetime | None = None

    def __post_init__(self) -> None:
        if self.reaction_started_at is None:
            object.__setattr__(self, "reaction_started_at", self.received_at)

    @property
    def open_pause(self) -> Pause | None:
        if self.pauses and self.pauses[-1].end is None:
            return self.pauses[-1]
        return None

    def with_level(self, level: Level) -> SlaHistory:
        return replace(self, level=level)

    def pause(self, kind: PauseKind, at: datetime) -> SlaHistory:
        if self.open_pause is not None:
            raise InvalidValue("pause", f"already paused ({self.open_pause.kind.value})")
        return replace(self, pauses=(*self.pauses, Pause(kind, at)))

    def unpause(self, at: datetime) -> SlaHistory:
        current = self.open_pause
        if current is None:
            return self
        return replace(self, pauses=(*self.pauses[:-1], replace(current, end=at)))

    def stop_reaction(self, at: datetime) -> SlaHistory:
        if self.reaction_stopped_at is not None:
            return self
        return replace(self, reaction_stopped_at=at)

    def restart_reaction(self, at: datetime) -> SlaHistory:
        """A new wait for support begins (requester wrote back, ticket reopened)."""
        if self.reaction_stopped_at is None:
            return self
        return replace(self, reaction_started_at=at, reaction_stopped_at=None)

    def requester_wrote(self, at: datetime) -> SlaHistory:
        """R10: a message from the requester ends a wait for them and starts the reaction
        clock, whatever else the ticket waits for.

        A postponement or a wait for a release stays open (it still holds the
        resolution clock), but the new reaction cycle starts after it began, so
        it does not hold the reaction clock (see ``compute_schedule``).
        """
        history = self
        pause = history.open_pause
        if pause is not None and pause.kind is PauseKind.WAITING_FOR_REQUESTER:
            history = history.unpause(at)
        if history.reaction_stopped_at is None and history.open_pause is None:
            return history  # support already owes a reply; its clock keeps running
        return replace(history, reaction_started_at=at, reaction_stopped_at=None)

    def resolve(self, at: datetime) -> SlaHistory:
        return replace(self.unpause(at).stop_reaction(at), resolved_at=at)

    def reopen(self, at: datetime) -> SlaHistory:
        if self.resolved_at is None:
            return self
        resolved_span = Pause(PauseKind.RESOLVED, self.resolved_at, at)
        reopened = replace(self, resolved_at=None, pauses=(*self.pauses, resolved_span))
        return reopened.restart_reaction(at)


class ClockName(StrEnum):
    REACTION = "reaction"
    RESOLUTION = "resolution"


class ClockStatus(StrEnum):
    ON_TRACK = "on_track"
    AT_RISK = "at_risk"
    BREACHED = "breached"
    PAUSED = "paused"
    MET = "met"


@dataclass(frozen=True)
class ClockSchedule:
    """One clock's decided instants, as recorded in the ticket's history."""

    started_at: datetime
    at_risk_at: datetime
    due_at: datetime
    stopped_at: datetime | None = None
    paused_since: datetime | None = None
    paused: timedelta = timedelta(0)

    def as_dict(self) -> dict[str, Any]:
        return {
            "started_at": self.started_at.isoformat(),
            "at_risk_at": self.at_risk_at.isoformat(),
            "due_at": self.due_at.isoformat(),
            "stopped_at": _iso(self.stopped_at),
            "paused_since": _iso(self.paused_since),
            "paused_seconds": self.paused.total_seconds(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ClockSchedule:
        return cls(
            started_at=datetime.fromisoformat(data["started_at"]),
            at_risk_at=datetime.fromisoformat(data["at_risk_at"]),
            due_at=datetime.fromisoformat(data["due_at"]),
            stopped_at=_from_iso(data.get("stopped_at")),
            paused_since=_from_iso(data.get("paused_since")),
            paused=timedelta(seconds=float(data.get("paused_seconds", 0))),
        )


@dataclass(frozen=True)
class SlaSchedule:
    level: Level
    reaction: ClockSchedule
    resolution: ClockSchedule
    policy_version: str
    calendar_version: str

    def clock(self, name: ClockName) -> ClockSchedule:
        return self.reaction if name is ClockName.REACTION else self.resolution

    def as_dict(self) -> dict[str, Any]:
        return {
            "level": self.level.value,
            "reaction": self.reaction.as_dict(),
            "resolution": self.resolution.as_dict(),
            "policy_version": self.policy_version,
            "calendar_version": self.calendar_version,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SlaSchedule:
        return cls(
            level=parse_enum(Level, data["level"], "level"),
            reaction=ClockSchedule.from_dict(data["reaction"]),
            resolution=ClockSchedule.from_dict(data["resolution"]),
            policy_version=data["policy_version"],
            calendar_version=data["calendar_version"],
        )


@dataclass(frozen=True)
class ClockState:
    """A clock at a moment: what a dashboard shows."""

    name: ClockName
    status: ClockStatus
    due_at: datetime
    at_risk_at: datetime
    used: timedelta
    remaining: timedelta
    paused: timedelta = field(default=timedelta(0))

    def as_dict(self) -> dict[str, Any]:
        return {
            "status": self.status.value,
            "due_at": self.due_at.isoformat(),
            "at_risk_at": self.at_risk_at.isoformat(),
            "used_seconds": self.used.total_seconds(),
            "remaining_seconds": self.remaining.total_seconds(),
            "paused_seconds": self.paused.total_seconds(),
        }


@dataclass(frozen=True)
class SlaState:
    level: Level
    reaction: ClockState
    resolution: ClockState
    policy_version: str
    calendar_version: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "level": self.level.value,
            "reaction": self.reaction.as_dict(),
            "resolution": self.resolution.as_dict(),
            "policy_version": self.policy_version,
            "calendar_version": self.calendar_version,
        }


Deadlines = Callable[[datetime, timedelta, "int | None", float], "tuple[datetime, datetime]"]
"""``(start, budget, deadline_days, at_risk_ratio) -> (due, at_risk)`` before any pause."""


def compute_schedule(
    history: SlaHistory,
    policy: SlaPolicy,
    calendar: WorkingTime,
    deadlines: Deadlines | None = None,
) -> SlaSchedule:
    """Decide both clocks' instants from a ticket's SLA history.

    ``deadlines`` answers a clock's instants before pauses (``clock_deadlines`` on
    ``calendar`` unless given: ``SlaRules`` passes a memo of it).
    """
    level = history.level or policy.default_level
    terms = policy.terms[level]
    assert history.reaction_started_at is not None
    if deadlines is None:
        deadlines = partial(clock_deadlines, calendar)
    reaction = _schedule_clock(
        start=history.reaction_started_at,
        budget=terms.reaction,
        deadline_days=None,
        stop=history.reaction_stopped_at,
        pauses=history.pauses,
        at_risk_ratio=policy.at_risk_ratio,
        calendar=calendar,
        deadlines=deadlines,
    )
    resolution = _schedule_clock(
        start=history.received_at,
        budget=terms.target,
        deadline_days=terms.deadline_days,
        stop=history.resolved_at,
        pauses=history.pauses,
        at_risk_ratio=policy.at_risk_ratio,
        calendar=calendar,
        deadlines=deadlines,
    )
    return SlaSchedule(level, reaction, resolution, policy.version, calendar.version)


def clock_deadlines(
    calendar: WorkingTime, start: datetime, budget: timedelta, deadline_days: int | None,
    at_risk_ratio: float,
) -> tuple[datetime, datetime]:
    """``(due, at_risk)`` of a clock started at ``start``, before any pause shifts them.

    Results depend on the instant ``start`` only, not on its time zone: the calendar
    answers in its own zone.
    """
    target = calendar.add_working_time(start, budget)
    early_warning = calendar.add_working_time(start, budget * at_risk_ratio)
    if deadline_days is None:
        return target, early_warning
    due = max(target, calendar.add_working_days(start, deadline_days))
    return due, (target if target < due else early_warning)


def _schedule_clock(
    *,
    start: datetime,
    budget: timedelta,
    deadline_days: int | None,
    stop: datetime | None,
    pauses: tuple[Pause, ...],
    at_risk_ratio: float,
    calendar: WorkingTime,
    deadlines: Deadlines,
) -> ClockSchedule:
    due, at_risk = deadlines(start, budget, deadline_days, at_risk_ratio)
    paused = timedelta(0)
    paused_since: datetime | None = None
    for pause in pauses:
        if pause.start < start:
            # R10: a clock started while the ticket was already paused (the requester
            # wrote to a postponed ticket) runs: that pause is not its own.
            continue
        begin = pause.start
        if stop is not None and begin >= stop:
            continue
        if pause.end is None:
            paused_since = begin
            continue
        if pause.end <= start:
            continue
        lasted = calendar.working_time_between(begin, pause.end)
        paused += lasted
        if begin < due:
            due = calendar.add_working_time(due, lasted)
        if begin < at_risk:
            at_risk = calendar.add_working_time(at_risk, lasted)
    return ClockSchedule(
        started_at=start,
        at_risk_at=at_risk,
        due_at=due,
        stopped_at=stop,
        paused_since=paused_since,
        paused=paused,
    )


def evaluate(schedule: SlaSchedule, at: datetime, calendar: WorkingTime) -> SlaState:
    """The state of both clocks of a recorded schedule at ``at``."""
    return SlaState(
        level=schedule.level,
        reaction=evaluate_clock(ClockName.REACTION, schedule.reaction, at, calendar),
        resolution=evaluate_clock(ClockName.RESOLUTION, schedule.resolution, at, calendar),
        policy_version=schedule.policy_version,
        calendar_version=schedule.calendar_version,
    )


def evaluate_clock(
    name: ClockName, clock: ClockSchedule, at: datetime, calendar: WorkingTime
) -> ClockState:
    paused = clock.paused
    if clock.stopped_at is not None:
        end = clock.stopped_at
        status = ClockStatus.MET if end <= clock.due_at else ClockStatus.BREACHED
    elif clock.paused_since is not None and at >= clock.paused_since:
        end = clock.paused_since
        paused += calendar.working_time_between(clock.paused_since, at)
        status = ClockStatus.BREACHED if end > clock.due_at else ClockStatus.PAUSED
    else:
        end = at
        if at > clock.due_at:
            status = ClockStatus.BREACHED
        elif at >= clock.at_risk_at:
            status = ClockStatus.AT_RISK
        else:
            status = ClockStatus.ON_TRACK
    used = max(calendar.working_time_between(clock.started_at, end) - clock.paused, timedelta(0))
    return ClockState(
        name=name,
        status=status,
        due_at=clock.due_at,
        at_risk_at=clock.at_risk_at,
        used=used,
        remaining=calendar.working_time_between(end, clock.due_at),
        paused=paused,
    )


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def _from_iso(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


@dataclass(frozen=True)
class SlaRules:
    """The policy and calendar in force when a command runs.

    Every command that records a schedule computes it again from the ticket's
    history, and a ticket's clocks keep their starts for most of its life: the
    instants before pauses (``clock_deadlines``, five calendar queries) are kept
    per start, so a command pays for the pauses only. Policy and calendar are
    fixed for the rules' life, so a kept answer is the answer.
    """

    policy: SlaPolicy
    calendar: WorkingTime
    _deadlines: dict[tuple[Any, ...], tuple[datetime, datetime]] = field(
        default_factory=dict, init=False, repr=False, compare=False, hash=False)

    def schedule(self, history: SlaHistory) -> SlaSchedule:
        return compute_schedule(history, self.policy, self.calendar, self.deadlines)

    def deadlines(self, start: datetime, budget: timedelta, deadline_days: int | None,
                  at_risk_ratio: float) -> tuple[datetime, datetime]:
        """``clock_deadlines`` on the rules' calendar, remembered (the last 4 096 starts)."""
        # Aware datetimes of one zone compare by wall clock, fold ignored, and across zones
        # by instant: the zone and fold in the key keep each kept answer to its own start.
        key = (start, start.tzinfo, start.fold, budget, deadline_days, at_risk_ratio)
        found = self._deadlines.get(key)
        if found is None:
            found = clock_deadlines(self.calendar, start, budget, deadline_days, at_risk_ratio)
            if len(self._deadlines) >= 4096:
                self._deadlines.clear()
            self._deadlines[key] = found
        return found
