"""Table tests of the working calendar around the Russian holidays of 2024–2026."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone

import pytest

from domain.calendar import CalendarOverrides, WorkingCalendar
from tests.helpers import msk

CAL = WorkingCalendar.default()
H = timedelta(hours=1)


@pytest.mark.parametrize(
    "day, working",
    [
        # New Year holidays
        ("2024-01-08", False), ("2024-01-09", True),
        ("2025-01-08", False), ("2025-01-09", True),
        ("2026-01-08", False), ("2026-01-09", False), ("2026-01-12", True),
        # working Saturdays made so by decree
        ("2024-04-27", True), ("2024-11-02", True), ("2024-12-28", True), ("2025-11-01", True),
        # an ordinary Saturday and Sunday
        ("2024-04-20", False), ("2025-11-02", False),
        # days off moved by decree
        ("2024-04-29", False), ("2024-04-30", False), ("2024-05-10", False),
        ("2024-12-30", False), ("2024-12-31", False),
        ("2025-05-02", False), ("2025-05-08", False), ("2025-06-13", False),
        ("2025-11-03", False), ("2025-12-31", False), ("2026-12-31", False),
        # public holidays
        ("2024-02-23", False), ("2025-03-08", False), ("2025-06-12", False), ("2026-11-04", False),
        ("2026-03-09", False), ("2026-05-11", False),
        # ordinary weekdays next to them
        ("2024-02-22", True), ("2025-05-07", True), ("2025-12-30", True), ("2026-05-12", True),
    ],
)
def test_working_days_follow_the_production_calendar(day: str, working: bool) -> None:
    assert CAL.is_working_day(date.fromisoformat(day)) is working


def test_working_hours_are_nine_to_six_half_open() -> None:
    assert not CAL.is_working_time(msk("2025-04-28 08:59:59"))
    assert CAL.is_working_time(msk("2025-04-28 09:00"))
    assert CAL.is_working_time(msk("2025-04-28 17:59:59.999999"))
    assert not CAL.is_working_time(msk("2025-04-28 18:00"))
    assert not CAL.is_working_time(msk("2025-05-01 12:00"))
    assert CAL.is_working_time(msk("2024-04-27 12:00"))


def test_nine_working_hours_from_opening_end_at_closing_the_same_day() -> None:
    assert CAL.add_working_time(msk("2025-04-28 09:00"), 9 * H) == msk("2025-04-28 18:00")


def test_friday_afternoon_deadline_moves_to_the_next_working_day() -> None:
    assert CAL.add_working_time(msk("2025-04-25 17:00"), 2 * H) == msk("2025-04-28 10:00")


def test_deadline_skips_new_year_holidays() -> None:
    assert CAL.add_working_time(msk("2025-12-30 17:00"), 4 * H) == msk("2026-01-12 12:00")
    assert CAL.add_working_time(msk("2024-12-28 16:00"), 4 * H) == msk("2025-01-09 11:00")


def test_working_saturday_counts() -> None:
    assert CAL.add_working_time(msk("2024-04-26 17:00"), 2 * H) == msk("2024-04-27 10:00")
    # after the working Saturday come Sunday and two moved days off, then 1 May
    assert CAL.add_working_time(msk("2024-04-27 17:00"), 2 * H) == msk("2024-05-02 10:00")


def test_may_holidays_2025_are_skipped() -> None:
    assert CAL.add_working_time(msk("2025-04-30 14:00"), 24 * H) == msk("2025-05-07 11:00")


def test_start_outside_hours_counts_from_the_next_opening() -> None:
    assert CAL.add_working_time(msk("2025-04-28 07:30"), H) == msk("2025-04-28 10:00")
    assert CAL.add_working_time(msk("2025-04-28 18:00"), H) == msk("2025-04-29 10:00")
    assert CAL.add_working_time(msk("2025-05-03 12:00"), H) == msk("2025-05-05 10:00")


def test_zero_working_time_is_the_start_itself() -> None:
    assert CAL.add_working_time(msk("2025-05-03 12:00"), timedelta(0)) == msk("2025-05-03 12:00")


def test_negative_working_time_is_refused() -> None:
    with pytest.raises(ValueError, match="negative"):
        CAL.add_working_time(msk("2025-04-28 10:00"), -H)


def test_working_time_between_is_signed_and_skips_holidays() -> None:
    start, end = msk("2025-04-30 17:00"), msk("2025-05-05 10:00")
    assert CAL.working_time_between(start, end) == 2 * H
    assert CAL.working_time_between(end, start) == -2 * H
    assert CAL.working_time_between(msk("2025-05-03 10:00"), msk("2025-05-04 10:00")) == timedelta(0)


def test_microseconds_are_exact() -> None:
    start = msk("2025-04-28 09:00:00.000001")
    assert CAL.working_time_between(start, msk("2025-04-28 18:00")) == 9 * H - timedelta(microseconds=1)
    assert CAL.add_working_time(start, timedelta(microseconds=7)) == msk("2025-04-28 09:00:00.000008")


def test_other_time_zones_are_converted_and_results_are_in_moscow() -> None:
    utc_start = datetime(2025, 4, 28, 6, 0, tzinfo=timezone.utc)  # 09:00 MSK
    result = CAL.add_working_time(utc_start, 9 * H)
    assert result == msk("2025-04-28 18:00")
    assert result.utcoffset() == timedelta(hours=3)


def test_naive_datetimes_are_refused_with_a_clear_message() -> None:
    with pytest.raises(ValueError, match="naive"):
        CAL.add_working_time(datetime(2025, 4, 28, 9), H)
    with pytest.raises(ValueError, match="naive"):
        CAL.working_time_between(msk("2025-04-28 09:00"), datetime(2025, 4, 28, 10))
    with pytest.raises(ValueError, match="naive"):
        CAL.is_working_time(datetime(2025, 4, 28, 10))


@pytest.mark.parametrize(
    "start, days, expected",
    [
        ("2025-04-28 10:00", 5, "2025-05-07 10:00"),   # 1–4 May off
        ("2025-04-25 19:00", 1, "2025-04-29 09:00"),   # Friday evening: counts from Monday 09:00
        ("2024-04-26 11:00", 1, "2024-04-27 11:00"),   # the working Saturday
        ("2025-12-29 15:00", 2, "2026-01-12 15:00"),
        ("2025-04-28 10:00", 0, "2025-04-28 10:00"),
        ("2025-05-01 10:00", 0, "2025-05-05 09:00"),
    ],
)
def test_add_working_days_keeps_the_clock_time(start: str, days: int, expected: str) -> None:
    assert CAL.add_working_days(msk(start), days) == msk(expected)


def test_next_working_moment() -> None:
    assert CAL.next_working_moment(msk("2025-04-28 12:00")) == msk("2025-04-28 12:00")
    assert CAL.next_working_moment(msk("2025-12-31 12:00")) == msk("2026-01-12 09:00")


def test_long_horizons_grow_the_table_in_both_directions() -> None:
    cal = WorkingCalendar.default()
    far = cal.add_working_time(msk("2025-01-09 09:00"), timedelta(hours=9 * 247 * 30))
    assert far.year >= 2054
    assert cal.working_time_between(msk("2025-01-09 09:00"), far) == timedelta(hours=9 * 247 * 30)
    assert cal.add_working_time(msk("2005-01-11 09:00"), H) == msk("2005-01-11 10:00")


def test_overrides_add_days_off_and_working_days() -> None:
    cal = WorkingCalendar(overrides=CalendarOverrides(
        extra_days_off=frozenset({date(2027, 3, 5)}),
        extra_working_days=frozenset({date(2027, 3, 6)}),
    ))
    assert not cal.is_working_day(date(2027, 3, 5))
    assert cal.is_working_day(date(2027, 3, 6))
    assert cal.add_working_time(msk("2027-03-04 17:00"), 2 * H) == msk("2027-03-06 10:00")
    assert cal.version != CAL.version


def test_overrides_refuse_a_day_both_off_and_working() -> None:
    with pytest.raises(ValueError, match="both"):
        CalendarOverrides(extra_days_off=frozenset({date(2027, 1, 11)}),
                          extra_working_days=frozenset({date(2027, 1, 11)}))


def test_shortened_pre_holiday_days_are_optional() -> None:
    short = WorkingCalendar(overrides=CalendarOverrides(shorten_pre_holiday=True))
    # 2025-05-07 precedes the moved day off of 8 May; 2024-11-02 is a working Saturday before 4 Nov
    assert not short.is_working_time(msk("2025-05-07 17:30"))
    assert short.is_working_time(msk("2025-05-07 16:59"))
    assert not short.is_working_time(msk("2024-11-02 17:30"))
    # a Friday before an ordinary weekend that ends in a Monday holiday is a full day
    assert short.is_working_time(msk("2023-06-09 17:30"))
    assert not short.is_working_time(msk("2026-05-08 17:30"))  # 9 May falls on the Saturday
    assert CAL.is_working_time(msk("2025-05-07 17:30"))


def test_custom_hours_and_time_zone() -> None:
    cal = WorkingCalendar(tz="Asia/Yekaterinburg", opens=time(8), closes=time(17))
    start = datetime(2025, 4, 28, 16, 0, tzinfo=cal.tz)
    assert cal.add_working_time(start, 2 * H) == datetime(2025, 4, 29, 9, 0, tzinfo=cal.tz)
    with pytest.raises(ValueError):
        WorkingCalendar(opens=time(18), closes=time(9))


def test_version_names_the_holiday_data_and_is_stable() -> None:
    assert CAL.version.startswith("RU:holidays-")
    assert WorkingCalendar.default().version == CAL.version
