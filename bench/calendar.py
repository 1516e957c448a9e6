"""Deadline computation speed: WorkingCalendar.add_working_time against pandas CustomBusinessHour.

Method: 100k random (start, working hours) pairs between 2024 and 2026, starts
on any minute of any day, spans of 1–45 working hours (the regulation's range,
up to five working days). Inputs whose next 30 days hold a working Saturday
are redrawn, because pandas cannot express one. pandas gets the same
holidays (every weekday the production calendar marks off) and its offset
objects are built once, outside the timed loop. Every result is compared; a
pandas result that rolled an exact 18:00 to the next opening counts as equal.

Prints ops/s for both and ``RATIO calendar/pandas = X``; exits 1 on any
disagreement. Targets: ratio >= 50 and > 200k ops/s.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a script, this file's folder comes first on sys.path and its name
# would shadow the standard library's `calendar`; put the project root there.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))

import argparse  # noqa: E402
import random  # noqa: E402
import time  # noqa: E402
from datetime import date, datetime, timedelta  # noqa: E402

import pandas as pd  # noqa: E402

from domain.calendar import WorkingCalendar  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=20250428)
    args = parser.parse_args()

    cal = WorkingCalendar.default()
    first, last = date(2023, 12, 1), date(2027, 3, 1)
    days = [first + timedelta(days=i) for i in range((last - first).days)]
    weekday_holidays = [d for d in days if d.weekday() < 5 and not cal.is_working_day(d)]
    working_weekends = {d for d in days if d.weekday() >= 5 and cal.is_working_day(d)}

    rng = random.Random(args.seed)
    base = datetime(2024, 1, 1, tzinfo=cal.tz)
    span = int((datetime(2026, 12, 1, tzinfo=cal.tz) - base).total_seconds() // 60)
    starts: list[datetime] = []
    hours: list[int] = []
    while len(starts) < args.n:
        start = base + timedelta(minutes=rng.randrange(span))
        if any(start.date() + timedelta(days=k) in working_weekends for k in range(31)):
            continue
        starts.append(start)
        hours.append(rng.randint(1, 45))
    deltas = [timedelta(hours=h) for h in hours]

    offsets = {
        h: pd.offsets.CustomBusinessHour(n=h, start="09:00", end="18:00", holidays=weekday_holidays)
        for h in set(hours)
    }
    pd_starts = [pd.Timestamp(s.replace(tzinfo=None)) for s in starts]
    pd_offsets = [offsets[h] for h in hours]

    add = cal.add_working_time
    t0 = time.perf_counter()
    ours = [add(s, d) for s, d in zip(starts, deltas, strict=True)]
    ours_s = time.perf_counter() - t0

    t0 = time.perf_counter()
    theirs = [s + o for s, o in zip(pd_starts, pd_offsets, strict=True)]
    theirs_s = time.perf_counter() - t0

    mismatches = 0
    rolled = 0
    for start, mine, other in zip(starts, ours, theirs, strict=True):
        other_dt = other.to_pydatetime().replace(tzinfo=cal.tz)
        if mine == other_dt:
            continue
        if mine.time() == cal.closes and other_dt == cal.next_working_moment(mine):
            rolled += 1
            continue
        mismatches += 1
        if mismatches <= 5:
            print(f"MISMATCH start={start.isoformat()} ours={mine.isoformat()} pandas={other_dt.isoformat()}")

    n = args.n
    ratio = (n / ours_s) / (n / theirs_s)
    print(f"inputs: {n}, spans 1-45 working hours, {len(weekday_holidays)} weekday holidays given to pandas")
    print(f"WorkingCalendar.add_working_time: {n / ours_s:,.0f} ops/s ({ours_s * 1e6 / n:.2f} us/op)")
    print(f"pandas CustomBusinessHour:        {n / theirs_s:,.0f} ops/s ({theirs_s * 1e6 / n:.2f} us/op)")
    print(f"agreement: {n - mismatches}/{n} ({rolled} pandas 18:00 roll-overs counted equal)")
    print(f"RATIO calendar/pandas = {ratio:.1f}")
    return 1 if mismatches else 0


if __name__ == "__main__":
    raise SystemExit(main())
