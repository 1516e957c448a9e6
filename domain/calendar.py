"""The working calendar: which instants count as SLA time (R4, R5).

Working time is 09:00–18:00 local time on the working days of the official
Russian production calendar: weekends and public holidays are off, days off
moved by government decree are off, and weekend days made working by decree
(e.g. Saturday 2024-04-27) are working. The `holidays` package supplies the
decrees it knows; configuration adds the ones it does not know yet.

Internally every working day is one interval ``[open, close)`` in integer
microseconds since the Unix epoch, with the working time accumulated before
it. "Working position" ``W(t)`` is the working time elapsed between the start
of the table and ``t``; every query is a bisection and some arithmetic on
those arrays, exact to the microsecond. The table covers whole years and
grows lazily in either direction when a query leaves it.
"""

from __future__ import annotations

import hashlib
import threading
from bisect import bisect_left, bisect_right
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from importlib.metadata import version as _dist_version
from zoneinfo import ZoneInfo

import holidays

_HOLIDAYS_VERSION = _dist_version("holidays")
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_ONE_US = timedelta(microseconds=1)
_ZERO = timedelta(0)
_MIN_YEAR = 1992
_MAX_YEAR = 9998
_SATURDAY, _SUNDAY = 5, 6


def _to_us(moment: datetime) -> int:
    """Exact microseconds since the epoch."""
    if moment.tzinfo is not None:
        try:
            return (moment - _EPOCH) // _ONE_US
        except TypeError:
            pass
    raise ValueError(f"naive datetime {moment.isoformat()}: an aware datetime is required")


@dataclass(frozen=True)
class CalendarOverrides:
    """Decrees the `holidays` package does not know yet, from configuration.

    ``shorten_pre_holiday`` applies the Labour Code's one-hour-shorter day
    before a public holiday. The regulation promises 09:00–18:00 on every
    working day, so it is off by default.
    """

    extra_days_off: frozenset[date] = field(default_factory=frozenset)
    extra_working_days: frozenset[date] = field(default_factory=frozenset)
    shorten_pre_holiday: bool = False
    pre_holiday_hours_cut: int = 1

    def __post_init__(self) -> None:
        both = self.extra_days_off & self.extra_working_days
        if both:
            raise ValueError(f"dates both off and working: {sorted(both)}")
        if not 0 <= self.pre_holiday_hours_cut < 24:
            raise ValueError("pre_holiday_hours_cut must be between 0 and 23 hours")

    def fingerprint(self) -> str:
        return "|".join(
            [
                ",".join(sorted(d.isoformat() for d in self.extra_days_off)),
                ",".join(sorted(d.isoformat() for d in self.extra_working_days)),
                f"short={self.shorten_pre_holiday}:{self.pre_holiday_hours_cut}",
            ]
        )


@dataclass(frozen=True)
class _Table:
    """Working intervals of years ``first_year..last_year`` (local dates)."""

    first_year: int
    last_year: int
    lo_us: int
    hi_us: int
    opens: list[int]
    closes: list[int]
    cum_end: list[int]
    ordinals: list[int]
    close_dts: list[datetime]
    steady: list[bool]


class WorkingCalendar:
    """Working days and hours in one time zone; all methods take aware datetimes."""

    def __init__(
        self,
        *,
        tz: str = "Europe/Moscow",
        opens: time = time(9),
        closes: time = time(18),
        overrides: CalendarOverrides | None = None,
    ) -> None:
        if opens.tzinfo is not None or closes.tzinfo is not None:
            raise ValueError("opening hours are local clock times without a time zone")
        if opens >= closes:
            raise ValueError(f"opens ({opens}) must be before closes ({closes})")
        self._zone = ZoneInfo(tz)
        self._opens = opens
        self._closes = closes
        self._overrides = overrides or CalendarOverrides()
        self._lock = threading.Lock()
        self._holiday_cache: dict[int, dict[date, str]] = {}
        self._weekend_workdays: set[date] = set()
        digest = hashlib.sha256(
            f"{tz}|{opens.isoformat()}|{closes.isoformat()}|{self._overrides.fingerprint()}".encode()
        ).hexdigest()[:12]
        self._version = f"RU:holidays-{_HOLIDAYS_VERSION}:{digest}"
        self._table = self._build(2015, 2035)

    @classmethod
    def default(cls) -> WorkingCalendar:
        """Europe/Moscow, 09:00–18:00, the Russian production calendar."""
        return cls()

    @property
    def version(self) -> str:
        """Identifies the holiday data and configuration; recorded with every promise."""
        return self._version

    @property
    def tz(self) -> ZoneInfo:
        return self._zone

    @property
    def opens(self) -> time:
        return self._opens

    @property
    def closes(self) -> time:
        return self._closes

    @property
    def overrides(self) -> CalendarOverrides:
        return self._overrides

    # --- days -------------------------------------------------------------

    def _holidays(self, year: int) -> dict[date, str]:
        cached = self._holiday_cache.get(year)
        if cached is None:
            data = holidays.country_holidays("RU", years=year, language="en_US")
            cached = dict(data.items())
            self._weekend_workdays.update(data.weekend_workdays)
            self._holiday_cache[year] = cached
        return cached

    def is_public_holiday(self, day: date) -> bool:
        """A holiday or a day off moved by decree (not a plain weekend)."""
        return day in self._holidays(day.year) and day not in self._overrides.extra_working_days

    def holiday_name(self, day: date) -> str | None:
        return self._holidays(day.year).get(day)

    def is_working_day(self, day: date) -> bool:
        if isinstance(day, datetime):
            raise ValueError("is_working_day takes a date; use is_working_time for an instant")
        if day in self._overrides.extra_working_days:
            return True
        if day in self._overrides.extra_days_off:
            return False
        if day in self._holidays(day.year):
            return False
        if day.weekday() in (_SATURDAY, _SUNDAY):
            return day in self._weekend_workdays
        return True

    def _is_pre_holiday(self, day: date) -> bool:
        """A working day followed by a public holiday (R4 option, Labour Code art. 95).

        A working weekday right before a holiday or a decreed day off is
        shortened; so is a working Saturday made so by decree when the days
        off after it lead into a holiday. A Friday before an ordinary weekend
        that ends in a Monday holiday is not.
        """
        nxt = day + timedelta(days=1)
        if self.is_working_day(nxt):
            return False
        if self.is_public_holiday(nxt):
            return True
        if day.weekday() not in (_SATURDAY, _SUNDAY):
            return False
        while not self.is_working_day(nxt):
            if self.is_public_holiday(nxt):
                return True
            nxt += timedelta(days=1)
        return False

    def _hours(self, day: date) -> tuple[datetime, datetime]:
        start = datetime.combine(day, self._opens, tzinfo=self._zone)
        end = datetime.combine(day, self._closes, tzinfo=self._zone)
        if self._overrides.shorten_pre_holiday and self._is_pre_holiday(day):
            end = max(start, end - timedelta(hours=self._overrides.pre_holiday_hours_cut))
        return start, end

    # --- the table ----------------------------------------------------------

    def _build(self, first_year: int, last_year: int) -> _Table:
        opens: list[int] = []
        closes: list[int] = []
        cum_end: list[int] = []
        ordinals: list[int] = []
        close_dts: list[datetime] = []
        steady: list[bool] = []
        total = 0
        for year in range(first_year - 1, last_year + 2):
            self._holidays(year)
        day = date(first_year, 1, 1)
        end = date(last_year, 12, 31)
        one = timedelta(days=1)
        while day <= end:
            if self.is_working_day(day):
                start, stop = self._hours(day)
                o, c = _to_us(start), _to_us(stop)
                if c > o:
                    total += c - o
                    opens.append(o)
                    closes.append(c)
                    cum_end.append(total)
                    ordinals.append(day.toordinal())
                    close_dts.append(stop)
                    steady.append(start.utcoffset() == stop.utcoffset())
            day += one
        lo = _to_us(datetime.combine(date(first_year, 1, 1), time(0), tzinfo=self._zone))
        hi = _to_us(datetime.combine(date(last_year + 1, 1, 1), time(0), tzinfo=self._zone))
        return _Table(
            first_year, last_year, lo, hi, opens, closes, cum_end, ordinals, close_dts, steady
        )

    def _covering(self, *moments_us: int) -> _Table:
        table = self._table
        if all(table.lo_us <= us < table.hi_us for us in moments_us):
            return table
        years = [_local_year(us, self._zone) for us in moments_us]
        if min(years) < _MIN_YEAR or max(years) > _MAX_YEAR:
            raise ValueError(
                f"the working calendar covers years {_MIN_YEAR}..{_MAX_YEAR}, not {min(years)}..{max(years)}"
            )
        with self._lock:
            table = self._table
            first = max(_MIN_YEAR, min(table.first_year, min(years) - 1))
            last = min(_MAX_YEAR, max(table.last_year, max(years) + 1))
            if (first, last) != (table.first_year, table.last_year):
                table = self._build(first, last)
                self._table = table
            return table

    def _grown(self, table: _Table, position: int) -> _Table:
        """``table`` extended forward until its working time reaches ``position``.

        Positions count from the table's first year, so growth is forward
        only and the caller keeps using the table it was given, extended.
        """
        last = table.last_year
        while not table.cum_end or table.cum_end[-1] < position:
            if last >= _MAX_YEAR:
                raise ValueError(f"result beyond the year {_MAX_YEAR} the working calendar supports")
            last = min(_MAX_YEAR, last + max(5, (last - table.first_year) // 2))
            table = self._build(table.first_year, last)
        with self._lock:
            current = self._table
            if table.first_year <= current.first_year and table.last_year > current.last_year:
                self._table = table
        return table

    @staticmethod
    def _position(table: _Table, us: int) -> int:
        i = bisect_right(table.opens, us) - 1
        if i < 0:
            return 0
        elapsed = us - table.opens[i]
        length = table.closes[i] - table.opens[i]
        return table.cum_end[i] - length + (elapsed if elapsed < length else length)

    def _moment(self, us: int) -> datetime:
        seconds, micro = divmod(us, 1_000_000)
        moment = datetime.fromtimestamp(seconds, self._zone)
        return moment.replace(microsecond=micro) if micro else moment

    # --- instants -----------------------------------------------------------

    def is_working_time(self, moment: datetime) -> bool:
        us = _to_us(moment)
        table = self._covering(us)
        i = bisect_right(table.opens, us) - 1
        return i >= 0 and us < table.closes[i]

    def next_working_moment(self, moment: datetime) -> datetime:
        """``moment`` itself if it is working time, else the next opening."""
        us = _to_us(moment)
        table = self._covering(us)
        i = bisect_right(table.opens, us) - 1
        if i >= 0 and us < table.closes[i]:
            return moment.astimezone(self._zone)
        if i + 1 >= len(table.opens):
            table = self._grown(table, (table.cum_end[-1] if table.cum_end else 0) + 1)
        return self._moment(table.opens[i + 1])

    def working_time_between(self, start: datetime, end: datetime) -> timedelta:
        """Working time from ``start`` to ``end``; negative when ``end`` is earlier."""
        a, b = _to_us(start), _to_us(end)
        table = self._covering(a, b)
        return timedelta(microseconds=self._position(table, b) - self._position(table, a))

    def add_working_time(self, start: datetime, delta: timedelta) -> datetime:
        """The earliest instant ``t >= start`` with ``working_time_between(start, t) == delta``."""
        try:
            us = (start - _EPOCH) // _ONE_US
        except TypeError:
            us = _to_us(start)
        if delta < _ZERO:
            raise ValueError(f"negative working time {delta}: only forward deadlines are defined")
        if not delta:
            return start.astimezone(self._zone)
        table = self._table
        if not table.lo_us <= us < table.hi_us:
            table = self._covering(us)
        opens, closes, cum_end = table.opens, table.closes, table.cum_end
        i = bisect_right(opens, us) - 1
        if i < 0:
            position = 0
        else:
            length = closes[i] - opens[i]
            elapsed = us - opens[i]
            position = cum_end[i] - length + (elapsed if elapsed < length else length)
        target = position + delta // _ONE_US
        if cum_end[-1] < target:
            table = self._grown(table, target)
            cum_end = table.cum_end
        k = bisect_left(cum_end, target)
        before_close = cum_end[k] - target
        if table.steady[k]:
            # No UTC-offset change inside this working day: wall-clock arithmetic is exact.
            if before_close:
                return table.close_dts[k] - timedelta(0, 0, before_close)
            return table.close_dts[k]
        return self._moment(table.closes[k] - before_close)

    def add_working_days(self, start: datetime, days: int) -> datetime:
        """The same local clock time ``days`` working days later.

        A start outside working hours counts from the next working moment, so
        Friday 19:00 + 1 working day is Tuesday 09:00 (via Monday 09:00).
        """
        if days < 0:
            raise ValueError(f"negative number of working days {days}")
        begin = self.next_working_moment(start)
        us = _to_us(begin)
        table = self._covering(us)
        i = bisect_right(table.opens, us) - 1
        while i + days >= len(table.opens):
            table = self._grown(table, table.cum_end[-1] + 1)
        j = i + days
        day = date.fromordinal(table.ordinals[j])
        result = datetime.combine(day, begin.time(), tzinfo=self._zone)
        close = self._moment(table.closes[j])
        return min(result, close)

    def working_days(self, first: date, last: date) -> list[date]:
        """Working days from ``first`` to ``last`` inclusive."""
        out: list[date] = []
        day = first
        while day <= last:
            if self.is_working_day(day):
                out.append(day)
            day += timedelta(days=1)
        return out

    def __repr__(self) -> str:
        return (
            f"WorkingCalendar(tz={self._zone.key!r}, opens={self._opens}, "
            f"closes={self._closes}, version={self._version!r})"
        )


def _local_year(us: int, zone: ZoneInfo) -> int:
    return (_EPOCH + timedelta(microseconds=us)).astimezone(zone).year
