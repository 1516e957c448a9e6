"""Read models on real stores: SQLite files and a real PostgreSQL server."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from domain.values import Actor, Category, Channel, Level, PostponeReason, Product, Requester
from projections.readmodels import ReadModels
from projections.runner import ProjectionRunner
from projections.store import ReadStore, store_for
from projections.system import build_projections
from services.application import SupportDesk
from services.clock import ManualClock
from services.watcher import SlaWatcher
from tests.helpers import AGENT, CLIENT, SUPERVISOR, SYSTEM, msk


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_env(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[dict[str, str]]:
    if request.param == "sqlite":
        yield {"PERSISTENCE_MODULE": "eventsourcing.sqlite",
               "SQLITE_DBNAME": str(tmp_path / "desk.sqlite"), "SQLITE_LOCK_TIMEOUT": "10"}
    else:
        yield request.getfixturevalue("postgres_env")


@dataclass
class World:
    env: dict[str, str]
    clock: ManualClock
    desk: SupportDesk
    models: ReadModels
    runner: ProjectionRunner
    opened: list[Any]

    def reopen(self) -> tuple[ReadModels, ProjectionRunner]:
        """A second process: a fresh read store and runner on the same databases."""
        store = store_for(self.env)
        self.opened.append(store)
        return build_projections(self.desk, calendar=self.desk.calendar, clock=self.clock,
                                 store=store)

    def receive(self, subject: str, at: str, **extra: Any) -> str:
        self.clock.set(msk(at))
        return self.desk.receive(channel=Channel.EMAIL, requester=CLIENT, subject=subject,
                                 description="Details", product_version="1.0", actor=SYSTEM,
                                 **extra).ticket_id

    def classify(self, ticket_id: str, level: Level, at: str,
                 product: Product = Product.ONLINE) -> None:
        self.clock.set(msk(at))
        self.desk.classify(ticket_id, level=level, product=product,
                           category=Category.OPERATIONAL_FAILURE, actor=AGENT)


@pytest.fixture
def world(store_env: dict[str, str]) -> Iterator[World]:
    clock = ManualClock(msk("2025-04-28 09:00"))
    desk = SupportDesk(env=store_env, clock=clock)
    store = store_for(store_env)
    models, runner = build_projections(desk, calendar=desk.calendar, clock=clock, store=store)
    w = World(store_env, clock, desk, models, runner, [store])
    yield w
    runner.stop()
    for opened in w.opened:
        opened.close()
    desk.close()


TABLES = {"rm_queue": "ticket_uuid", "rm_sla_timers": "ticket_uuid",
          "rm_sla_stats": "ticket_uuid", "rm_history": "ticket_uuid, version"}


def rows(store: ReadStore) -> dict[str, list[dict[str, Any]]]:
    """Every read-model row, in a stable order."""
    return {table: store.query(f"SELECT * FROM {table} ORDER BY {key}")  # noqa: S608
            for table, key in TABLES.items()}


def lifecycle(w: World) -> list[str]:
    a = w.receive("A", "2025-04-28 09:10")
    b = w.receive("B", "2025-04-28 09:20")
    c = w.receive("C", "2025-04-28 09:30")
    w.classify(a, Level.STANDARD, "2025-04-28 10:00")
    w.classify(b, Level.CONSULTATION, "2025-04-28 10:10", product=Product.MOBILE_KEY)
    w.classify(c, Level.EMERGENCY, "2025-04-28 10:20", product=Product.CONTROL)
    w.clock.set(msk("2025-04-28 10:25"))
    w.desk.confirm_emergency(c, actor=SUPERVISOR)
    w.clock.set(msk("2025-04-28 11:00"))
    w.desk.respond(a, text="Looking", actor=AGENT)
    w.clock.set(msk("2025-04-28 12:00"))
    w.desk.respond(c, text="On it", actor=AGENT)
    w.clock.set(msk("2025-04-28 13:00"))
    w.desk.resolve(c, resolution="Restarted", actor=AGENT)
    w.clock.set(msk("2025-04-29 10:00"))
    w.desk.postpone(b, reason=PostponeReason.OUT_OF_SCOPE, actor=AGENT)
    return [a, b, c]


def test_rebuild_from_zero_equals_the_incremental_read_model(world: World) -> None:
    a = world.receive("A", "2025-04-28 09:10")
    world.runner.catch_up()
    ids = [a, *lifecycle(world)]
    world.runner.catch_up()
    incremental = rows(world.models.store)
    assert len(incremental["rm_queue"]) == 4
    logged = world.runner.follower.read(0, 1000)
    assert len(incremental["rm_history"]) == sum(1 for d in logged if d.topic.startswith("domain.ticket:"))
    assert world.runner.rebuild() == world.runner.follower.head()
    assert rows(world.models.store) == incremental
    assert {t["ticket_id"] for t in incremental["rm_sla_timers"]} == set(ids)


def test_restart_resumes_where_it_stopped_without_double_counting(world: World) -> None:
    lifecycle(world)
    world.runner.catch_up()
    before = rows(world.models.store)
    head = world.runner.follower.head()

    models, runner = world.reopen()
    assert runner.position() == head
    applied: list[int] = []
    history = runner.projections[2]
    original = history.apply
    history.apply = lambda cursor, events: (applied.extend(d.position for d in events),  # type: ignore[method-assign]
                                            original(cursor, events))[1]
    runner.catch_up()
    assert applied == []
    assert rows(models.store) == before

    d = world.receive("D", "2025-04-29 11:00")
    world.clock.set(msk("2025-04-29 11:05"))
    world.desk.assign(d, assignee="agent.x", actor=AGENT)
    runner.catch_up()
    assert applied == list(range(head + 1, world.runner.follower.head() + 1))
    assert [e["type"] for e in models.history(d).items] == ["Received", "Assigned"]
    assert len(rows(models.store)["rm_history"]) == len(before["rm_history"]) + 2


def test_a_failing_batch_leaves_neither_rows_nor_position(world: World) -> None:
    lifecycle(world)
    world.runner.follower.batch_size = 1000
    last = world.runner.projections[-1]
    original = last.apply

    def explode(cursor: Any, events: Any) -> None:
        original(cursor, events)  # the other models wrote their rows before this one fails
        raise RuntimeError("disk full")

    last.apply = explode  # type: ignore[method-assign]
    with pytest.raises(RuntimeError):
        world.runner.catch_up()
    assert world.runner.tracked_positions() == {p.name: 0 for p in world.runner.projections}
    assert world.models.position() == 0
    assert all(found == [] for found in rows(world.models.store).values())
    last.apply = original  # type: ignore[method-assign]
    world.runner.catch_up()
    assert len(rows(world.models.store)["rm_queue"]) == 3


def test_queue_puts_confirmed_emergencies_first_then_arrival(world: World) -> None:
    a, b, c = lifecycle(world)
    late = world.receive("late", "2025-04-29 11:00")
    world.classify(late, Level.EMERGENCY, "2025-04-29 11:05", product=Product.CONTROL)
    world.clock.set(msk("2025-04-29 11:06"))
    world.desk.confirm_emergency(late, actor=SUPERVISOR)
    unconfirmed = world.receive("unconfirmed", "2025-04-29 11:10")
    world.classify(unconfirmed, Level.EMERGENCY, "2025-04-29 11:15")
    world.runner.catch_up()
    queue = world.models.queue()
    assert [t["id"] for t in queue.items] == [late, a, b, unconfirmed]  # c is resolved
    assert queue.total == 4
    assert [t["id"] for t in world.models.queue(level="emergency").items] == [late, unconfirmed]
    assert [t["id"] for t in world.models.queue(product="mobile_pass24_key").items] == [b]
    assert [t["id"] for t in world.models.queue(status="postponed").items] == [b]
    page = world.models.queue(limit=2, offset=1)
    assert [t["id"] for t in page.items] == [a, b] and page.total == 4


def test_timers_move_to_at_risk_and_breached_as_time_passes(world: World) -> None:
    t = world.receive("slow", "2025-04-28 09:00")
    world.classify(t, Level.STANDARD, "2025-04-28 09:05")
    world.runner.catch_up()
    statuses = lambda: {k: world.models.sla_timers(ticket_id=t).items[0][k]["status"]  # noqa: E731
                        for k in ("reaction", "resolution")}
    assert statuses() == {"reaction": "on_track", "resolution": "on_track"}
    world.clock.set(msk("2025-04-28 15:30"))  # 6.5 of 8 working hours used
    assert statuses()["reaction"] == "at_risk"
    world.clock.set(msk("2025-04-29 09:30"))
    assert statuses()["reaction"] == "breached"
    assert world.models.sla_timers(status="breached").total == 1


def test_stats_count_and_measure_in_working_time(world: World) -> None:
    a, b, c = lifecycle(world)
    world.runner.catch_up()
    world.clock.set(msk("2025-04-29 12:00"))
    stats = {(r["level"], r["product"]): r for r in world.models.stats()}
    emergency = stats[("emergency", "pass24_control")]
    # reaction due 10:30 (1 h), first reply 12:00: breached, though resolved within 4 h
    assert (emergency["received"], emergency["resolved"]) == (1, 1)
    assert (emergency["breached"], emergency["met"]) == (1, 0)
    # received 09:30, first reply 12:00 -> 2.5 working hours; resolved 13:00 -> 3.5 hours
    assert emergency["first_reply_seconds"] == {"median": 9000.0, "p90": 9000.0}
    assert emergency["resolution_seconds"] == {"median": 12600.0, "p90": 12600.0}
    standard = stats[("standard", "pass24_online")]
    assert standard["first_reply_seconds"]["median"] == 6600.0  # 09:10 -> 11:00
    assert standard["resolved"] == 0
    only = world.models.stats(level="consultation", since=msk("2025-04-28 00:00"),
                              until=msk("2025-04-29 00:00"))
    assert [(r["level"], r["received"]) for r in only] == [("consultation", 1)]
    assert world.models.stats(since=msk("2025-05-01 00:00")) == []


def test_watcher_records_each_alert_once_even_with_two_watchers(world: World) -> None:
    t = world.receive("forgotten", "2025-04-28 09:00")
    world.classify(t, Level.STANDARD, "2025-04-28 09:05")
    world.runner.catch_up()
    world.clock.set(msk("2025-04-29 10:00"))  # reaction (8h) breached, resolution at 9h of 24
    first = SlaWatcher(world.desk, world.models, world.clock)
    second_models, second_runner = world.reopen()
    second = SlaWatcher(world.desk, second_models, world.clock)
    results: list[int] = []
    threads = [threading.Thread(target=lambda w=w: results.append(w.run_once())) for w in (first, second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    names = [type(e).__name__ for e in world.desk.ticket_events(t)]
    assert names.count("SlaBreached") == 1
    assert sum(results) == 1
    world.runner.catch_up()
    assert first.run_once() == 0  # a restarted watcher finds it recorded
    world.clock.set(msk("2025-04-30 17:00"))  # resolution clock at risk (18 of 24 h)
    world.runner.catch_up()
    assert first.run_once() == 1
    names = [type(e).__name__ for e in world.desk.ticket_events(t)]
    assert names.count("SlaAtRisk") == 1
    timers = world.models.sla_timers(ticket_id=t)
    world.runner.catch_up()
    assert len(world.models.sla_timers(ticket_id=t).items[0]["alerts"]) == 2
    assert timers.total == 1


def test_read_your_writes_waits_for_the_position(world: World) -> None:
    world.runner.start()
    receipt = world.desk.receive(channel=Channel.PHONE, requester=Requester(phone="+7 900 1"),
                                 subject="s", description="d", actor=Actor.staff("a"))
    assert receipt.position is not None
    assert world.runner.wait_for(receipt.position, timeout=10)
    assert world.models.queue().total == 1
    assert not world.runner.wait_for(receipt.position + 1000, timeout=0.2)


def test_runner_thread_survives_and_follows(world: World) -> None:
    world.runner.start()
    ids = [world.receive(f"T{n}", f"2025-04-28 10:0{n}") for n in range(3)]
    assert world.runner.wait_for(world.runner.follower.head(), timeout=10)
    assert {t["id"] for t in world.models.queue().items} == set(ids)
    world.clock.advance(timedelta(minutes=1))


def test_two_runners_on_one_read_store_never_apply_a_batch_twice(world: World) -> None:
    lifecycle(world)
    for n in range(20):
        world.receive(f"bulk {n}", f"2025-04-29 12:{n:02d}")
    world.runner.follower.batch_size = 3  # many small batches: many chances to collide
    world.runner.catch_up_batch = 3
    _, second = world.reopen()
    second.follower.batch_size = second.catch_up_batch = 3
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def run(runner: ProjectionRunner) -> None:
        start.wait()
        try:
            runner.catch_up()
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=run, args=(r,)) for r in (world.runner, second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    together = rows(world.models.store)
    assert world.runner.rebuild() == second.catch_up() == world.runner.follower.head()
    assert rows(world.models.store) == together
