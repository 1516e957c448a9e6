"""services/cli_input.py: the dates and instants people type."""

from __future__ import annotations

import io
from datetime import date, datetime, timezone

import pytest

from services.cli_input import MOSCOW, UsageError, parse_day, parse_instant

NOW = datetime(2026, 3, 10, 15, 30, tzinfo=MOSCOW)


@pytest.mark.parametrize(("text", "expected"), [
    ("2025-05-12T12:00+03:00", datetime(2025, 5, 12, 9, 0, tzinfo=timezone.utc)),
    ("2025-05-12T09:00Z", datetime(2025, 5, 12, 9, 0, tzinfo=timezone.utc)),
    ("2025-05-12 12:00", datetime(2025, 5, 12, 12, 0, tzinfo=MOSCOW)),
    ("2025-05-12T12:00:30", datetime(2025, 5, 12, 12, 0, 30, tzinfo=MOSCOW)),
    ("2025-05-12", datetime(2025, 5, 13, 0, 0, tzinfo=MOSCOW)),
    ("12.05.2025", datetime(2025, 5, 13, 0, 0, tzinfo=MOSCOW)),
    ("today", datetime(2026, 3, 11, 0, 0, tzinfo=MOSCOW)),
    ("yesterday", datetime(2026, 3, 10, 0, 0, tzinfo=MOSCOW)),
    ("tomorrow", datetime(2026, 3, 12, 0, 0, tzinfo=MOSCOW)),
    ("now", NOW),
])
def test_instants_people_type(text: str, expected: datetime) -> None:
    assert parse_instant(text, now=NOW, notes=io.StringIO()) == expected


def test_moscow_time_is_assumed_and_said() -> None:
    notes = io.StringIO()
    parse_instant("2025-05-12 12:00", now=NOW, what="--at", notes=notes)
    assert "no offset: read as Moscow time, 2025-05-12T12:00:00+03:00" in notes.getvalue()
    notes = io.StringIO()
    parse_instant("2025-05-12T12:00+05:00", now=NOW, notes=notes)
    assert notes.getvalue() == ""


@pytest.mark.parametrize("text", ["next week", "2025-13-01", "32.01.2025", "12:00 yesterday", ""])
def test_anything_else_is_a_usage_error_naming_the_option(text: str) -> None:
    with pytest.raises(UsageError, match="--as-of"):
        parse_instant(text, now=NOW, what="--as-of", notes=io.StringIO())


def test_days() -> None:
    assert parse_day("31.12.2026") == date(2026, 12, 31)
    assert parse_day("yesterday", today=date(2026, 1, 1)) == date(2025, 12, 31)
    with pytest.raises(UsageError):
        parse_day("31/12/2026")
