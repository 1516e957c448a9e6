"""What people type on the command line, read once: instants, dates, and user errors.

A ``UsageError`` is a mistake of the person at the terminal (a date that is not
one, a file that is not there, a ticket that does not exist): ``main`` prints it
as one line and exits 2, never a traceback.
"""

from __future__ import annotations

import re
import sys
from datetime import date, datetime, time, timedelta
from typing import TextIO
from zoneinfo import ZoneInfo

MOSCOW = ZoneInfo("Europe/Moscow")
INSTANT_HELP = ("ISO date or instant, e.g. 2025-05-12, 2025-05-12T12:00, '2025-05-12 12:00+03:00', "
                "12.05.2025, or now/today/yesterday/tomorrow; without an offset Moscow time is "
                "assumed; a date alone means the end of that day (24:00 MSK)")


class UsageError(Exception):
    """A user's mistake, shown as ``pass24-desk: <message>`` with exit status 2."""


_RUSSIAN_DATE = re.compile(r"^(\d{1,2})\.(\d{1,2})\.(\d{4})$")


def parse_day(text: str, *, today: date | None = None, what: str = "date") -> date:
    """``2025-05-12``, ``12.05.2025``, ``today``, ``yesterday``, ``tomorrow``."""
    word = text.strip().lower()
    base = today or datetime.now(MOSCOW).date()
    relative = {"today": 0, "yesterday": -1, "tomorrow": 1}
    if word in relative:
        return base + timedelta(days=relative[word])
    match = _RUSSIAN_DATE.match(word)
    try:
        if match:
            return date(int(match[3]), int(match[2]), int(match[1]))
        return date.fromisoformat(word)
    except ValueError:
        raise UsageError(f"{what}: {text!r} is not a date (e.g. 2025-05-12 or 12.05.2025)") from None


def parse_instant(text: str, *, now: datetime | None = None, what: str = "instant",
                  notes: TextIO | None = None) -> datetime:
    """An aware instant from what a person types (see ``INSTANT_HELP``).

    Without an offset the time is read as Moscow time, and ``notes`` (default
    stderr) is told so, so nobody is surprised by a three-hour shift.
    """
    word = text.strip()
    moment_now = now or datetime.now(MOSCOW)
    if word.lower() == "now":
        return moment_now
    has_time = bool(re.search(r"\d[T ]\d", word)) or ":" in word
    if not has_time:
        day = parse_day(word, today=moment_now.astimezone(MOSCOW).date(), what=what)
        moment = datetime.combine(day + timedelta(days=1), time(0), tzinfo=MOSCOW)
        _note(notes, f"{what} {text!r} read as the end of {day.isoformat()}, "
                     f"{moment.isoformat()} (Moscow time)")
        return moment
    candidate = word.replace(" ", "T", 1) if re.match(r"^\d{4}-\d\d-\d\d \d", word) else word
    if candidate.endswith(("Z", "z")):
        candidate = candidate[:-1] + "+00:00"
    try:
        moment = datetime.fromisoformat(candidate)
    except ValueError:
        raise UsageError(f"{what}: {text!r} is not a date or an instant; {INSTANT_HELP}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=MOSCOW)
        _note(notes, f"{what} {text!r} has no offset: read as Moscow time, {moment.isoformat()}")
    return moment


def _note(stream: TextIO | None, text: str) -> None:
    print(f"pass24-desk: {text}", file=stream or sys.stderr)
