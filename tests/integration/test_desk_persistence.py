"""SupportDesk on real stores: an SQLite file and a real PostgreSQL server."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from domain.errors import ConcurrencyConflict
from domain.sla import ClockStatus
from domain.ticket import Ticket
from domain.values import Actor, Category, Channel, Level, Product, Status
from services.application import SupportDesk
from services.clock import ManualClock
from tests.helpers import AGENT, CLIENT, REQUESTER, SYSTEM, msk


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_env(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[dict[str, str]]:
    """The eventsourcing environment of a fresh, empty store of each kind."""
    if request.param == "sqlite":
        yield {
            "PERSISTENCE_MODULE": "eventsourcing.sqlite",
            "SQLITE_DBNAME": str(tmp_path / "desk.sqlite"),
            "SQLITE_LOCK_TIMEOUT": "10",
        }
    else:
        yield request.getfixturevalue("postgres_env")


def make_desk(env: dict[str, str], **extra: Any) -> SupportDesk:
    return SupportDesk(env=env, clock=ManualClock(msk("2025-04-28 10:00")), **extra)


def new_ticket(desk: SupportDesk, key: str = "") -> str:
    return desk.receive(
        channel=Channel.EMAIL, requester=CLIENT, subject="Журнал не открывается",
        description="Visitor journal shows an error", product=Product.ONLINE,
        product_version="2025.4", actor=SYSTEM, intake_key=key,
    ).ticket_id


def test_lifecycle_survives_a_restart(store_env: dict[str, str]) -> None:
    desk = make_desk(store_env)
    ticket_id = new_ticket(desk, "<a@example.ru>")
    desk.classify(ticket_id, level=Level.STANDARD, product=Product.ONLINE,
                  category=Category.DEFECT, actor=AGENT, at=msk("2025-04-28 10:05"))
    desk.request_information(ticket_id, text="Screenshot?", actor=AGENT,
                             at=msk("2025-04-28 10:30"))
    desk.record_requester_reply(ticket_id, text="Here", actor=REQUESTER,
                                at=msk("2025-04-29 10:30"))
    desk.resolve(ticket_id, resolution="Cache cleared", actor=AGENT, at=msk("2025-04-29 12:00"))
    desk.close()

    reopened = make_desk(store_env)
    ticket = reopened.get_ticket(ticket_id)
    assert ticket.status is Status.RESOLVED
    assert ticket.version == 5
    sla = ticket.sla(msk("2025-05-01 12:00"), reopened.calendar)
    assert sla.resolution.status is ClockStatus.MET
    assert sla.resolution.paused.total_seconds() == 9 * 3600
    assert new_ticket(reopened, "<a@example.ru>") == ticket_id
    reopened.close()


def test_intake_key_is_idempotent_across_desk_instances(store_env: dict[str, str]) -> None:
    one, two = make_desk(store_env), make_desk(store_env)
    first = new_ticket(one, "<same@example.ru>")
    assert new_ticket(two, "<same@example.ru>") == first
    one.close()
    two.close()


def test_concurrent_intake_of_one_key_makes_one_ticket(store_env: dict[str, str]) -> None:
    desks = [make_desk(store_env) for _ in range(4)]
    results: list[str] = []
    barrier = threading.Barrier(len(desks))

    def deliver(desk: SupportDesk) -> None:
        barrier.wait()
        results.append(new_ticket(desk, "<race@example.ru>"))

    threads = [threading.Thread(target=deliver, args=(d,)) for d in desks]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 4 and len(set(results)) == 1
    for desk in desks:
        desk.close()


def test_two_writers_never_lose_an_update(store_env: dict[str, str]) -> None:
    setup = make_desk(store_env)
    ticket_id = new_ticket(setup)
    writers = [make_desk(store_env, attempts=50) for _ in range(3)]
    outcomes: list[str] = []
    barrier = threading.Barrier(len(writers))

    def work(index: int, desk: SupportDesk) -> None:
        barrier.wait()
        for n in range(10):
            try:
                desk.assign(ticket_id, assignee=f"agent.{index}.{n}", actor=AGENT)
                outcomes.append("ok")
            except ConcurrencyConflict:
                outcomes.append("conflict")

    threads = [threading.Thread(target=work, args=(i, d)) for i, d in enumerate(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    events = setup.ticket_events(ticket_id)
    assigned = [e.assignee for e in events if type(e).__name__ == "Assigned"]  # type: ignore[attr-defined]
    assert len(assigned) == outcomes.count("ok")
    assert len(assigned) + outcomes.count("conflict") == 30
    assert [e.originator_version for e in events] == list(range(1, len(events) + 1))
    for desk in (setup, *writers):
        desk.close()


def test_long_history_is_loaded_from_a_snapshot(store_env: dict[str, str]) -> None:
    desk = make_desk(store_env)
    ticket_id = new_ticket(desk)
    for n in range(60):
        desk.assign(ticket_id, assignee=f"agent.{n}", actor=AGENT)
    assert desk.snapshots is not None
    snapshots = list(desk.snapshots.get(desk.get_ticket(ticket_id).id))
    assert [s.originator_version for s in snapshots] == [50]
    fresh = make_desk(store_env)
    ticket: Ticket = fresh.get_ticket(ticket_id)
    assert ticket.assignee == "agent.59" and ticket.version == 61
    assert ticket.requester == CLIENT
    desk.close()
    fresh.close()


def test_history_reads_back_with_actors_and_times(store_env: dict[str, str]) -> None:
    desk = make_desk(store_env)
    ticket_id = new_ticket(desk)
    desk.respond(ticket_id, text="Привет", links=["https://docs.pass24online.ru"], actor=AGENT,
                 at=msk("2025-04-28 10:20"))
    events = make_desk(store_env).ticket_events(ticket_id)
    responded = events[-1]
    assert responded.text == "Привет"  # type: ignore[attr-defined]
    assert Actor.from_dict(responded.actor) == AGENT  # type: ignore[attr-defined]
    assert responded.at == msk("2025-04-28 10:20")  # type: ignore[attr-defined]
    desk.close()


def test_a_stale_cache_in_one_process_never_decides_against_the_store(
    store_env: dict[str, str],
) -> None:
    one, two = make_desk(store_env), make_desk(store_env)
    ticket_id = new_ticket(one, "<stale@x>")
    one.classify(ticket_id, level=Level.STANDARD, product=Product.ONLINE,
                 category=Category.DEFECT, actor=AGENT, at=msk("2025-04-28 10:05"))
    one.resolve(ticket_id, resolution="done", actor=AGENT, at=msk("2025-04-28 10:10"))
    one.close_ticket(ticket_id, actor=AGENT, at=msk("2025-04-28 10:11"))
    assert two.get_ticket(ticket_id).status is Status.CLOSED  # now cached in `two`
    one.reopen(ticket_id, reason="back", actor=REQUESTER, at=msk("2025-04-28 10:20"))
    # `two` still has the closed ticket cached; responding must see the reopening
    two.respond(ticket_id, text="On it", actor=AGENT, at=msk("2025-04-28 10:30"))
    # and a write of `two` on a stale cache is caught by the version check and re-run
    one.assign(ticket_id, assignee="agent.one", actor=AGENT, at=msk("2025-04-28 10:40"))
    two.assign(ticket_id, assignee="agent.two", actor=AGENT, at=msk("2025-04-28 10:50"))
    names = [type(e).__name__ for e in one.ticket_events(ticket_id)]
    assert names[-4:] == ["Reopened", "Responded", "Assigned", "Assigned"]
    assert one.get_ticket(ticket_id).assignee == "agent.two"
    one.close()
    two.close()
