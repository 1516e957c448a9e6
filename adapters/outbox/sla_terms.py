"""What the SLA promises, in words, derived from the policy and the calendar.

Nothing here is typed by hand: the hours come from ``SlaPolicy`` and the
working day from the calendar. The sentences follow the policy's semantics
(README "SLA clocks"): with ``deadline_days`` the working-hour target is the
aim and the day count the deadline, unless the target falls later than the
deadline, in which case the target alone is the deadline.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import time, timedelta
from typing import Any

from adapters.i18n import gettext, name, ngettext
from domain.sla import SlaPolicy
from domain.values import Level


@dataclass(frozen=True)
class LevelPromise:
    level: Level
    reaction: timedelta
    target: timedelta
    deadline_days: int | None
    target_is_deadline: bool
    """True when the day deadline does not apply (no days, or the target ends later)."""


def working_day(calendar: Any) -> timedelta:
    opens: time = getattr(calendar, "opens", time(9))
    closes: time = getattr(calendar, "closes", time(18))
    return timedelta(hours=closes.hour - opens.hour, minutes=closes.minute - opens.minute)


def promise(policy: SlaPolicy, level: Level, calendar: Any) -> LevelPromise:
    terms = policy.terms[level]
    days = terms.deadline_days
    target_is_deadline = days is None or terms.target >= days * working_day(calendar)
    return LevelPromise(level, terms.reaction, terms.target, days, target_is_deadline)


def hours_text(span: timedelta, language: str) -> str:
    """'8 рабочих часов', '1 рабочего часа 30 минут' (genitive: it follows 'within')."""
    minutes = int(span.total_seconds() // 60)
    hours, rest = divmod(minutes, 60)
    parts = []
    if hours:
        parts.append(ngettext("%(n)d working hour", "%(n)d working hours", hours, language)
                     % {"n": hours})
    if rest or not hours:
        parts.append(ngettext("%(n)d minute", "%(n)d minutes", rest, language) % {"n": rest})
    return " ".join(parts)


def days_text(days: int, language: str) -> str:
    return ngettext("%(n)d working day", "%(n)d working days", days, language) % {"n": days}


def in_days(span: timedelta, calendar: Any, language: str) -> str:
    """'5 рабочих дней 3 ч' — working days of the calendar's day, then hours."""
    day = working_day(calendar)
    days, rest = divmod(span, day)
    hours = int(rest.total_seconds() // 3600)
    text = days_text(days, language) if days else ""
    if hours or not days:
        text += (" " if text else "") + gettext("%(hours)d h", language) % {"hours": hours}
    return text


def reaction_sentence(p: LevelPromise, language: str) -> str:
    return gettext("first reply within %(time)s", language) % {"time": hours_text(p.reaction, language)}


def resolution_sentence(p: LevelPromise, calendar: Any, language: str) -> str:
    if p.target_is_deadline:
        text = gettext("resolution within %(time)s", language) % {"time": hours_text(p.target, language)}
        if p.target >= working_day(calendar):
            text += " (" + gettext("about %(days)s", language) % {
                "days": in_days(p.target, calendar, language)} + ")"
        return text
    assert p.deadline_days is not None
    return gettext("we aim to resolve within %(time)s, and at the latest within %(days)s",
                   language) % {"time": hours_text(p.target, language),
                                "days": days_text(p.deadline_days, language)}


def level_sentence(p: LevelPromise, calendar: Any, language: str) -> str:
    return gettext("%(level)s: %(reaction)s; %(resolution)s", language) % {
        "level": name("level", p.level, language),
        "reaction": reaction_sentence(p, language),
        "resolution": resolution_sentence(p, calendar, language),
    }


def working_hours_sentence(calendar: Any, language: str) -> str:
    """When the clocks run: the calendar's hours, its zone, and which days count."""
    opens: time = getattr(calendar, "opens", time(9))
    closes: time = getattr(calendar, "closes", time(18))
    text = gettext("Working time is %(opens)s–%(closes)s Moscow time on working days of the "
                   "Russian production calendar: working Saturdays count, public holidays "
                   "do not", language) % {"opens": opens.strftime("%H:%M"),
                                          "closes": closes.strftime("%H:%M")}
    overrides = getattr(calendar, "overrides", None)
    cut = getattr(overrides, "pre_holiday_hours_cut", 0) if overrides is not None else 0
    if overrides is not None and getattr(overrides, "shorten_pre_holiday", False) and cut:
        text += gettext("; the day before a holiday is %(hours)d h shorter", language) % {"hours": cut}
    return text + "."


def terms(policy: SlaPolicy, calendar: Any, language: str) -> list[dict[str, Any]]:
    """Every level's promise as data and sentences (what templates iterate over)."""
    rows = []
    for level in Level:
        p = promise(policy, level, calendar)
        rows.append({"level": level.value, "name": name("level", level, language),
                     "reaction": reaction_sentence(p, language),
                     "resolution": resolution_sentence(p, calendar, language),
                     "sentence": level_sentence(p, calendar, language), "promise": p})
    return rows
