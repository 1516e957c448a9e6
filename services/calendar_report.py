"""``pass24-desk calendar show YEAR``: the working days the desk will use, and why.

Every day that differs from the plain Monday–Friday rule is listed with its
source: the ``holidays`` package (with its version, so a decree it does not know
yet stands out) or the override file that changed it. A new decree can be
checked here before it matters.
"""

from __future__ import annotations

import calendar as month_names
from datetime import date, timedelta
from pathlib import Path

import holidays

from domain.calendar import WorkingCalendar
from services.config import load_calendar_config


def calendar_report(year: int, path: Path | None, *, list_days: bool = False) -> str:
    package = f"holidays {getattr(holidays, '__version__', '?')}"
    if path is not None:
        config = load_calendar_config(path)
        calendar = config.to_calendar()
        off_by_file, working_by_file = set(config.extra_days_off), set(config.extra_working_days)
        source = f"override file {path}"
    else:
        calendar = WorkingCalendar.default()
        off_by_file, working_by_file = set(), set()
        source = "no override file"
    plain = WorkingCalendar.default()  # the package alone, to tell who decided each day

    lines = [f"Working calendar {year}: {calendar.tz.key}, {calendar.opens:%H:%M}-{calendar.closes:%H:%M}; "
             f"sources: {package} (Russian production calendar), {source}"]
    exceptions: list[str] = []
    working: list[date] = []
    per_month = [0] * 12
    day = date(year, 1, 1)
    while day.year == year:
        weekend = day.weekday() >= 5
        works = calendar.is_working_day(day)
        if works:
            working.append(day)
            per_month[day.month - 1] += 1
        if works == weekend or day in off_by_file or day in working_by_file:
            what = "working day" if works else "day off"
            if day in off_by_file or day in working_by_file:
                why = f"{source}"
                if plain.is_working_day(day) == works:
                    why += f" (agrees with {package})"
            else:
                name = plain.holiday_name(day)
                if works:
                    why = f"{package}: working weekend day moved by decree"
                else:
                    why = f"{package}: {name}" if name else f"{package}: day off"
            exceptions.append(f"  {day.isoformat()} {day:%a}  {what:<11}  {why}")
        day += timedelta(days=1)

    lines.append(f"{len(working)} working days:")
    for month in range(1, 13):
        days = " ".join(f"{d.day:2}" for d in working if d.month == month)
        lines.append(f"  {month_names.month_abbr[month]} ({per_month[month - 1]:2}): {days}")
    lines.append(f"Exceptions to Monday-Friday ({len(exceptions)}):")
    lines.extend(exceptions or ["  none"])
    if list_days:
        lines.append("Working days (ISO):")
        lines.extend(f"  {d.isoformat()} {d:%a}" for d in working)
    return "\n".join(lines) + "\n"
