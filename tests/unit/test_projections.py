"""Read models on the in-memory event store and an in-memory SQLite read store."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta

import pytest

from domain.values import Category, Channel, Level, PostponeReason, Product, RequiredInfo
from projections.readmodels import ReadModels
from projections.runner import ProjectionRunner
from projections.sla_stats import summary
from projections.store import SQLiteReadStore
from projections.system import build_projections
from projections.tickets import plain_fields
from services.application import SupportDesk
from services.clock import ManualClock
from tests.helpers import AGENT, CLIENT, REQUESTER, SUPERVISOR, SYSTEM, msk


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


def receive(desk: SupportDesk, clock: ManualClock, at: str, subject: str = "Gate",
            description: str = "Gate does not open", version: str = "3.1") -> str:
    clock.set(msk(at))
    return desk.receive(channel=Channel.EMAIL, requester=CLIENT, subject=subject,
                        description=description, product_version=version,
                        actor=SYSTEM).ticket_id


def test_queue_status_follows_the_aggregate_through_a_whole_lifecycle(
    desk: SupportDesk, clock: ManualClock, models: tuple[ReadModels, ProjectionRunner]
) -> None:
    read, runner = models
    tid = receive(desk, clock, "2025-04-28 09:00", version="")  # missing version: waits
    steps = [
        lambda: desk.record_requester_reply(tid, text="3.1", product_version="3.1", actor=REQUESTER),
        lambda: desk.classify(tid, level=Level.EMERGENCY, product=Product.CONTROL,
                              category=Category.DEFECT, actor=AGENT),
        lambda: desk.confirm_emergency(tid, actor=SUPERVISOR),
        lambda: desk.assign(tid, assignee="agent.x", actor=AGENT),
        lambda: desk.request_information(tid, text="Logs?", items=[RequiredInfo.DESCRIPTION],
                                         actor=AGENT),
        lambda: desk.record_requester_reply(tid, text="Here", actor=REQUESTER),
        lambda: desk.escalate(tid, summary="Bug", expected_release=date(2025, 5, 10), actor=AGENT),
        lambda: desk.record_requester_reply(tid, text="Any news?", actor=REQUESTER),
        lambda: desk.record_fix_release(tid, release="3.2", actor=AGENT),
        lambda: desk.reclassify(tid, level=Level.STANDARD, reason="not critical", actor=SUPERVISOR),
        lambda: desk.postpone(tid, reason=PostponeReason.CANNOT_REPRODUCE, actor=AGENT),
        lambda: desk.resume(tid, actor=AGENT),
        lambda: desk.respond(tid, text="Fixed in 3.2", actor=AGENT),
        lambda: desk.resolve(tid, resolution="Updated", actor=AGENT),
        lambda: desk.reopen(tid, reason="Back again", actor=REQUESTER),
        lambda: desk.resolve(tid, resolution="Updated again", actor=AGENT),
        lambda: desk.close_ticket(tid, actor=SYSTEM),
    ]
    for step in steps:
        clock.advance(timedelta(minutes=20))
        step()
        runner.catch_up()
        ticket = desk.get_ticket(tid)
        row = read.store.query("SELECT * FROM rm_queue WHERE ticket_id = ?", (tid,))[0]
        assert (row["status"], row["level"], bool(row["emergency"]), row["assignee"],
                row["product"], row["version"]) == (
            ticket.status.value, ticket.level.value if ticket.level else None,
            ticket.emergency_confirmed, ticket.assignee, ticket.product.value, ticket.version)
        timers = read.sla_timers(ticket_id=tid).items[0]
        state = ticket.sla(clock.now(), desk.calendar)
        assert timers["reaction"]["status"] == state.reaction.status.value
        assert timers["resolution"]["due_at"] == state.resolution.due_at.isoformat()
        assert timers["status"] == ticket.status.value
    assert read.queue().total == 0
    kinds = [p["kind"] for p in read.sla_timers(ticket_id=tid).items[0]["paused_intervals"]]
    assert kinds == ["waiting_for_requester", "waiting_for_requester", "waiting_for_release",
                     "postponed", "resolved", "resolved"]


def test_history_lists_every_event_as_json_ready_records(
    desk: SupportDesk, clock: ManualClock, models: tuple[ReadModels, ProjectionRunner]
) -> None:
    read, runner = models
    tid = receive(desk, clock, "2025-04-28 09:00")
    clock.set(msk("2025-04-28 09:30"))
    desk.escalate(tid, summary="Bug", expected_release=date(2025, 5, 10), actor=AGENT)
    runner.catch_up()
    page = read.history(tid)
    assert page.total == 2
    received, escalated = page.items
    assert [received["version"], escalated["version"]] == [1, 2]
    assert received["type"] == "Received" and received["at"] == "2025-04-28T09:00:00+03:00"
    assert received["actor"] == {"kind": "system", "id": "pass24-desk"}
    assert received["fields"]["subject"] == "Gate" and "at" not in received["fields"]
    assert escalated["fields"]["expected_release"] == "2025-05-10"
    assert escalated["fields"]["sla"]["resolution"]["paused_since"] == "2025-04-28T09:30:00+03:00"
    assert escalated["position"] > received["position"]
    assert read.history(tid, limit=1, offset=1).items == [escalated]
    assert read.history("P24-000000").total == 0
    assert read.history("not an id").items == []


def test_stored_json_unwraps_to_plain_values() -> None:
    text = ('{"at":{"_type_":"datetime_iso","_data_":"2025-04-28T09:00:00+03:00"},'
            '"x":[{"_type_":"datetime_iso","_data_":"2025-01-01T00:00:00+00:00"}],"n":1}')
    assert plain_fields(text) == {"at": "2025-04-28T09:00:00+03:00",
                                  "x": ["2025-01-01T00:00:00+00:00"], "n": 1}


def test_queue_filters_by_assignee_and_pages(
    desk: SupportDesk, clock: ManualClock, models: tuple[ReadModels, ProjectionRunner]
) -> None:
    read, runner = models
    ids = [receive(desk, clock, f"2025-04-28 10:0{n}", subject=f"T{n}") for n in range(4)]
    clock.set(msk("2025-04-28 11:00"))
    desk.assign(ids[1], assignee="agent.x", actor=AGENT)
    desk.assign(ids[3], assignee="agent.x", actor=AGENT)
    runner.catch_up()
    assert [i["id"] for i in read.queue(assignee="agent.x").items] == [ids[1], ids[3]]
    page = read.queue(limit=2, offset=2)
    assert [i["id"] for i in page.items] == ids[2:] and page.total == 4
    item = page.items[0]
    # 8 working hours (standard, the default level) from 10:02: 7 h 58 min today, 2 min tomorrow
    assert item["sla"]["reaction"]["due_at"] == "2025-04-29T09:02:00+03:00"
    assert item["sla"]["reaction"]["remaining_seconds"] == 7 * 3600 + 120  # it is 11:00
    assert item["received_at"] == "2025-04-28T10:02:00+03:00" and item["channel"] == "email"


def test_position_is_the_lowest_model_position_and_a_new_model_catches_up_alone(
    desk: SupportDesk, clock: ManualClock, models: tuple[ReadModels, ProjectionRunner]
) -> None:
    read, runner = models
    receive(desk, clock, "2025-04-28 10:00")
    assert read.position() == 0
    head = runner.catch_up()
    assert read.position() == head == runner.follower.head()
    read.store.query("UPDATE projection_tracking SET notification_id = 0 WHERE projection_name = 'history'")
    read.store.query("DELETE FROM rm_history")
    assert read.position() == 0
    runner.catch_up()
    assert read.position() == head
    assert read.store.query("SELECT COUNT(*) AS n FROM rm_queue")[0]["n"] == 1
    assert read.store.query("SELECT COUNT(*) AS n FROM rm_history")[0]["n"] == 1


def test_percentiles_are_nearest_rank() -> None:
    assert summary([]) == {"median": None, "p90": None}
    assert summary([5.0]) == {"median": 5.0, "p90": 5.0}
    assert summary([float(n) for n in range(1, 11)]) == {"median": 5.5, "p90": 9.0}
    assert summary([float(n) for n in range(1, 12)]) == {"median": 6.0, "p90": 10.0}


def test_stats_measure_first_reply_and_resolution_in_working_time(
    desk: SupportDesk, clock: ManualClock, models: tuple[ReadModels, ProjectionRunner]
) -> None:
    read, runner = models
    # a: received Friday 17:00, replied Monday 10:00 (2 working hours), postponed 10:30-11:30,
    # resolved Monday 12:00 (4 working hours, 1 of them postponed). b: replied after 1 hour.
    a = receive(desk, clock, "2025-05-16 17:00")
    clock.set(msk("2025-05-16 17:10"))
    desk.classify(a, level=Level.STANDARD, product=Product.ONLINE,
                  category=Category.GENERAL_CONSULTATION, actor=AGENT)
    clock.set(msk("2025-05-19 10:00"))
    desk.respond(a, text="Hello", actor=AGENT)
    clock.set(msk("2025-05-19 10:30"))
    desk.postpone(a, reason=PostponeReason.CANNOT_REPRODUCE, actor=AGENT)
    clock.set(msk("2025-05-19 11:30"))
    desk.resume(a, actor=AGENT)
    clock.set(msk("2025-05-19 12:00"))
    desk.resolve(a, resolution="Done", actor=AGENT)
    b = receive(desk, clock, "2025-05-19 12:00", subject="B")
    clock.set(msk("2025-05-19 13:00"))
    desk.classify(b, level=Level.STANDARD, product=Product.ONLINE,
                  category=Category.GENERAL_CONSULTATION, actor=AGENT)
    desk.respond(b, text="Hi", actor=AGENT)
    runner.catch_up()
    clock.set(msk("2025-05-19 14:00"))
    [row] = read.stats()
    assert (row["level"], row["product"]) == ("standard", "pass24_online")
    assert (row["received"], row["resolved"], row["breached"], row["met"]) == (2, 1, 0, 1)
    # first replies: a 2 h (Fri 17-18, Mon 9-10), b 1 h; resolution of a: 4 h - 1 h postponed
    assert row["first_reply_seconds"] == {"median": 5400.0, "p90": 7200.0}
    assert row["resolution_seconds"] == {"median": 10800.0, "p90": 10800.0}
    assert read.stats(since=msk("2025-05-19 00:00"))[0]["received"] == 1
    assert read.stats(product="pass24_control") == []
