"""SLA statistics: per level and product over a period of receipt, counts
received / resolved / breached / met, and median and 90th-percentile working
time to first reply and to resolution.

Working times are measured when the fact happens, from the schedule the event
recorded: first reply = the reaction clock's used time at the first reply
(pauses excluded); resolution = the resolution clock's used time at the
(latest) resolution. A ticket counts as breached if either clock ever went
past due: stopped late, alert recorded, or still running past due at query
time. Met = resolved and never breached.

Two tables, both kept as events are applied, so a query costs the same at 10k
and at 1M events:

* ``rm_sla_stats``: one row of facts per ticket (the fold's state, and what a
  query needs at the edges of a period);
* ``rm_sla_buckets``: per week of receipt (Monday 00:00 Moscow time), level and
  product, and once more for all time (``week = -1``): the counts and a
  histogram of each working time in logarithmic bins (``K`` bins per factor e).

A query adds up the buckets of the whole weeks in its period and the fact rows
of the partial weeks at its ends; a percentile is found in the histogram's bin,
then read exactly from the fact rows of that one bin (an index on ``(level,
product, bin, seconds)``), so the answers are the same numbers a scan of every
ticket gives (``scan_rows``, kept as the tests' oracle). Breaches that exist only
because a running clock is past due *now* are counted at query time from the open
tickets (``late_ts``: from when one of its clocks counts as running late).
"""

from __future__ import annotations

import math
import statistics
import sys
from array import array
from bisect import bisect_left
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from itertools import accumulate
from typing import Any

from domain.sla import ClockName, ClockSchedule, WorkingTime
from domain.values import Level
from projections.store import Cursor, ReadStore
from projections.tickets import (
    JsonColumns,
    Row,
    RowCache,
    TicketEvent,
    fold_rows,
    secondary_indexes,
    upsert,
)

TABLE = "rm_sla_stats"
BUCKETS = "rm_sla_buckets"
COLUMNS = (
    "arrival", "ticket_uuid", "ticket_id", "version", "level", "product", "received_ts",
    "is_open", "resolved_at", "first_reply_seconds", "first_reply_bin", "resolution_seconds",
    "resolution_bin", "breached", "late_ts",
)
BUCKET_COLUMNS = ("level", "product", "received", "resolved", "breached", "met",
                  "first_reply", "resolution")
DAYS = "rm_sla_days"
PERIOD = {BUCKETS: "week", DAYS: "day"}
"""Each bucket table and the column numbering its periods."""
ALL_TIME = -1
DAY = 86400
WEEK = 7 * DAY
# Days start at 00:00 in Moscow (UTC+3, no daylight saving since 2014), weeks on Monday:
# the epoch was a Thursday, 00:00 UTC, so the Monday before began 3 days and 3 hours earlier.
_DAY_SHIFT = -3 * 3600
_WEEK_SHIFT = -(3 * DAY + 3 * 3600)
K = 64  # bins per factor e: each bin spans 1.6 %
_MIN_LOG = -7.0  # values under e^-7 s (about 1 ms) share bin 1; exactly 0 is bin 0
METRICS = ("first_reply", "resolution")

_FIRST_REPLY = frozenset({"Responded", "InformationRequested"})
# Events after which a clock can newly be stopped late: a stop, or due instants recomputed.
_BOTH = ("reaction", "resolution")
_STOPS_OR_MOVES = {"Responded": ("reaction",), "InformationRequested": ("reaction",),
                   "Resolved": _BOTH, "Reclassified": _BOTH}
_LEVEL_ORDER = {level.value: n for n, level in enumerate(Level)}
UNCLASSIFIED = ""


BucketKey = tuple[str, int, str, str]
"""Bucket table, period number (``ALL_TIME`` for the all-time row), level, product."""


class Periods:
    """Weeks or days, numbered from the epoch's, each starting at a Moscow midnight."""

    def __init__(self, length: int, shift: int) -> None:
        self.length, self.shift = length, shift

    def of(self, ts: float) -> int:
        return int((ts - self.shift) // self.length)

    def start(self, number: int) -> float:
        return float(number * self.length + self.shift)

    def whole(self, low: float | None, high: float | None) -> tuple[int, int]:
        """The first and last period lying wholly inside ``[low, high)``; an open end takes
        every period on that side (no ticket is received after now)."""
        first = 0 if low is None else math.ceil((low - self.shift) / self.length)
        last = 2**40 if high is None else math.floor((high - self.shift) / self.length) - 1
        return first, last

    def edges(self, low: float | None,
              high: float | None) -> list[tuple[float | None, float | None]]:
        """The parts of ``[low, high)`` outside its whole periods."""
        first, last = self.whole(low, high)
        if first > last:
            return [(low, high)]
        edges: list[tuple[float | None, float | None]] = []
        if low is not None and low < self.start(first):
            edges.append((low, self.start(first)))
        if high is not None and self.start(last + 1) < high:
            edges.append((self.start(last + 1), high))
        return edges


WEEKS = Periods(WEEK, _WEEK_SHIFT)
CALENDAR_DAYS = Periods(DAY, _DAY_SHIFT)


def bin_of(seconds: float | None) -> int | None:
    if seconds is None:
        return None
    if seconds <= 0:
        return 0
    return max(1, 1 + math.floor((math.log(seconds) - _MIN_LOG) * K))


def _late(sla: dict[str, Any], clocks: tuple[str, ...]) -> bool:
    """One of ``clocks`` stopped after its due instant."""
    for clock in clocks:
        stopped = sla[clock].get("stopped_at")
        if stopped is not None and datetime.fromisoformat(stopped) > datetime.fromisoformat(
            sla[clock]["due_at"]
        ):
            return True
    return False


def late_ts(sla: dict[str, Any]) -> float | None:
    """From when a clock of this schedule counts as running past due (None: never).

    A running clock is late once the moment passes its due instant; a paused
    one is late for good if it was paused after its due instant (0.0), and
    never otherwise; a stopped one is judged when it stopped (``_late``).
    """
    found: float | None = None
    for clock in _BOTH:
        data = sla[clock]
        if data.get("stopped_at") is not None:
            continue
        due = datetime.fromisoformat(data["due_at"])
        if data.get("paused_since"):
            moment = 0.0 if datetime.fromisoformat(data["paused_since"]) > due else None
        else:
            moment = due.timestamp()
        if moment is not None and (found is None or moment < found):
            found = moment
    return found


def running_late(sla: dict[str, Any], now: datetime) -> bool:
    """Today's definition, on the schedule itself (what ``late_ts`` encodes)."""
    for clock in _BOTH:
        data = sla[clock]
        if data.get("stopped_at") is not None:
            continue
        end = datetime.fromisoformat(data["paused_since"]) if data.get("paused_since") else now
        if end > datetime.fromisoformat(data["due_at"]):
            return True
    return False


class SlaStatsProjection:
    name = "sla_stats"
    # 3: histograms stored packed (``pack_hist``); 4: day buckets, weeks from Monday
    # 00:00 Moscow (they began on Sunday 06:00), value indexes cover received_ts.
    version = 4
    tables: tuple[str, ...] = (TABLE, BUCKETS, DAYS)
    schema: tuple[str, ...] = (
        f"""CREATE TABLE IF NOT EXISTS {TABLE} (
            arrival INTEGER PRIMARY KEY,
            ticket_uuid TEXT NOT NULL UNIQUE,
            ticket_id TEXT NOT NULL,
            version INTEGER NOT NULL,
            level TEXT NOT NULL,
            product TEXT NOT NULL,
            received_ts DOUBLE PRECISION NOT NULL,
            is_open INTEGER NOT NULL,
            resolved_at TEXT,
            first_reply_seconds DOUBLE PRECISION,
            first_reply_bin INTEGER,
            resolution_seconds DOUBLE PRECISION,
            resolution_bin INTEGER,
            breached INTEGER NOT NULL,
            late_ts DOUBLE PRECISION)""",
        # Covering the partial weeks' counts and histograms (``SlaStatsView._add_edge``).
        f"CREATE INDEX IF NOT EXISTS {TABLE}_received ON {TABLE} (received_ts, level, product,"
        " breached, first_reply_bin, resolution_bin, resolved_at)",
        # Counted per group inside the index (covering: no row is read, none goes to Python).
        f"CREATE INDEX IF NOT EXISTS {TABLE}_open_late ON {TABLE} "
        "(is_open, breached, level, product, late_ts, received_ts)",
        # The exact value at a rank (``_Ranks``): in value order within a bin, the window's
        # bounds checked inside the index.
        f"CREATE INDEX IF NOT EXISTS {TABLE}_first_reply ON {TABLE} "
        "(level, product, first_reply_bin, first_reply_seconds, received_ts)",
        f"CREATE INDEX IF NOT EXISTS {TABLE}_resolution ON {TABLE} "
        "(level, product, resolution_bin, resolution_seconds, received_ts)",
        *(f"""CREATE TABLE IF NOT EXISTS {table} (
            {period} INTEGER NOT NULL,
            level TEXT NOT NULL,
            product TEXT NOT NULL,
            received INTEGER NOT NULL,
            resolved INTEGER NOT NULL,
            breached INTEGER NOT NULL,
            met INTEGER NOT NULL,
            first_reply BYTEA NOT NULL,  -- SQLite: NUMERIC affinity, which keeps bytes as bytes
            resolution BYTEA NOT NULL,
            PRIMARY KEY ({period}, level, product))""" for table, period in PERIOD.items()),
    )
    deferred_indexes = secondary_indexes(schema)

    def __init__(self, calendar: WorkingTime, json_columns: JsonColumns | None = None) -> None:
        self.calendar = calendar
        self.json_columns = json_columns or JsonColumns()
        self.cache: RowCache | None = None
        """Set by the runner: fact rows and buckets it wrote last (see ``RowCache``)."""
        self._buckets: dict[BucketKey, Bucket] = {}

    def forget(self) -> None:
        if self.cache is not None:
            self.cache.clear()
        self._buckets.clear()

    def apply(self, cursor: Cursor, events: Sequence[TicketEvent]) -> None:
        before: dict[str, Row] = {}
        rows = fold_rows(cursor, TABLE, events, self, before, self.cache)
        for row in rows:
            for metric in METRICS:
                row[f"{metric}_bin"] = bin_of(row[f"{metric}_seconds"])
        deltas: dict[BucketKey, Bucket] = {}
        for row in rows:
            old = before.get(row["ticket_uuid"])
            if old is not None:
                if _contribution(old) == _contribution(row):
                    continue  # e.g. an assignment: the statistics do not move
                _contribute(deltas, old, -1)
            _contribute(deltas, row, +1)
        upsert(cursor, TABLE, "ticket_uuid", COLUMNS, rows, self.json_columns)
        self._merge_buckets(cursor, deltas)

    def _merge_buckets(self, cursor: Cursor, deltas: dict[BucketKey, Bucket]) -> None:
        if not deltas:
            return
        cached = self._buckets if self.cache is not None else {}
        missing = [key for key in deltas if key not in cached]
        for table, period in PERIOD.items():
            numbers = sorted({number for kind, number, _, _ in missing if kind == table})
            if not numbers:
                continue
            marks = ",".join("?" * len(numbers))
            cursor.execute(f"SELECT * FROM {table} WHERE {period} IN ({marks})", numbers)  # noqa: S608
            stored = {(table, r[period], r["level"], r["product"]): r
                      for r in (dict(row) for row in cursor.fetchall())}
            for key in missing:
                if key[0] == table:
                    bucket = cached[key] = Bucket()
                    if key in stored:
                        bucket.add_row(stored[key])
        rows: dict[str, list[tuple[Any, ...]]] = {table: [] for table in PERIOD}
        emptied: dict[str, list[tuple[Any, ...]]] = {table: [] for table in PERIOD}
        for key, delta in deltas.items():
            bucket = cached[key]
            bucket.add(delta)
            table, *rest = key
            if bucket.counts[0] == 0:
                # No ticket left here (all moved to another level or product): no row, so
                # the table is the same whatever the batches were (store or Kafka fed).
                emptied[table].append(tuple(rest))
                del cached[key]
                continue
            rows[table].append((*rest, *bucket.counts, bucket.packed(0), bucket.packed(1)))
        for table, period in PERIOD.items():
            if emptied[table]:
                cursor.executemany(f"DELETE FROM {table} WHERE {period} = ? AND level = ? "  # noqa: S608
                                   "AND product = ?", emptied[table])
            if not rows[table]:
                continue
            columns = (period, *BUCKET_COLUMNS)
            updates = ", ".join(f"{c} = excluded.{c}" for c in BUCKET_COLUMNS[2:])
            cursor.executemany(
                f"INSERT INTO {table} ({', '.join(columns)}) "  # noqa: S608
                f"VALUES ({', '.join('?' * len(columns))}) "
                f"ON CONFLICT ({period}, level, product) DO UPDATE SET {updates}", rows[table])

    def start(self, event: TicketEvent) -> Row:
        fields = event.fields
        return {
            "ticket_id": fields["ticket_id"], "arrival": event.position, "level": UNCLASSIFIED,
            "product": fields["product"],
            "received_ts": datetime.fromisoformat(event.at).timestamp(), "is_open": 1,
            "resolved_at": None, "first_reply_seconds": None, "resolution_seconds": None,
            "breached": 0, "late_ts": late_ts(fields["sla"]),
        }

    def step(self, row: Row, event: TicketEvent) -> None:
        name, fields, at = event.name, event.fields, event.at
        if name in ("Classified", "Reclassified"):
            row["level"], row["product"] = fields["level"], fields["product"]
        elif name == "SlaBreached":
            row["breached"] = 1
        elif name == "Resolved":
            row["is_open"] = 0
            row["resolved_at"] = at
            row["resolution_seconds"] = self._used(fields["sla"], at, ClockName.RESOLUTION)
        elif name == "Reopened":
            row["is_open"], row["resolved_at"], row["resolution_seconds"] = 1, None, None
        elif name == "Closed":
            row["is_open"] = 0
        # The system's request for missing details at receipt is no reply from support.
        by_system = (fields.get("actor") or {}).get("kind") == "system"
        if name in _FIRST_REPLY and row["first_reply_seconds"] is None and not by_system:
            row["first_reply_seconds"] = self._used(fields["sla"], at, ClockName.REACTION)
        if "sla" in fields:
            row["late_ts"] = late_ts(fields["sla"])
            clocks = _STOPS_OR_MOVES.get(name)
            if clocks and not row["breached"] and _late(fields["sla"], clocks):
                row["breached"] = 1

    def _used(self, sla: dict[str, Any], at: str, clock: ClockName) -> float:
        """Working time the clock had used when it stopped at ``at`` (first reply, resolution).

        ``evaluate_clock``'s measure for a stopped clock, without its remaining time.
        """
        schedule = ClockSchedule.from_dict(sla[clock.value])
        end = schedule.stopped_at or datetime.fromisoformat(at)
        used = self.calendar.working_time_between(schedule.started_at, end) - schedule.paused
        return max(used.total_seconds(), 0.0)


# -- buckets -------------------------------------------------------------------------


class Bucket:
    """Counts and two histograms (bin -> count); adds and subtracts exactly.

    A histogram read from one stored row is kept as it was read (two sorted lists)
    until something changes it: an all-time query reads one row per group and never
    needs a dict of its bins.
    """

    __slots__ = ("counts", "_hists", "_read")

    def __init__(self) -> None:
        self.counts = [0, 0, 0, 0]  # received, resolved, breached, met
        self._hists: tuple[dict[int, int], dict[int, int]] = ({}, {})
        self._read: list[tuple[list[int], list[int]] | None] = [None, None]

    def hist(self, n: int) -> dict[int, int]:
        """Histogram ``n``, to read or change in place."""
        read = self._read[n]
        target = self._hists[n]
        if read is not None:
            self._read[n] = None
            if not target:
                target.update(zip(*read))
            else:
                for found, count in zip(*read):
                    target[found] = target.get(found, 0) + count
        return target

    def sorted_hist(self, n: int) -> tuple[list[int], list[int]]:
        """Histogram ``n`` as ``(bins, counts)``, bins in order, empty bins left out."""
        read = self._read[n]
        if read is not None and not self._hists[n]:
            return read
        hist = self.hist(n)
        keys = sorted(hist)
        return keys, [hist[key] for key in keys]

    def add_hist(self, n: int, packed: bytes) -> None:
        bins, counts = unpack_hist(packed)
        if self._read[n] is None and not self._hists[n]:
            self._read[n] = (bins, counts)
            return
        target = self.hist(n)
        for found, count in zip(bins, counts):
            target[found] = target.get(found, 0) + count

    def add_row(self, row: dict[str, Any]) -> None:
        self.counts[0] += int(row["received"])
        self.counts[1] += int(row["resolved"])
        self.counts[2] += int(row["breached"])
        self.counts[3] += int(row["met"])
        self.add_hist(0, row["first_reply"])
        self.add_hist(1, row["resolution"])

    def add(self, other: Bucket) -> None:
        for n, value in enumerate(other.counts):
            self.counts[n] += value
        for n in range(2):
            mine = self.hist(n)
            for key, count in other.hist(n).items():
                if not count:
                    continue
                total = mine.get(key, 0) + count
                if total:
                    mine[key] = total
                else:
                    del mine[key]

    def packed(self, n: int) -> bytes:
        return pack_hist(*self.sorted_hist(n))


def pack_hist(bins: list[int], counts: list[int]) -> bytes:
    """A histogram as stored: the bins with a count, in order, then their counts, as
    little-endian 64-bit integers (equal buckets, equal bytes). Packed, not JSON: an
    all-time query reads a year's histograms without parsing text bin by bin."""
    values = array("q", bins + counts)
    if sys.byteorder == "big":
        values.byteswap()
    return values.tobytes()


def unpack_hist(packed: bytes) -> tuple[list[int], list[int]]:
    values = array("q")
    values.frombytes(packed)
    if sys.byteorder == "big":
        values.byteswap()
    half = len(values) // 2
    return values[:half].tolist(), values[half:].tolist()


def _contribution(row: Row) -> tuple[Any, ...]:
    return (row["received_ts"], row["level"], row["product"], row["resolved_at"] is not None,
            bool(row["breached"]), row.get("first_reply_bin", bin_of(row["first_reply_seconds"])),
            row.get("resolution_bin", bin_of(row["resolution_seconds"])))


def _contribute(deltas: dict[BucketKey, Bucket], row: Row, sign: int) -> None:
    resolved = row["resolved_at"] is not None
    breached = bool(row["breached"])
    values = (1, int(resolved), int(breached), int(resolved and not breached))
    bins = (row.get("first_reply_bin", bin_of(row["first_reply_seconds"])),
            row.get("resolution_bin", bin_of(row["resolution_seconds"])))
    ts, level, product = row["received_ts"], row["level"], row["product"]
    for key in ((BUCKETS, WEEKS.of(ts), level, product), (BUCKETS, ALL_TIME, level, product),
                (DAYS, CALENDAR_DAYS.of(ts), level, product)):
        bucket = deltas.get(key)
        if bucket is None:
            bucket = deltas[key] = Bucket()
        for n, value in enumerate(values):
            bucket.counts[n] += sign * value
        for n, found in enumerate(bins):
            if found is not None:
                hist = bucket.hist(n)
                hist[found] = hist.get(found, 0) + sign


# -- queries -------------------------------------------------------------------------


def _filters(level: str | None, product: str | None, since: float | None,
             until: float | None) -> tuple[list[str], list[Any]]:
    where: list[str] = []
    params: list[Any] = []
    for clause, value in (("level = ?", level), ("product = ?", product),
                          ("received_ts >= ?", since), ("received_ts < ?", until)):
        if value is not None:
            where.append(clause)
            params.append(value)
    return where, params


def _sql_where(where: list[str]) -> str:
    return f" WHERE {' AND '.join(where)}" if where else ""


class SlaStatsView:
    def __init__(self, store: ReadStore) -> None:
        self.store = store

    def rows(self, now: datetime, *, level: str | None, product: str | None,
             since: datetime | None, until: datetime | None) -> list[dict[str, Any]]:
        low = since.timestamp() if since else None
        high = until.timestamp() if until else None
        groups: dict[tuple[str, str], Bucket] = {}

        def bucket(key: tuple[str, str]) -> Bucket:
            found = groups.get(key)
            if found is None:
                found = groups[key] = Bucket()
            return found

        # Whole weeks from the week buckets, whole days around them from the day buckets,
        # the parts of a day at either end from the facts.
        if low is None and high is None:
            for row in self._buckets(BUCKETS, ALL_TIME, ALL_TIME, level, product):
                bucket((row["level"], row["product"])).add_row(row)
        else:
            for table, periods, a, b in self._spans(low, high):
                if periods is None:
                    where, params = _filters(level, product, a, b)
                    self._add_edge(bucket, _sql_where(where), params)
                    continue
                first, last = periods.whole(a, b)
                for row in self._buckets(table, first, last, level, product):
                    bucket((row["level"], row["product"])).add_row(row)
        # Breached only because a running clock is past due now: open tickets only.
        where, params = _filters(level, product, low, high)
        running_late = self.store.query(
            f"SELECT level, product, COUNT(*) AS n FROM {TABLE} "  # noqa: S608
            f"WHERE is_open = 1 AND breached = 0 AND late_ts < ?"
            f"{''.join(' AND ' + w for w in where)} GROUP BY level, product",
            [now.timestamp(), *params])
        for row in running_late:
            bucket((row["level"], row["product"])).counts[2] += int(row["n"])

        result = []
        ranks = _Ranks(low, high)
        for (lvl, prod), found in sorted(
            groups.items(),
            key=lambda g: (_LEVEL_ORDER.get(g[0][0] or "unclassified", len(_LEVEL_ORDER)), g[0][1]),
        ):
            received, resolved, breached, met = found.counts
            if received <= 0:
                continue
            result.append({
                "level": lvl or "unclassified",
                "product": prod,
                "since": since.isoformat() if since else None,
                "until": until.isoformat() if until else None,
                "received": received,
                "resolved": resolved,
                "breached": breached,
                "met": met,
                "first_reply_seconds": ranks.summary(found.sorted_hist(0), "first_reply", lvl, prod),
                "resolution_seconds": ranks.summary(found.sorted_hist(1), "resolution", lvl, prod),
            })
        ranks.resolve(self.store)
        return result

    def _add_edge(self, bucket: Callable[[tuple[str, str]], Bucket], where: str,
                  params: list[Any]) -> None:
        """Counts and histograms of the tickets received in a partial week (one pass over a
        covering index; equal rows counted together, most of a week's rows are)."""
        found = Counter(tuple(row.values()) for row in self.store.query(
            "SELECT level, product, resolved_at IS NOT NULL AS done, breached <> 0 AS late,"  # noqa: S608
            f" first_reply_bin AS f, resolution_bin AS r FROM {TABLE}{where}", params))
        for (level, product, done, late, *bins), n in found.items():
            counts = bucket((level, product)).counts
            counts[0] += n
            if done:
                counts[1] += n
                if not late:
                    counts[3] += n
            if late:
                counts[2] += n
            for index, value in enumerate(bins):
                if value is not None:
                    hist = bucket((level, product)).hist(index)
                    hist[value] = hist.get(value, 0) + n

    @staticmethod
    def _spans(low: float | None, high: float | None
               ) -> list[tuple[str, Periods | None, float | None, float | None]]:
        """``[low, high)`` as whole weeks, whole days outside them, and the rest: each with
        its bucket table and periods (None: read from the facts)."""
        spans: list[tuple[str, Periods | None, float | None, float | None]] = []
        first, last = WEEKS.whole(low, high)
        if first <= last:
            spans.append((BUCKETS, WEEKS, low, high))
        for a, b in WEEKS.edges(low, high):
            first, last = CALENDAR_DAYS.whole(a, b)
            if first <= last:
                spans.append((DAYS, CALENDAR_DAYS, a, b))
            spans.extend((TABLE, None, c, d) for c, d in CALENDAR_DAYS.edges(a, b))
        return spans

    def _buckets(self, table: str, first: int, last: int, level: str | None,
                 product: str | None) -> list[dict[str, Any]]:
        period = PERIOD[table]
        extra, params = _filters(level, product, None, None)
        where = [f"{period} >= ?", f"{period} <= ?", *extra]
        return self.store.query(f"SELECT * FROM {table}{_sql_where(where)}",  # noqa: S608
                                [first, last, *params])


_LOOKUPS_PER_QUERY = 200  # SQLite allows 500 terms in a compound SELECT


class _Ranks:
    """The medians and 90th percentiles of one statistics query, exact.

    A histogram names the bin holding each wanted rank and the rank's place inside
    the bin; the value itself is the row at that place, in value order, among the
    bin's rows of the group and window (an index walk: level, product, bin, value).
    Each ``summary`` leaves its dict with placeholders and notes the lookups it needs;
    ``resolve`` asks them all in one query and fills the dicts in.
    """

    def __init__(self, low: float | None, high: float | None) -> None:
        self.low, self.high = low, high
        self.parts: list[tuple[str, list[Any]]] = []
        self.pending: list[tuple[dict[str, float | None], str, list[int]]] = []

    def summary(self, hist: tuple[list[int], list[int]], metric: str, level: str,
                product: str) -> dict[str, float | None]:
        keys, counts = hist
        found: dict[str, float | None] = {"median": None, "p90": None}
        if not keys:
            return found
        cumulative = list(accumulate(counts))
        n = cumulative[-1]
        median = [n // 2 + 1] if n % 2 else [n // 2, n // 2 + 1]
        self.pending.append((found, "median", [self._lookup(keys, cumulative, r, metric, level, product)
                                               for r in median]))
        self.pending.append((found, "p90", [self._lookup(keys, cumulative, -(-9 * n // 10), metric,
                                                         level, product)]))
        return found

    def _lookup(self, keys: list[int], cumulative: list[int], rank: int, metric: str,
                level: str, product: str) -> int:
        """The number of the lookup answering ``rank`` (1-based, over the sorted values);
        -1: bin 0, which holds exact zeros only (e.g. a reply before opening time)."""
        index = bisect_left(cumulative, rank)
        if keys[index] == 0:
            return -1
        before = cumulative[index - 1] if index else 0
        where, params = _filters(level, product, self.low, self.high)
        number = len(self.parts)
        self.parts.append((
            f"SELECT {number} AS k, v FROM (SELECT {metric}_seconds AS v FROM {TABLE} "  # noqa: S608
            f"WHERE {metric}_bin = ?{''.join(' AND ' + w for w in where)} "
            f"ORDER BY {metric}_seconds LIMIT 1 OFFSET ?) AS r{number}",
            [keys[index], *params, rank - before - 1]))
        return number

    def resolve(self, store: ReadStore) -> None:
        values: dict[int, float] = {-1: 0.0}
        for start in range(0, len(self.parts), _LOOKUPS_PER_QUERY):
            parts = self.parts[start:start + _LOOKUPS_PER_QUERY]
            sql = " UNION ALL ".join(text for text, _ in parts)
            for row in store.query(sql, [value for _, params in parts for value in params]):
                values[int(row["k"])] = float(row["v"])
        for found, name, lookups in self.pending:
            found[name] = sum(values[k] for k in lookups) / len(lookups)


def scan_rows(store: ReadStore, now: datetime, *, level: str | None = None,
              product: str | None = None, since: datetime | None = None,
              until: datetime | None = None) -> list[dict[str, Any]]:
    """Every ticket's facts read and grouped in Python: the oracle the buckets are tested
    against (what ``/sla/stats`` did before the buckets; cost linear in history)."""
    where, params = _filters(level, product, since.timestamp() if since else None,
                             until.timestamp() if until else None)
    rows = store.query(f"SELECT * FROM {TABLE}{_sql_where(where)}", params)  # noqa: S608
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault((row["level"] or "unclassified", row["product"]), []).append(row)
    result = []
    moment = now.timestamp()
    for (lvl, prod), members in sorted(
        groups.items(), key=lambda g: (_LEVEL_ORDER.get(g[0][0], len(_LEVEL_ORDER)), g[0][1])
    ):
        breached = [bool(r["breached"]) or bool(r["is_open"]) and r["late_ts"] is not None
                    and r["late_ts"] < moment for r in members]
        resolved = [r["resolved_at"] is not None for r in members]
        result.append({
            "level": lvl, "product": prod,
            "since": since.isoformat() if since else None,
            "until": until.isoformat() if until else None,
            "received": len(members), "resolved": sum(resolved), "breached": sum(breached),
            "met": sum(1 for b, r in zip(breached, resolved, strict=True) if r and not b),
            "first_reply_seconds": summary(_present(r["first_reply_seconds"] for r in members)),
            "resolution_seconds": summary(_present(r["resolution_seconds"] for r in members)),
        })
    return result


def _present(values: Iterable[float | None]) -> list[float]:
    return [v for v in values if v is not None]


def summary(values: list[float]) -> dict[str, float | None]:
    """Median, and the nearest-rank 90th percentile (an observed value, no interpolation)."""
    if not values:
        return {"median": None, "p90": None}
    ordered = sorted(values)
    rank = -(-9 * len(ordered) // 10)  # ceil(0.9 n), 1-based
    return {"median": float(statistics.median(ordered)), "p90": float(ordered[rank - 1])}
