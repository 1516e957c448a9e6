"""No outage for a rebuild on PostgreSQL: read models built into a new schema of the
desk's database while the old one serves and takes writes, then switched to by every
process (``projections rebuild --into NAME``, ``projections switch``). On the real
PostgreSQL server the fixtures start; the SQLite twins are in test_read_models_at_scale.py,
except for a switch landing under a batch, tested here on both stores."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
import pytest

from bench.history import generate
from projections.pg_schemas import mark_built, new_schema, read_schemas, switch_to
from projections.readmodels import ReadModels
from projections.runner import ProjectionRunner
from projections.store import PostgresReadStore, postgres_conninfo, store_for
from projections.system import build_projections
from services.application import SupportDesk
from services.clock import ManualClock
from tests.integration.test_read_models_at_scale import NOW, RECEIVE, api_over, call


def rows_of(env: dict[str, str], schema: str, tables: list[str]) -> dict[str, list[str]]:
    """Every row of ``tables`` in ``schema``, as comparable text, table by table."""
    with psycopg.connect(postgres_conninfo(env)) as conn:
        return {t: sorted(map(repr, conn.execute(f'SELECT * FROM "{schema}".{t}').fetchall()))  # noqa: S608
                for t in tables}


def model_tables(runner: ProjectionRunner) -> list[str]:
    return sorted(t for p in runner.projections for t in p.tables) + ["projection_tracking"]


def schema_of(env: dict[str, str]) -> str | None:
    with psycopg.connect(postgres_conninfo(env)) as conn:
        row = conn.execute("SELECT schema_name FROM read_store_current").fetchone()
    return str(row[0]) if row else None


@contextmanager
def serving(env: dict[str, str], desk: SupportDesk,
            clock: ManualClock) -> Iterator[tuple[PostgresReadStore, ReadModels, ProjectionRunner]]:
    """Read models as a serving process keeps them: a following store, a started runner."""
    store = store_for(env)
    assert isinstance(store, PostgresReadStore) and store.follow
    models, runner = build_projections(desk, calendar=desk.calendar, clock=clock, store=store,
                                       poll_interval=0.02)
    runner.catch_up()
    runner.start()
    try:
        yield store, models, runner
    finally:
        runner.stop()
        store.close()


def build_into(env: dict[str, str], desk: SupportDesk, name: str, *,
               hold: threading.Event | None = None) -> tuple[str, int]:
    """What ``projections rebuild --into NAME`` does, with the load held at its first batch
    until ``hold`` is set (when given)."""
    conninfo = postgres_conninfo(env)
    main = PostgresReadStore(conninfo)
    schema = new_schema(main, name)
    store = PostgresReadStore(conninfo, schema=schema)
    try:
        store.fast_load()
        _, runner = build_projections(desk, calendar=desk.calendar, clock=desk.clock,
                                      store=store, batch_size=200)
        if hold is None:
            with runner.bulk_load():
                runner.catch_up()
        else:
            original = runner.projections[0].apply

            def held(cursor: Any, events: Any) -> None:
                assert hold.wait(60)
                original(cursor, events)

            runner.projections[0].apply = held  # type: ignore[method-assign]
            with runner.bulk_load():
                runner.catch_up()
        store.durable()
        position = runner.catch_up()
        mark_built(main, schema, position)
        return schema, position
    finally:
        store.close()
        main.close()


def wait_until(predicate: Any, timeout: float = 10) -> bool:
    stop = threading.Event()
    for _ in range(int(timeout / 0.05)):
        if predicate():
            return True
        stop.wait(0.05)
    return bool(predicate())


@pytest.mark.postgres
def test_the_api_serves_during_a_rebuild_into_a_new_schema_then_switches(
        postgres_env: dict[str, str]) -> None:
    clock = ManualClock(NOW)
    desk = SupportDesk(env=postgres_env, clock=clock)
    generate(desk, 1500, seed=5, per_day=50)
    try:
        with serving(postgres_env, desk, clock) as (store, models, runner):
            assert store.schema == store.home  # before any switch: the desk's own schema
            client, headers = api_over(desk, models, runner)
            before = client.get("/queue", headers=headers).json()["total"]
            go = threading.Event()
            built: list[tuple[str, int]] = []
            rebuild = threading.Thread(
                target=lambda: built.append(build_into(postgres_env, desk, "blue", hold=go)))
            rebuild.start()
            rebuild.join(0.5)
            assert rebuild.is_alive()  # the rebuild is under way ...
            # ... and the API answers writes, per-ticket reads and every list meanwhile,
            # from the old schema, whose runner keeps applying.
            created = call(client, "POST", "/tickets", json=RECEIVE, headers=headers)
            assert created.status_code == 201
            during = created.json()
            assert call(client, "GET", f"/tickets/{during['id']}", headers=headers).status_code == 200
            queue = call(client, "GET", f"/queue?min_position={during['position']}", headers=headers)
            assert queue.status_code == 200 and queue.json()["total"] == before + 1
            assert call(client, "GET", "/sla/stats", headers=headers).status_code == 200
            assert call(client, "GET", "/readyz").status_code == 200
            assert rebuild.is_alive()
            go.set()
            rebuild.join(120)
            assert built and built[0][0] == "rm_blue"
            # Written after the rebuild reached the head, before the switch: only the old
            # schema has it; the runner applies it to the new one after the switch.
            between = call(client, "POST", "/tickets", json=RECEIVE, headers=headers).json()
            assert runner.wait_for(between["position"], 10)

            main = PostgresReadStore(postgres_conninfo(postgres_env))
            assert switch_to(main, "blue") == (main.home, "rm_blue")
            main.close()
            assert wait_until(lambda: call(client, "GET", "/healthz").status_code == 200
                              and store.schema == "rm_blue")
            later = call(client, "POST", "/tickets", json=RECEIVE, headers=headers).json()
            queue = call(client, "GET", f"/queue?min_position={later['position']}", headers=headers)
            assert queue.status_code == 200 and queue.json()["total"] == before + 3
            shown = {item["id"] for item in call(client, "GET", "/queue?limit=500",
                                                 headers=headers).json()["items"]}
            assert {during["id"], between["id"], later["id"]} <= shown
            assert runner.wait_for(later["position"], 10)
            head = desk.recorder.max_notification_id()
            assert store.query("SELECT MIN(notification_id) AS p FROM projection_tracking"
                               )[0]["p"] == head
            live = rows_of(postgres_env, "rm_blue", model_tables(runner))
            old = rows_of(postgres_env, store.home, model_tables(runner))
        # Row for row what a fresh build of the same log gives; the old schema was left
        # as it was at the switch (kept for switching back), behind by the last ticket.
        fresh, position = build_into(postgres_env, desk, "fresh")
        assert position == head
        assert live == rows_of(postgres_env, fresh, model_tables(runner))
        assert live != old
    finally:
        desk.close()


@pytest.mark.postgres
def test_two_replicas_follow_the_switch_and_keep_identical_read_models(
        postgres_env: dict[str, str]) -> None:
    """Two serving processes (each its own desk, pool and runner): both move to the new
    schema, both keep applying, and nothing is applied twice."""
    clock = ManualClock(NOW)
    first = SupportDesk(env=postgres_env, clock=clock)
    second = SupportDesk(env=postgres_env, clock=clock)
    generate(first, 600, seed=8, per_day=50)
    try:
        with serving(postgres_env, first, clock) as (one, models_one, runner_one), \
                serving(postgres_env, second, clock) as (two, models_two, runner_two):
            apis = [api_over(first, models_one, runner_one), api_over(second, models_two, runner_two)]
            build_into(postgres_env, first, "green")
            main = PostgresReadStore(postgres_conninfo(postgres_env))
            switch_to(main, "green")
            main.close()
            # Writes through both replicas while they notice the switch.
            for index in range(12):
                client, headers = apis[index % 2]
                assert call(client, "POST", "/tickets", json=RECEIVE, headers=headers).status_code == 201
                if index == 5:
                    threading.Event().wait(0.6)
            head = first.recorder.max_notification_id()
            assert wait_until(lambda: one.schema == two.schema == "rm_green")
            assert runner_one.wait_for(head, 20) and runner_two.wait_for(head, 20)
            tables = model_tables(runner_one)
            switched = rows_of(postgres_env, "rm_green", tables)
            assert models_one.position() == models_two.position() == head
        fresh, _ = build_into(postgres_env, first, "check")
        assert switched == rows_of(postgres_env, fresh, tables)
    finally:
        second.close()
        first.close()


def cli_settings(env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    values = {"PERSISTENCE": "postgres", "MAIL_DB_PATH": str(tmp_path / "mail.sqlite"),
              "TOKENS_FILE": str(tmp_path / "tokens.json"), "LOG_FORMAT": "text"}
    values |= {key: env[key] for key in ("POSTGRES_HOST", "POSTGRES_PORT", "POSTGRES_DBNAME",
                                         "POSTGRES_USER", "POSTGRES_PASSWORD")}
    for name, value in values.items():
        monkeypatch.setenv(f"PASS24_{name}", value)


@pytest.mark.postgres
def test_cli_rebuilds_into_a_new_schema_switches_and_drops_the_old(
        postgres_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    from services.cli import main

    desk = SupportDesk(env=postgres_env)
    generate(desk, 400, seed=4, per_day=50)
    head = desk.recorder.max_notification_id()
    desk.close()
    cli_settings(postgres_env, tmp_path, monkeypatch)
    assert main(["projections", "rebuild"]) == 0  # in place, in the desk's own schema

    assert main(["projections", "rebuild", "--into", "blue", "--switch"]) == 0
    assert "rm_blue" in capsys.readouterr().out
    assert schema_of(postgres_env) == "rm_blue"
    store = store_for(postgres_env)
    assert isinstance(store, PostgresReadStore) and store.schema == "rm_blue"
    positions = store.query("SELECT notification_id FROM projection_tracking")
    assert {p["notification_id"] for p in positions} == {head}
    # The index left out during the bulk load is there at the end, in the new schema.
    assert store.query("SELECT 1 FROM pg_indexes WHERE schemaname = 'rm_blue' "
                       "AND indexname = 'rm_history_ticket'")
    store.close()

    def refused(*args: str) -> str:
        capsys.readouterr()
        assert main(list(args)) == 2
        error = capsys.readouterr().err
        assert error.startswith("pass24-desk: ") and error.count("\n") == 1, error
        return error

    assert "exists" in refused("projections", "rebuild", "--into", "blue")  # never over one
    for bad in ("Blue", "rm-blue", "blue;drop", "1blue", "x" * 41, "var/read-2.sqlite"):
        assert "a-z, 0-9 and _" in refused("projections", "rebuild", "--into", bad)
    assert "a-z, 0-9 and _" in refused("projections", "switch", "Bad-Name")
    assert "holds no read models" in refused("projections", "switch", "nothing")
    assert "live read store" in refused("projections", "drop-old", "blue")

    def indexes(schema: str) -> list[str]:
        with psycopg.connect(postgres_conninfo(postgres_env)) as conn:
            return sorted(r[0] for r in conn.execute(
                "SELECT indexname FROM pg_indexes WHERE schemaname = %s", (schema,)))

    live_indexes = indexes("rm_blue")
    assert main(["projections", "rebuild", "--into", "green"]) == 0
    assert schema_of(postgres_env) == "rm_blue"  # built, not switched
    # The bulk load left indexes out of the new schema only, and built them at the end.
    assert indexes("rm_blue") == live_indexes == indexes("rm_green")
    assert main(["projections", "switch", "green"]) == 0
    assert "drop-old blue" in capsys.readouterr().out
    assert main(["projections", "status"]) == 0
    status = capsys.readouterr().out
    assert "rm_blue" in status and "rm_green" in status and "live" in status
    assert main(["projections", "drop-old", "blue"]) == 0
    main_store = PostgresReadStore(postgres_conninfo(postgres_env))
    assert [s.schema for s in read_schemas(main_store)] == [main_store.home, "rm_green"]
    # Back to the read models in the desk's own schema (as before any switch).
    assert main(["projections", "switch", "--original"]) == 0
    assert schema_of(postgres_env) == main_store.home
    store = store_for(postgres_env)
    assert isinstance(store, PostgresReadStore) and store.schema == store.home
    assert store.query("SELECT MIN(notification_id) AS p FROM projection_tracking")[0]["p"] == head
    store.close()
    main_store.close()


@pytest.mark.postgres
def test_a_half_built_schema_is_not_switched_to(postgres_env: dict[str, str], tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    from services.cli import main

    desk = SupportDesk(env=postgres_env)
    generate(desk, 200, seed=2, per_day=50)
    conninfo = postgres_conninfo(postgres_env)
    main_store = PostgresReadStore(conninfo)
    schema = new_schema(main_store, "half")
    store = PostgresReadStore(conninfo, schema=schema)
    _, runner = build_projections(desk, calendar=desk.calendar, clock=desk.clock, store=store)
    runner.follower.batch_size = runner.catch_up_batch = 50
    runner._step()  # one batch, then the build "crashes"  # noqa: SLF001
    store.close()
    desk.close()
    cli_settings(postgres_env, tmp_path, monkeypatch)
    assert main(["projections", "switch", "half"]) == 2
    assert "not built to the end" in capsys.readouterr().err
    assert main(["projections", "drop-old", "half"]) == 0
    main_store.close()


@pytest.mark.postgres
def test_poison_after_a_switch_is_parked_in_the_main_schema_and_retried_into_the_new_one(
        postgres_env: dict[str, str]) -> None:
    from projections.follower import NotificationFollower
    from projections.parking import ParkingLot, PoisonGuard
    from projections.system import all_projections
    from tests.integration.test_poison import MARK, Flaky, classify, receive

    desk = SupportDesk(env=postgres_env, clock=ManualClock(NOW))
    conninfo = postgres_conninfo(postgres_env)
    main = PostgresReadStore(conninfo)
    lot = ParkingLot(main)
    receive(desk, "До перестройки")
    build_into(postgres_env, desk, "next")
    switch_to(main, "next")
    store = store_for(postgres_env)
    try:
        assert isinstance(store, PostgresReadStore) and store.schema == "rm_next"
        # The runner marks a retried event applied in its own transaction: the parking
        # lot's table, named across schemas (the lot stays in the desk's own schema).
        assert store.shared_table(main, "parked_events") == f'"{main.home}"."parked_events"'
        flaky = Flaky()
        runner = ProjectionRunner(NotificationFollower(desk), store,
                                  [*all_projections(desk.calendar), flaky],
                                  guard=PoisonGuard(lot, "projections"))
        models = ReadModels(store, calendar=desk.calendar, clock=desk.clock)
        poison = receive(desk, f"{MARK} в теме")
        classify(desk, poison)
        other = receive(desk, "После перестройки")
        assert runner.catch_up() == desk.recorder.max_notification_id()
        assert [p.state for p in lot.items(worker="projections")] == ["parked", "held"]
        assert store.query("SELECT to_regclass('rm_next.parked_events') IS NULL AS none"
                           )[0]["none"]
        assert poison not in {i["id"] for i in models.queue(limit=100).items}
        flaky.broken = False
        lot.retry([lot.items(worker="projections")[0].id], actor="test")
        assert runner.retry_parked() == 2
        assert lot.items(worker="projections") == []
        assert {poison, other} <= {i["id"] for i in models.queue(limit=100).items}
    finally:
        store.close()
        main.close()
        desk.close()


def rows_in(store: Any, tables: list[str]) -> dict[str, list[str]]:
    return {t: sorted(repr(sorted(row.items())) for row in store.query(f"SELECT * FROM {t}"))  # noqa: S608
            for t in tables}


@pytest.mark.parametrize("kind", [pytest.param("postgres", marks=pytest.mark.postgres),
                                  "sqlite"])
def test_a_switch_under_a_batch_makes_the_runner_read_it_again_from_the_new_positions(
        kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    """The old store is ahead of the new one (written after its build); the switch lands
    between reading a batch after the old positions and applying it: the batch is
    dropped and read again from the new store's positions, so nothing is skipped.
    (Both stores: the runner's check is the same.)"""
    from projections.store import SQLiteReadStore, pointer_for
    from tests.integration.test_poison import receive

    if kind == "postgres":
        env = request.getfixturevalue("postgres_env")
    else:
        env = {"PERSISTENCE_MODULE": "eventsourcing.sqlite",
               "SQLITE_DBNAME": str(tmp_path / "d.sqlite")}
    clock = ManualClock(NOW)
    desk = SupportDesk(env=env, clock=clock)
    generate(desk, 300, seed=6, per_day=50)
    store = store_for(env)
    main = PostgresReadStore(postgres_conninfo(env)) if kind == "postgres" else None

    def build(name: str) -> Any:
        if main is not None:
            return PostgresReadStore(postgres_conninfo(env), schema=build_into(env, desk, name)[0])
        built = SQLiteReadStore(tmp_path / f"{name}.sqlite")
        build_projections(desk, calendar=desk.calendar, clock=clock, store=built)[1].catch_up()
        return built

    def switch() -> None:
        if main is not None:
            switch_to(main, "gap")
        else:
            assert isinstance(store, SQLiteReadStore)
            SQLiteReadStore.write_pointer(pointer_for(store.path), tmp_path / "gap.sqlite")
            store._next_check = 0.0  # noqa: SLF001 - due now, as half a second later
        assert store.follow_switch(every=0)

    try:
        _, runner = build_projections(desk, calendar=desk.calendar, clock=clock, store=store)
        runner.catch_up()
        build("gap").close()
        for index in range(5):
            receive(desk, f"Между сборкой и переключением {index}")
        runner.catch_up()  # the old store moves past the new one's positions
        for index in range(5):
            receive(desk, f"После переключения {index}")
        original = runner.follower.records
        switched: list[bool] = []

        def records(after: int, limit: int | None = None) -> Any:
            found = original(after, limit)
            if found and not switched:
                switched.append(True)
                switch()
            return found

        runner.follower.records = records  # type: ignore[method-assign]
        head = desk.recorder.max_notification_id()
        assert runner.catch_up() == head
        assert switched
        tables = model_tables(runner)
        fresh = build("fresh")
        assert rows_in(store, tables) == rows_in(fresh, tables)
        fresh.close()
    finally:
        store.close()
        if main is not None:
            main.close()
        desk.close()


@pytest.mark.postgres
def test_read_your_writes_waits_on_the_new_schema_once_the_store_switched(
        postgres_env: dict[str, str]) -> None:
    """A query may notice the switch before the runner does: from then on the runner's
    position is the new schema's (behind the old one), so ``min_position`` waits for the
    runner to apply the tail there instead of answering from positions of the old one."""
    from tests.integration.test_poison import receive

    desk = SupportDesk(env=postgres_env, clock=ManualClock(NOW))
    generate(desk, 300, seed=12, per_day=50)
    store = store_for(postgres_env)
    main = PostgresReadStore(postgres_conninfo(postgres_env))
    _, runner = build_projections(desk, calendar=desk.calendar, clock=desk.clock, store=store,
                                  poll_interval=0.02)
    try:
        runner.catch_up()
        _, built = build_into(postgres_env, desk, "ryw")
        for index in range(3):
            receive(desk, f"Записано до переключения {index}")
        head = runner.catch_up()  # the old schema is ahead of the new one
        assert head > built
        switch_to(main, "ryw")
        assert store.follow_switch(every=0)  # as a dashboard query would, first
        assert runner.position() == built
        assert not runner.wait_for(head, 0.2)  # nothing applies it: the runner is not running
        runner.start()
        assert runner.wait_for(head, 10)
        assert store.query("SELECT MIN(notification_id) AS p FROM projection_tracking"
                           )[0]["p"] == head
    finally:
        runner.stop()
        store.close()
        main.close()
        desk.close()
