"""What keeps the read side flat as history grows: index plans, statistics kept as
events are applied (against a full scan), reads that do not queue, serving during a
rebuild and before catch-up. On SQLite files and a real PostgreSQL server."""

from __future__ import annotations

import json
import random
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from bench.history import MSK, generate
from domain.sla import ClockName, SlaSchedule, evaluate, evaluate_clock
from projections.readmodels import ReadModels
from projections.runner import ProjectionRunner
from projections.sla_stats import late_ts, running_late, scan_rows
from projections.sla_timers import STATUSES, clock_columns, status_sql
from projections.store import ReadStore, SQLiteReadStore, pointer_for, store_for
from projections.system import build_projections
from services.api import create_app
from services.api.auth import Role, TokenStore
from services.application import SupportDesk
from services.clock import ManualClock

NOW = datetime(2025, 2, 3, 12, 0, tzinfo=MSK)
# Tables with one row per read model: a scan of them is no scan of history.
SMALL_TABLES = ("projection_tracking", "projection_schema")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_env(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[dict[str, str]]:
    if request.param == "sqlite":
        yield {"PERSISTENCE_MODULE": "eventsourcing.sqlite",
               "SQLITE_DBNAME": str(tmp_path / "desk.sqlite"), "SQLITE_LOCK_TIMEOUT": "10"}
    else:
        yield request.getfixturevalue("postgres_env")


@dataclass
class Desk:
    desk: SupportDesk
    clock: ManualClock
    store: ReadStore
    models: ReadModels
    runner: ProjectionRunner


@contextmanager
def desk_with_history(env: dict[str, str], events: int, *, batch: int = 500,
                      per_day: int = 20) -> Iterator[Desk]:
    clock = ManualClock(NOW)
    desk = SupportDesk(env=env, clock=clock)
    generate(desk, events, seed=11, per_day=per_day, save_every=300)
    store = store_for(env)
    models, runner = build_projections(desk, calendar=desk.calendar, clock=clock, store=store,
                                       batch_size=batch)
    runner.catch_up_batch = batch
    runner.catch_up()
    try:
        yield Desk(desk, clock, store, models, runner)
    finally:
        runner.stop()
        store.close()
        desk.close()


# -- every dashboard query uses an index -------------------------------------------


class Recording(ReadStore):
    """The real store, remembering every query the views send it."""

    def __init__(self, inner: ReadStore) -> None:
        self.inner = inner
        self.dialect = inner.dialect
        self.seen: list[tuple[str, tuple[Any, ...]]] = []

    def transaction(self) -> Any:
        return self.inner.transaction()

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        self.seen.append((sql, tuple(params)))
        return self.inner.query(sql, params)


def dashboard_queries(models: ReadModels, ticket_id: str) -> None:
    """Every query the dashboard endpoints make, with each filter."""
    models.queue()
    models.queue(offset=10_000)
    for column, value in (("level", "standard"), ("product", "pass24_online"),
                          ("assignee", "agent.7"), ("status", "open")):
        models.queue(**{column: value})
    models.sla_timers()
    for status in STATUSES:
        models.sla_timers(status=status, offset=5)
    models.sla_timers(ticket_id=ticket_id)
    models.history(ticket_id)
    models.stats()
    models.stats(level="standard", product="pass24_online")
    models.stats(since=datetime(2025, 1, 13, tzinfo=MSK))
    models.stats(since=datetime(2025, 1, 10, 15, tzinfo=MSK), until=datetime(2025, 1, 24, tzinfo=MSK))
    models.stats(level="emergency", since=datetime(2025, 1, 15, tzinfo=MSK),
                 until=datetime(2025, 1, 16, tzinfo=MSK))
    models.due_alerts(NOW)
    models.position()


def plan_problems(store: ReadStore, sql: str, params: tuple[Any, ...]) -> list[str]:
    with store.transaction() as cursor:
        if store.dialect == "postgres":
            # Few rows make a sequential scan cheapest; forbid it, so that a Seq Scan or a
            # Sort in the plan means there is no index for the query at all.
            cursor.execute("SET LOCAL enable_seqscan = off")
            cursor.execute("SET LOCAL enable_sort = off")
            cursor.execute("EXPLAIN " + sql, params)
            lines = [next(iter(dict(row).values())) for row in cursor.fetchall()]
            bad = [line for line in lines
                   if ("Seq Scan" in line and not any(t in line for t in SMALL_TABLES))
                   or "Sort" in line]
        else:
            cursor.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
            tables = {dict(row)["name"] for row in cursor.fetchall()} - set(SMALL_TABLES)
            cursor.execute("EXPLAIN QUERY PLAN " + sql, params)
            lines = [dict(row)["detail"] for row in cursor.fetchall()]
            # "SCAN r3" reads a subquery's answer (one row), not a table.
            bad = [line for line in lines
                   if (line.startswith("SCAN") and line.split()[1] in tables)
                   or "TEMP B-TREE" in line]
    return [f"{sql} -> {line}" for line in bad]


def test_every_dashboard_query_plan_uses_an_index(store_env: dict[str, str]) -> None:
    with desk_with_history(store_env, 2500) as world:
        recording = Recording(world.store)
        models = ReadModels(recording, calendar=world.desk.calendar, clock=world.clock)
        some = world.store.query("SELECT ticket_id FROM rm_queue WHERE is_open = 1 LIMIT 1")
        dashboard_queries(models, some[0]["ticket_id"])
        assert len(recording.seen) > 30
        problems = [p for sql, params in dict.fromkeys(recording.seen)
                    for p in plan_problems(world.store, sql, params)]
        assert problems == []


# -- statistics kept as events are applied, against a scan of every ticket ------


def windows() -> list[dict[str, Any]]:
    at = lambda *a: datetime(*a, tzinfo=MSK)  # noqa: E731
    return [
        {},
        {"level": "standard"},
        {"product": "pass24_control"},
        {"level": "emergency", "product": "pass24_online"},
        {"since": at(2025, 1, 13)},  # a Monday: whole weeks only
        {"until": at(2025, 1, 20)},
        {"since": at(2025, 1, 13), "until": at(2025, 1, 27)},
        {"since": at(2025, 1, 10, 15, 30), "until": at(2025, 1, 29, 8)},  # partial weeks
        {"since": at(2025, 1, 15), "until": at(2025, 1, 16, 12)},  # inside one week
        {"since": at(2025, 1, 15), "until": at(2025, 1, 29)},  # whole days around a week
        {"since": at(2025, 1, 16, 10), "until": at(2025, 1, 30, 15, 45)},  # all three kinds
        {"since": at(2025, 1, 14), "until": at(2025, 1, 17), "product": "pass24_online"},
        {"since": at(2025, 1, 14, 9), "level": "consultation"},
        {"since": at(2025, 3, 1)},
    ]


def test_incremental_statistics_equal_a_full_scan(store_env: dict[str, str]) -> None:
    # Small batches: buckets move ticket by ticket across many transactions.
    with desk_with_history(store_env, 3500, batch=37) as world:
        store, models = world.store, world.models
        weeks = store.query("SELECT COUNT(DISTINCT week) AS n FROM rm_sla_buckets WHERE week >= 0")
        assert weeks[0]["n"] >= 3
        open_late = store.query("SELECT COUNT(*) AS n FROM rm_sla_stats WHERE is_open = 1 "
                                "AND breached = 0 AND late_ts < ?", (NOW.timestamp(),))
        assert open_late[0]["n"] > 0  # some breaches exist only because of the moment
        moved = store.query("SELECT COUNT(*) AS n FROM rm_history WHERE type = 'Reclassified'")
        assert moved[0]["n"] > 0
        for now in (NOW, datetime(2025, 1, 20, 10, tzinfo=MSK)):
            world.clock.set(now)
            for window in windows():
                expected = scan_rows(store, now, **window)
                assert models.stats(**window) == expected, window
        assert sum(r["received"] for r in models.stats()) == store.query(
            "SELECT COUNT(*) AS n FROM rm_sla_stats")[0]["n"]
        # Windows from midnight to midnight come from week and day buckets alone.
        recording = Recording(store)
        counted = ReadModels(recording, calendar=world.desk.calendar, clock=world.clock)
        at = lambda *a: datetime(*a, tzinfo=MSK)  # noqa: E731
        for since, until in ((at(2025, 1, 13), at(2025, 1, 27)), (at(2025, 1, 15), at(2025, 1, 29)),
                             (at(2025, 1, 16), at(2025, 1, 17))):
            assert counted.stats(since=since, until=until) == scan_rows(
                store, world.clock.now(), since=since, until=until)
        passes = [sql for sql, _ in recording.seen if "AS done" in sql]
        assert passes == [] and any("rm_sla_days" in sql for sql, _ in recording.seen)
        # A rebuild in big batches ends with the same buckets.
        before = store.query("SELECT * FROM rm_sla_buckets ORDER BY week, level, product")
        world.runner.follower.batch_size = world.runner.catch_up_batch = 1000
        world.runner.rebuild()
        after = store.query("SELECT * FROM rm_sla_buckets ORDER BY week, level, product")
        assert after == before
        assert all(b["received"] > 0 for b in after)  # emptied buckets leave no row


def test_late_instant_encodes_the_running_late_rule() -> None:
    rng = random.Random(3)
    base = datetime(2025, 3, 3, 9, tzinfo=MSK)
    for _ in range(500):
        clocks = {}
        for clock in ("reaction", "resolution"):
            due = base + timedelta(minutes=rng.randint(0, 600))
            kind = rng.choice(["running", "paused", "stopped"])
            clocks[clock] = {
                "due_at": due.isoformat(), "at_risk_at": (due - timedelta(hours=1)).isoformat(),
                "started_at": base.isoformat(),
                "paused_since": (base + timedelta(minutes=rng.randint(0, 600))).isoformat()
                if kind == "paused" else None,
                "stopped_at": (base + timedelta(minutes=rng.randint(0, 600))).isoformat()
                if kind == "stopped" else None,
            }
        moment = late_ts(clocks)
        for now in (base + timedelta(minutes=rng.randint(-60, 700)) for _ in range(5)):
            assert running_late(clocks, now) == (moment is not None and moment < now.timestamp())


def test_timer_status_in_sql_is_what_evaluate_says(tmp_path: Path) -> None:
    """Each clock status as an SQL condition agrees with ``evaluate_clock`` at any moment."""
    rng = random.Random(5)
    desk = SupportDesk(clock=ManualClock(NOW))
    base = datetime(2025, 3, 3, 9, tzinfo=MSK)
    store = SQLiteReadStore(tmp_path / "t.sqlite")
    with store.transaction() as cursor:
        cursor.execute("CREATE TABLE t (n INTEGER PRIMARY KEY, schedule TEXT, r_stop TEXT, "
                       "r_pause_ts REAL, r_risk_ts REAL, r_due_ts REAL, s_stop TEXT, "
                       "s_pause_ts REAL, s_risk_ts REAL, s_due_ts REAL)")
        for n in range(300):
            data = {}
            for clock in ("reaction", "resolution"):
                due = base + timedelta(minutes=rng.randint(0, 600), microseconds=rng.randint(0, 9))
                kind = rng.choice(["running", "paused", "stopped"])
                data[clock] = {
                    "started_at": base.isoformat(), "due_at": due.isoformat(),
                    "at_risk_at": (due - timedelta(minutes=rng.randint(0, 90))).isoformat(),
                    "paused_since": (due + timedelta(minutes=rng.randint(-200, 200))).isoformat()
                    if kind == "paused" else None,
                    "stopped_at": (due + timedelta(minutes=rng.choice([-5, 0, 5]))).isoformat()
                    if kind == "stopped" else None,
                    "paused_seconds": 0,
                }
            schedule = {**data, "level": "standard", "policy_version": "p",
                        "calendar_version": "c"}
            columns = clock_columns(schedule)
            cursor.execute("INSERT INTO t VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                           (n, json.dumps(schedule), *(columns[c] for c in (
                               "r_stop", "r_pause_ts", "r_risk_ts", "r_due_ts",
                               "s_stop", "s_pause_ts", "s_risk_ts", "s_due_ts"))))
    rows = store.query("SELECT * FROM t ORDER BY n")
    moments = [base + timedelta(minutes=rng.randint(-30, 700)) for _ in range(12)]
    moments += [datetime.fromisoformat(json.loads(rows[0]["schedule"])["reaction"]["due_at"])]
    for now in moments:
        for prefix, name in (("r", ClockName.REACTION), ("s", ClockName.RESOLUTION)):
            for status in STATUSES:
                clause = status_sql(prefix, status)
                found = {r["n"] for r in store.query(
                    f"SELECT n FROM t WHERE {clause}", [now.timestamp()] * clause.count("?"))}
                expected = {
                    r["n"] for r in rows
                    if evaluate_clock(name, SlaSchedule.from_dict(json.loads(r["schedule"])).clock(name),
                                      now, desk.calendar).status.value == status}
                assert found == expected, (now, prefix, status)
    store.close()
    desk.close()
    assert evaluate  # the view evaluates both clocks with the same function


# -- reads that do not queue behind each other -------------------------------------


class GatedSQLiteStore(SQLiteReadStore):
    """An SQLite read store whose connections know ``gate()``: a query that waits inside
    SQLite until the test opens the gate, standing in for any slow query."""

    gate = threading.Event()

    def _reader(self) -> Any:
        generation, conn = super()._reader()
        conn.create_function("gate", 0, lambda: int(self.gate.wait(60)))
        return generation, conn


def api_over(desk: SupportDesk, models: ReadModels, runner: Any) -> tuple[TestClient, dict[str, str]]:
    tokens = TokenStore(None)
    token = tokens.issue(Role.AGENT, "agent.tester")
    app = create_app(desk, tokens=tokens, read_models=models, runner=runner, catch_up_timeout=5)
    return TestClient(app), {"Authorization": f"Bearer {token}"}


def call(client: TestClient, *args: Any, **kwargs: Any) -> Any:
    """A request that must answer while something else is still blocked: in a thread,
    so a regression fails the test instead of hanging it."""
    answer: list[Any] = []
    thread = threading.Thread(target=lambda: answer.append(client.request(*args, **kwargs)))
    thread.start()
    thread.join(30)
    assert answer, f"{args} did not answer while the slow query ran"
    return answer[0]


def test_a_slow_query_delays_neither_healthz_nor_the_queue(store_env: dict[str, str],
                                                             tmp_path: Path) -> None:
    clock = ManualClock(NOW)
    desk = SupportDesk(env=store_env, clock=clock)
    generate(desk, 400, seed=3, per_day=50)
    if store_env["PERSISTENCE_MODULE"] == "eventsourcing.sqlite":
        store: ReadStore = GatedSQLiteStore(tmp_path / "read.sqlite")
        slow_sql, release = "SELECT gate() AS g", GatedSQLiteStore.gate.set
        GatedSQLiteStore.gate.clear()
    else:
        import psycopg

        store = store_for(store_env)
        # The slow query waits for an advisory lock this test holds.
        holder = psycopg.connect(dbname=store_env["POSTGRES_DBNAME"],
                                 host=store_env["POSTGRES_HOST"], port=store_env["POSTGRES_PORT"],
                                 user=store_env["POSTGRES_USER"],
                                 password=store_env["POSTGRES_PASSWORD"], autocommit=True)
        holder.execute("SELECT pg_advisory_lock(4242)")
        slow_sql = "SELECT pg_advisory_lock(4242) AS g"
        release = lambda: holder.execute("SELECT pg_advisory_unlock(4242)")  # noqa: E731
    models, runner = build_projections(desk, calendar=desk.calendar, clock=clock, store=store)
    runner.catch_up()
    client, headers = api_over(desk, models, runner)
    slow = threading.Thread(target=store.query, args=(slow_sql,))
    try:
        slow.start()
        slow.join(0.3)
        assert slow.is_alive()
        assert call(client, "GET", "/healthz").status_code == 200
        queue = call(client, "GET", "/queue", headers=headers)
        assert queue.status_code == 200 and queue.json()["total"] > 0
        assert call(client, "GET", "/sla/timers?status=breached", headers=headers).status_code == 200
        assert slow.is_alive()  # all of it answered while the slow query was still running
    finally:
        release()
        slow.join(30)
        store.close()
        desk.close()


# -- no outage for a rebuild or a cold start ---------------------------------------


@contextmanager
def gated(runner: ProjectionRunner) -> Iterator[threading.Event]:
    """Hold ``runner``'s first batch until the event is set (a rebuild or catch-up caught
    half-way, for as long as the test needs)."""
    go = threading.Event()
    projection = runner.projections[0]
    original = projection.apply

    def apply(cursor: Any, events: Any) -> None:
        assert go.wait(60)
        original(cursor, events)

    projection.apply = apply  # type: ignore[method-assign]
    try:
        yield go
    finally:
        go.set()
        projection.apply = original  # type: ignore[method-assign]


RECEIVE = {"channel": "phone", "requester": {"name": "Ольга", "email": "olga@example.ru"},
           "subject": "Шлагбаум", "description": "No passes open the barrier.",
           "product": "pass24_control", "product_version": "3.14.2"}


def test_the_api_serves_during_a_rebuild_into_a_new_store_then_switches(tmp_path: Path) -> None:
    env = {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(tmp_path / "d.sqlite")}
    clock = ManualClock(NOW)
    desk = SupportDesk(env=env, clock=clock)
    generate(desk, 1500, seed=5, per_day=50)
    serving = store_for(env)
    assert isinstance(serving, SQLiteReadStore) and serving.pointer is not None
    models, runner = build_projections(desk, calendar=desk.calendar, clock=clock, store=serving,
                                       poll_interval=0.02)
    runner.catch_up()
    runner.start()
    client, headers = api_over(desk, models, runner)
    before = client.get("/queue", headers=headers).json()["total"]
    new = tmp_path / "rebuilt.read.sqlite"
    fresh = SQLiteReadStore(new)
    _, rebuilder = build_projections(desk, calendar=desk.calendar, clock=clock, store=fresh,
                                     batch_size=200)
    try:
        with gated(rebuilder) as go:
            rebuild = threading.Thread(target=rebuilder.catch_up)
            rebuild.start()
            rebuild.join(0.3)
            assert rebuild.is_alive()  # the rebuild is under way ...
            # ... and the API answers writes, per-ticket reads and every list meanwhile.
            created = call(client, "POST", "/tickets", json=RECEIVE, headers=headers)
            assert created.status_code == 201
            ticket = created.json()["id"]
            assert call(client, "GET", f"/tickets/{ticket}", headers=headers).status_code == 200
            position = created.json()["position"]
            queue = call(client, "GET", f"/queue?min_position={position}", headers=headers)
            assert queue.status_code == 200 and queue.json()["total"] == before + 1
            assert call(client, "GET", "/sla/stats", headers=headers).status_code == 200
            assert call(client, "GET", "/readyz").status_code == 200
            assert rebuild.is_alive()
            go.set()
            rebuild.join(60)
        assert not rebuild.is_alive()
        fresh.close()
        SQLiteReadStore.write_pointer(pointer_for(serving.path), new)
        # Serving processes notice within a second and carry on from the new file's positions
        # (events applied to the old file after the rebuild are applied to the new one).
        for _ in range(100):
            assert call(client, "GET", "/healthz").status_code == 200
            if serving.path == str(new.resolve()):
                break
            threading.Event().wait(0.05)
        assert serving.path == str(new.resolve())
        later = call(client, "POST", "/tickets", json=RECEIVE, headers=headers).json()
        queue = call(client, "GET", f"/queue?min_position={later['position']}", headers=headers)
        assert queue.status_code == 200 and queue.json()["total"] == before + 2
        assert runner.wait_for(later["position"], 5)
        rows = serving.query("SELECT COUNT(*) AS n FROM rm_queue WHERE is_open = 1")
        assert rows[0]["n"] == before + 2
    finally:
        runner.stop()
        serving.close()
        desk.close()


def test_the_api_takes_writes_before_the_read_models_catch_up(tmp_path: Path) -> None:
    env = {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(tmp_path / "d.sqlite")}
    clock = ManualClock(NOW)
    desk = SupportDesk(env=env, clock=clock)
    generate(desk, 600, seed=9, per_day=50)
    store = store_for(env)
    models, runner = build_projections(desk, calendar=desk.calendar, clock=clock, store=store,
                                       poll_interval=0.02)
    client, headers = api_over(desk, models, runner)
    try:
        with gated(runner) as go:
            runner.start()  # a cold start: empty read models, the whole log to apply
            ready = call(client, "GET", "/readyz")
            assert ready.status_code == 503 and "catching up" in ready.json()["detail"]
            created = call(client, "POST", "/tickets", json=RECEIVE, headers=headers)
            assert created.status_code == 201
            ticket = created.json()["id"]
            shown = call(client, "GET", f"/tickets/{ticket}", headers=headers)
            assert shown.status_code == 200 and shown.json()["status"] == "new"
            assert call(client, "GET", f"/tickets/{ticket}/history", headers=headers).status_code == 200
            assert call(client, "GET", "/healthz").status_code == 200
            go.set()
            assert runner.wait_for(created.json()["position"], 30)
        for _ in range(100):
            if runner.caught_up.wait(0.1):
                break
        assert call(client, "GET", "/readyz").status_code == 200
    finally:
        runner.stop()
        store.close()
        desk.close()


def test_cli_rebuilds_into_a_new_store_and_switches(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    from services.cli import main

    events = tmp_path / "desk.sqlite"
    desk = SupportDesk(env={"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(events)})
    generate(desk, 400, seed=4, per_day=50)
    head = desk.recorder.max_notification_id()
    desk.close()
    for name, value in {"PERSISTENCE": "sqlite", "SQLITE_PATH": str(events),
                        "MAIL_DB_PATH": str(tmp_path / "mail.sqlite"),
                        "TOKENS_FILE": str(tmp_path / "tokens.json")}.items():
        monkeypatch.setenv(f"PASS24_{name}", value)
    new = tmp_path / "next.read.sqlite"
    assert main(["projections", "rebuild", "--into", str(new), "--switch"]) == 0
    pointer = pointer_for(tmp_path / "desk.read.sqlite")
    assert pointer.read_text(encoding="utf-8").strip() == str(new.resolve())
    store = store_for({"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(events)})
    assert isinstance(store, SQLiteReadStore) and store.path == str(new.resolve())
    positions = store.query("SELECT notification_id FROM projection_tracking")
    assert {p["notification_id"] for p in positions} == {head}
    # The indexes left out during the bulk load are there at the end: every one declared.
    fresh = SupportDesk()
    _, runner = build_projections(fresh, calendar=fresh.calendar, clock=ManualClock(
        datetime.now(MSK)), store=SQLiteReadStore(":memory:"))
    declared = {name for projection in runner.projections
                for name, _ in getattr(projection, "deferred_indexes", ())}
    assert {"rm_history_ticket", "rm_queue_order", "rm_sla_timers_watch",
            "rm_sla_stats_first_reply"} <= declared
    present = {row["name"] for row in store.query(
        "SELECT name FROM sqlite_master WHERE type = 'index'")}
    assert declared <= present
    store.close()
    with pytest.raises(SystemExit):  # never over an existing store
        main(["projections", "rebuild", "--into", str(new)])
