"""The SLA watcher on the in-memory event store, driven by a manual clock."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from domain.values import Category, Channel, Level, PostponeReason, Product
from projections.readmodels import ReadModels
from projections.runner import ProjectionRunner
from projections.store import SQLiteReadStore
from projections.system import build_projections
from services.application import SupportDesk
from services.clock import ManualClock
from services.watcher import SlaWatcher
from tests.helpers import AGENT, CLIENT, SYSTEM, msk


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(msk("2025-04-28 09:00"))


@pytest.fixture
def desk(clock: ManualClock) -> Iterator[SupportDesk]:
    desk = SupportDesk(clock=clock)
    yield desk
    desk.close()


@pytest.fixture
def models(desk: SupportDesk, clock: ManualClock) -> Iterator[tuple[ReadModels, ProjectionRunner]]:
    store = SQLiteReadStore(":memory:")
    yield build_projections(desk, calendar=desk.calendar, clock=clock, store=store)
    store.close()


def emergency(desk: SupportDesk, clock: ManualClock) -> str:
    """An emergency received at 09:00: reaction due 10:00 (at risk 09:45), resolution due 13:00."""
    clock.set(msk("2025-04-28 09:00"))
    tid = desk.receive(channel=Channel.PHONE, requester=CLIENT, subject="Gate down",
                       description="Nothing opens", product_version="3.1", actor=SYSTEM).ticket_id
    desk.classify(tid, level=Level.EMERGENCY, product=Product.CONTROL,
                  category=Category.OPERATIONAL_FAILURE, actor=AGENT)
    return tid


def alerts(desk: SupportDesk, tid: str) -> list[tuple[str, str]]:
    return [(type(e).__name__, getattr(e, "clock", "")) for e in desk.ticket_events(tid)
            if type(e).__name__ in ("SlaAtRisk", "SlaBreached")]


def test_watcher_records_at_risk_then_breach_as_the_clock_passes(
    desk: SupportDesk, clock: ManualClock, models: tuple[ReadModels, ProjectionRunner]
) -> None:
    read, runner = models
    tid = emergency(desk, clock)
    runner.catch_up()
    watcher = SlaWatcher(desk, read, clock)
    clock.set(msk("2025-04-28 09:44"))
    assert watcher.run_once() == 0
    clock.set(msk("2025-04-28 09:45"))
    assert watcher.run_once() == 1
    assert alerts(desk, tid) == [("SlaAtRisk", "reaction")]
    runner.catch_up()
    assert watcher.run_once() == 0
    clock.set(msk("2025-04-28 10:01"))
    assert watcher.run_once() == 1
    runner.catch_up()
    assert alerts(desk, tid) == [("SlaAtRisk", "reaction"), ("SlaBreached", "reaction")]
    [event] = [e for e in desk.ticket_events(tid) if type(e).__name__ == "SlaBreached"]
    assert event.actor == {"kind": "system", "id": "pass24-desk"}  # type: ignore[attr-defined]
    timers = read.sla_timers(ticket_id=tid).items[0]
    assert timers["reaction"]["status"] == "breached" and len(timers["alerts"]) == 2


def test_watcher_skips_a_breach_straight_past_an_unrecorded_at_risk(
    desk: SupportDesk, clock: ManualClock, models: tuple[ReadModels, ProjectionRunner]
) -> None:
    read, runner = models
    tid = emergency(desk, clock)
    runner.catch_up()
    clock.set(msk("2025-04-28 10:30"))
    assert SlaWatcher(desk, read, clock).run_once() == 1
    assert alerts(desk, tid) == [("SlaBreached", "reaction")]


def test_a_lagging_read_model_does_not_record_twice(
    desk: SupportDesk, clock: ManualClock, models: tuple[ReadModels, ProjectionRunner]
) -> None:
    read, runner = models
    tid = emergency(desk, clock)
    runner.catch_up()
    clock.set(msk("2025-04-28 10:30"))
    watcher = SlaWatcher(desk, read, clock)
    assert watcher.run_once() == 1
    assert watcher.run_once() == 0  # the read model has not seen the breach: the ticket has
    assert alerts(desk, tid) == [("SlaBreached", "reaction")]


def test_paused_and_answered_clocks_raise_nothing(
    desk: SupportDesk, clock: ManualClock, models: tuple[ReadModels, ProjectionRunner]
) -> None:
    read, runner = models
    tid = emergency(desk, clock)
    clock.set(msk("2025-04-28 09:30"))
    desk.respond(tid, text="On it", actor=AGENT)
    desk.postpone(tid, reason=PostponeReason.CANNOT_REPRODUCE, actor=AGENT)
    runner.catch_up()
    clock.set(msk("2025-04-30 12:00"))
    assert read.due_alerts() == []
    assert SlaWatcher(desk, read, clock).run_once() == 0
    assert alerts(desk, tid) == []


def test_two_watchers_at_once_and_a_restarted_one_record_each_alert_once(
    desk: SupportDesk, clock: ManualClock, models: tuple[ReadModels, ProjectionRunner]
) -> None:
    read, runner = models
    ids = [emergency(desk, clock) for _ in range(5)]
    runner.catch_up()
    clock.set(msk("2025-04-28 13:30"))  # both clocks of every ticket past due
    watchers = [SlaWatcher(desk, read, clock) for _ in range(2)]
    counts: list[int] = []
    start = threading.Barrier(2)

    def run(watcher: SlaWatcher) -> None:
        start.wait()
        counts.append(watcher.run_once())

    threads = [threading.Thread(target=run, args=(w,)) for w in watchers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(counts) == 10
    for tid in ids:
        assert sorted(alerts(desk, tid)) == [("SlaBreached", "reaction"), ("SlaBreached", "resolution")]
    runner.rebuild()
    assert SlaWatcher(desk, read, clock).run_once() == 0  # restarted: all recorded already
    assert read.due_alerts() == []


def test_the_watcher_thread_runs_passes_until_stopped(
    desk: SupportDesk, clock: ManualClock, models: tuple[ReadModels, ProjectionRunner]
) -> None:
    read, runner = models
    tid = emergency(desk, clock)
    runner.catch_up()
    clock.set(msk("2025-04-28 10:30"))
    watcher = SlaWatcher(desk, read, clock, interval=0.01)
    watcher.start()
    try:
        for _ in range(200):
            if alerts(desk, tid):
                break
            threading.Event().wait(0.01)
    finally:
        watcher.stop()
    assert alerts(desk, tid) == [("SlaBreached", "reaction")]
