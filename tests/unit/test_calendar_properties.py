"""Property tests of the working calendar against a brute-force minute-step oracle.

The oracle knows nothing of the calendar's tables: it walks minute by minute
and asks only ``is_working_day`` and the opening hours, so a mistake in the
cumulative arrays, the bisection or the time-zone handling shows up as a
disagreement.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from domain.calendar import WorkingCalendar
from tests.helpers import MSK

CAL = WorkingCalendar.default()
MINUTE = timedelta(minutes=1)
BASE = datetime(2023, 12, 20, tzinfo=MSK)
SPAN_MINUTES = 3 * 366 * 24 * 60  # late 2023 .. 2026, across three New Year holidays


def oracle_is_working(moment: datetime) -> bool:
    local = moment.astimezone(MSK)
    return CAL.is_working_day(local.date()) and CAL.opens <= local.time() < CAL.closes


def oracle_between(start: datetime, end: datetime) -> timedelta:
    """Working minutes in [start, end), for minute-aligned instants."""
    sign = 1
    if end < start:
        start, end, sign = end, start, -1
    total = 0
    t = start
    while t < end:
        day_end = datetime.combine(t.astimezone(MSK).date() + timedelta(days=1), datetime.min.time(), MSK)
        if not CAL.is_working_day(t.astimezone(MSK).date()):
            t = min(day_end, end)
            continue
        if oracle_is_working(t):
            total += 1
        t += MINUTE
    return sign * total * MINUTE


def oracle_add(start: datetime, minutes: int) -> datetime:
    t, left = start, minutes
    while left:
        local = t.astimezone(MSK)
        if not CAL.is_working_day(local.date()):
            t = datetime.combine(local.date() + timedelta(days=1), datetime.min.time(), MSK)
            continue
        if oracle_is_working(t):
            left -= 1
        t += MINUTE
    return t


moments = st.integers(min_value=0, max_value=SPAN_MINUTES).map(lambda m: BASE + m * MINUTE)
short_spans = st.integers(min_value=0, max_value=4 * 540)  # up to four working days, in minutes


@settings(max_examples=150, deadline=None)
@given(moments)
def test_is_working_time_agrees_with_the_oracle(moment: datetime) -> None:
    assert CAL.is_working_time(moment) == oracle_is_working(moment)


@settings(max_examples=120, deadline=None)
@given(moments, short_spans)
def test_add_working_time_agrees_with_the_oracle(start: datetime, minutes: int) -> None:
    assert CAL.add_working_time(start, minutes * MINUTE) == oracle_add(start, minutes)


@settings(max_examples=80, deadline=None)
@given(moments, st.integers(min_value=-6 * 24 * 60, max_value=6 * 24 * 60))
def test_working_time_between_agrees_with_the_oracle(start: datetime, offset: int) -> None:
    end = start + offset * MINUTE
    assert CAL.working_time_between(start, end) == oracle_between(start, end)


@settings(max_examples=300, deadline=None)
@given(moments, st.integers(min_value=1, max_value=200 * 540 * 60 * 10**6))
def test_between_inverts_add(start: datetime, micros: int) -> None:
    delta = timedelta(microseconds=micros)
    end = CAL.add_working_time(start, delta)
    assert end >= start
    assert CAL.working_time_between(start, end) == delta
    # the earliest such instant: a microsecond earlier is not enough
    assert CAL.working_time_between(start, end - timedelta(microseconds=1)) < delta


@settings(max_examples=300, deadline=None)
@given(moments, moments, moments)
def test_between_is_additive_and_antisymmetric(a: datetime, b: datetime, c: datetime) -> None:
    ab, bc = CAL.working_time_between(a, b), CAL.working_time_between(b, c)
    assert ab + bc == CAL.working_time_between(a, c)
    assert CAL.working_time_between(b, a) == -ab


@settings(max_examples=300, deadline=None)
@given(moments, short_spans, short_spans)
def test_add_is_monotonic_and_composes(start: datetime, x: int, y: int) -> None:
    dx, dy = x * MINUTE, y * MINUTE
    small, large = sorted((dx, dy))
    assert CAL.add_working_time(start, small) <= CAL.add_working_time(start, large)
    if x:
        assert CAL.add_working_time(CAL.add_working_time(start, dx), dy) == CAL.add_working_time(start, dx + dy)


@settings(max_examples=200, deadline=None)
@given(moments, st.integers(min_value=0, max_value=30))
def test_add_working_days_lands_on_a_working_day_at_the_same_clock_time(start: datetime, days: int) -> None:
    begin = CAL.next_working_moment(start)
    result = CAL.add_working_days(start, days)
    assert CAL.is_working_day(result.date())
    assert result.time() == begin.time()
    working_days = CAL.working_days(begin.date(), result.date())
    assert len(working_days) == days + 1
