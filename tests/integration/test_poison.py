"""Poison isolation in the workers, on SQLite and on a real PostgreSQL server.

Each test makes one worker fail on one marked item (a projection failing on one
event, a mailer failing on one letter, the SMTP hand-off failing for one
recipient, the SLA watcher failing for one ticket) and shows: every other ticket
is served, the poison is set aside in ``parked_events``, the ticket's later items
are held behind it (order kept), and ``retry`` applies them, in order, once the
fault is fixed.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from adapters.outbox.notices import Notices, NoticeSettings
from adapters.outbox.responses import ResponseMailer
from adapters.outbox.store import OutboundMail, Outbox
from adapters.outbox.worker import OutboxWorker
from domain.sla import ClockName
from domain.values import Category, Channel, Level, Product, Requester
from projections.follower import NotificationFollower
from projections.parking import ParkingLot, PoisonGuard
from projections.readmodels import ReadModels
from projections.runner import ProjectionRunner
from projections.store import Cursor, ReadStore, SQLiteReadStore, store_for
from projections.system import all_projections
from projections.tickets import TicketEvent
from services.application import SupportDesk
from services.clock import ManualClock
from services.watcher import SlaWatcher
from tests.fixtures.stores import Stores, desk, stores  # noqa: F401
from tests.helpers import AGENT, SYSTEM, msk

MARK = "POISON"


def receive(desk: SupportDesk, subject: str, email: str = "olga@example.ru") -> str:
    return desk.receive(channel=Channel.EMAIL, requester=Requester(name="Ольга", email=email),
                        subject=subject, description="Details", product_version="1.0",
                        actor=SYSTEM).ticket_id


def classify(desk: SupportDesk, ticket_id: str) -> None:
    desk.classify(ticket_id, level=Level.STANDARD, product=Product.ONLINE,
                  category=Category.OPERATIONAL_FAILURE, actor=AGENT)


class Flaky:
    """A read model that fails on every event of a marked ticket while ``broken``."""

    name = "flaky"
    tables: tuple[str, ...] = ()
    schema: tuple[str, ...] = ()

    def __init__(self) -> None:
        self.broken = True
        self.seen: list[tuple[str, int]] = []

    def apply(self, cursor: Cursor, events: Sequence[TicketEvent]) -> None:
        if self.broken and any(MARK in str(e.fields) for e in events):
            raise ValueError("flaky read model refuses the marked event")
        self.seen += [(e.ticket_uuid, e.version) for e in events]


def test_read_models_set_a_poison_event_aside_and_retry_it_in_order(
        stores: Stores, desk: SupportDesk) -> None:
    lot = ParkingLot(stores.main)
    flaky = Flaky()
    runner = ProjectionRunner(NotificationFollower(desk), stores.read,
                              [*all_projections(desk.calendar), flaky],
                              guard=PoisonGuard(lot, "projections"))
    models = ReadModels(stores.read, calendar=desk.calendar, clock=desk.clock)
    first = receive(desk, "Шлагбаум не открывается")
    poison = receive(desk, f"{MARK} в теме")
    classify(desk, poison)
    classify(desk, first)
    last = receive(desk, "Приложение падает")

    assert runner.catch_up() == desk.recorder.max_notification_id()  # did not stop

    queue = {item["id"]: item for item in models.queue(limit=100).items}
    assert set(queue) == {first, last}
    assert queue[first]["level"] == "standard"
    parked = lot.items(worker="projections")
    assert [(p.state, p.event_id.split(":")[1]) for p in parked] == [("parked", "1"),
                                                                     ("held", "2")]
    assert "flaky read model refuses" in parked[0].error
    assert parked[0].position > 0 and parked[0].parked_at

    # A later event of the poisoned ticket is held too; other tickets keep moving.
    classify(desk, last)
    runner.catch_up()
    assert [p.state for p in lot.items(worker="projections")] == ["parked", "held"]
    assert models.queue(limit=100).items[-1]["level"] == "standard"

    # Retrying while the fault remains parks it again; after the fix it applies, in order.
    assert lot.retry([parked[0].id], actor="test") == 1
    assert runner.retry_parked() == 0
    assert [p.state for p in lot.items(worker="projections")] == ["parked", "held"]
    flaky.broken = False
    lot.retry([parked[0].id], actor="test")
    assert runner.retry_parked() == 2
    assert lot.items(worker="projections") == []
    queue = {item["id"]: item for item in models.queue(limit=100).items}
    assert queue[poison]["level"] == "standard"  # Received applied before Classified
    assert [v for t, v in flaky.seen if t == str(desk_uuid(desk, poison))] == [1, 2]
    assert [a["action"] for a in lot.actions()] == ["retry", "retry"]


def desk_uuid(desk: SupportDesk, ticket_id: str) -> Any:
    from domain.ids import ticket_uuid

    return ticket_uuid(ticket_id)


@pytest.mark.postgres
def test_a_nul_character_postgres_refuses_is_set_aside_not_retried_forever(
        postgres_env: dict[str, str]) -> None:
    desk = SupportDesk(env=postgres_env, clock=ManualClock(msk("2025-04-28 09:00")))
    store = store_for(postgres_env)
    try:
        runner = ProjectionRunner(NotificationFollower(desk), store, all_projections(desk.calendar),
                                  guard=PoisonGuard(ParkingLot(store), "projections"))
        models = ReadModels(store, calendar=desk.calendar, clock=desk.clock)
        good = receive(desk, "Обычная заявка")
        try:
            bad = receive(desk, "NUL \x00 в теме")
        except Exception:  # the intake gate may refuse it already: then nothing to isolate
            pytest.skip("the desk refuses NUL characters at intake")
        if "\x00" not in desk.get_ticket(bad).subject:
            pytest.skip("the desk strips NUL characters at intake now: nothing poisons the models")
        after = receive(desk, "После NUL")
        runner.catch_up()
        ids = {i["id"] for i in models.queue(limit=10).items}
        assert ids == {good, after}
        parked = ParkingLot(store).items(worker="projections")
        assert len(parked) == 1 and "DataError" in parked[0].error and bad
    finally:
        store.close()
        desk.close()


class MarkedNotices(Notices):
    """Composes letters, except for answers containing the mark while ``broken``."""

    broken = True

    def response(self, ticket: Any, **kwargs: Any) -> OutboundMail | None:
        if self.broken and MARK in kwargs["text"]:
            raise ValueError("header refused")
        return super().response(ticket, **kwargs)


def test_the_response_mailer_sets_one_answer_aside_and_queues_the_others(
        stores: Stores, desk: SupportDesk) -> None:
    lot = ParkingLot(stores.main)
    outbox = Outbox(stores.main)
    notices = MarkedNotices(NoticeSettings(), desk.policy)
    mailer = ResponseMailer(desk, outbox, notices, guard=PoisonGuard(lot, "response-mailer"))
    a, p, c = (receive(desk, s, f"r{i}@example.ru") for i, s in enumerate(("A", "P", "C")))
    desk.respond(a, text="Ответ A", actor=AGENT)
    desk.respond(p, text=f"Ответ {MARK}", actor=AGENT)
    desk.respond(p, text="Второй ответ P", actor=AGENT)
    desk.respond(c, text="Ответ C", actor=AGENT)
    for _ in range(3):
        try:
            mailer.run_once()
        except ValueError:
            pass
    queued = [e.ticket_id for e in outbox.entries() if e.kind == "response"]
    assert queued == [a, c]
    assert {e.ticket_id for e in outbox.entries() if e.kind == "acknowledgement"} == {a, p, c}
    assert [p.state for p in lot.items(worker="response-mailer")] == ["parked", "held"]
    assert outbox.position("response-mailer") == desk.recorder.max_notification_id()

    notices.broken = False
    lot.retry([i.id for i in lot.items(worker="response-mailer", states=("parked",))], actor="t")
    assert mailer.retry_parked() == 2
    letters = [e for e in outbox.entries() if e.ticket_id == p and e.kind == "response"]
    assert [e.key.rsplit(":", 1)[1] for e in letters] == ["2", "3"]  # in order
    assert mailer.run_once() == 0 and len(outbox.entries()) == 7


@dataclass
class Sink:
    """An SMTP hand-off that fails (not as SMTP does) for one recipient while ``broken``."""

    broken: bool = True
    sent: list[tuple[str, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def send(self, message: bytes, recipient: str) -> None:
        if self.broken and recipient.startswith("poison"):
            raise UnicodeEncodeError("ascii", recipient, 0, 1, "refused by the library")
        with self.lock:
            self.sent.append((recipient, message.split(b"Message-ID: ", 1)[1].split(b"\r\n")[0]
                              .decode()))


def letter(key: str, ticket: str, recipient: str) -> OutboundMail:
    return OutboundMail(key=key, kind="response", ticket_id=ticket, recipient=recipient,
                        message_id=f"<{key}@x>", message=f"Message-ID: <{key}@x>\r\n\r\nhi".encode())


def test_the_outbox_sets_one_letter_aside_and_holds_its_ticket_s_next(
        stores: Stores, desk: SupportDesk) -> None:
    lot = ParkingLot(stores.main)
    outbox = Outbox(stores.main)
    sink = Sink()
    clock = [1000.0]
    worker = OutboxWorker(outbox, sink, desk, guard=PoisonGuard(lot, "outbox"),  # type: ignore[arg-type]
                          now=lambda: clock[0])
    outbox.enqueue(letter("p1", "T-P", "poison@example.ru"), now=0)
    outbox.enqueue(letter("q1", "T-Q", "q@example.ru"), now=0)
    outbox.enqueue(letter("p2", "T-P", "p@example.ru"), now=0)
    for _ in range(4):
        worker.run_once()
        clock[0] += 10
    assert [m for _, m in sink.sent] == ["<q1@x>"]
    assert [(i.event_id, i.state) for i in lot.items(worker="outbox")] == [("p1", "parked")]
    assert outbox.get("p1").status == "parked" and outbox.get("p2").status == "pending"

    sink.broken = False
    lot.retry([i.id for i in lot.items(worker="outbox")], actor="t")
    while worker.run_once():  # the released letter first, then the one that waited behind it
        pass
    assert [m for _, m in sink.sent] == ["<q1@x>", "<p1@x>", "<p2@x>"]
    assert lot.items(worker="outbox") == []


def test_two_outbox_workers_send_each_letter_once(stores: Stores, desk: SupportDesk) -> None:
    outbox = Outbox(stores.main)
    for i in range(120):
        outbox.enqueue(letter(f"k{i}", f"T-{i % 7}", f"r{i}@example.ru"), now=0)
    sink = Sink(broken=False)
    second = Outbox(stores.another_main())
    workers = [OutboxWorker(o, sink, desk) for o in (outbox, second)]  # type: ignore[arg-type]

    def run(worker: OutboxWorker) -> None:
        while worker.run_once(limit=5):
            pass

    threads = [threading.Thread(target=run, args=(w,)) for w in workers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    second.store.close()
    sent = [m for _, m in sink.sent]
    assert sorted(sent) == sorted(f"<k{i}@x>" for i in range(120))  # each once
    assert all(e.status == "sent" for e in outbox.entries())


def test_a_mailer_started_afresh_queues_no_history(stores: Stores, desk: SupportDesk) -> None:
    outbox = Outbox(stores.main)
    notices = Notices(NoticeSettings(), desk.policy)
    t = receive(desk, "Вопрос")
    desk.respond(t, text="Ответ", actor=AGENT)
    ResponseMailer(desk, outbox, notices).run_once()
    assert len(outbox.entries()) == 2  # the registration notice and the answer
    # A new replica: new objects, nothing local; the position and the keys are in the database.
    again = ResponseMailer(desk, Outbox(stores.main), notices)
    assert again.run_once() == 0
    again.follower.read(0)  # the log is still there
    assert again.outbox.enqueue_tracked([], follower=again.name, position=0, now=0) == 0
    assert again.outbox.position(again.name) == desk.recorder.max_notification_id()
    assert len(outbox.entries()) == 2


def test_the_sla_watcher_sets_one_ticket_aside_and_records_the_others(
        stores: Stores, desk: SupportDesk, monkeypatch: pytest.MonkeyPatch) -> None:
    from projections.system import build_projections

    clock = desk.clock
    assert isinstance(clock, ManualClock)
    clock.set(msk("2025-04-28 09:00"))
    a, p = receive(desk, "A"), receive(desk, "P")
    for t in (a, p):
        desk.classify(t, level=Level.EMERGENCY, product=Product.ONLINE,
                      category=Category.OPERATIONAL_FAILURE, actor=AGENT)
    models, runner = build_projections(desk, calendar=desk.calendar, clock=clock, store=stores.read)
    lot = ParkingLot(stores.main)
    watcher = SlaWatcher(desk, models, clock, guard=PoisonGuard(lot, "watcher"))
    original = desk.record_sla_alert
    broken = {"on": True}

    def record(ticket_id: str, **kwargs: Any) -> Any:
        if broken["on"] and ticket_id == p:
            raise KeyError("a bug met by one ticket")
        return original(ticket_id, **kwargs)

    monkeypatch.setattr(desk, "record_sla_alert", record)
    clock.set(msk("2025-04-29 18:00"))
    runner.catch_up()
    for _ in range(3):
        watcher.run_once()
        runner.catch_up()
    names = lambda t: [type(e).__name__ for e in desk.ticket_events(t)]  # noqa: E731
    assert "SlaBreached" in names(a)
    assert "SlaBreached" not in names(p) and "SlaAtRisk" not in names(p)
    parked = lot.items(worker="watcher")
    assert len(parked) == 1 and parked[0].ticket == p
    broken["on"] = False
    lot.retry([parked[0].id], actor="t")
    watcher.run_once()
    assert any(n in names(p) for n in ("SlaBreached", "SlaAtRisk"))
    assert lot.items(worker="watcher") == []
    assert ClockName  # the alert key names the clock (ticket:clock:kind)


def test_transient_failures_are_never_set_aside(stores: Stores) -> None:
    import sqlite3

    from projections.parking import Item

    lot = ParkingLot(stores.main)
    guard = PoisonGuard(lot, "projections", tries=1)
    for _ in range(5):
        assert guard.failed(Item(1, "x:1", "x"), sqlite3.OperationalError("database is locked")) is False
        assert guard.failed(Item(1, "x:1", "x"), ConnectionRefusedError()) is False
    assert lot.items() == []
    assert guard.failed(Item(1, "x:1", "x"), OverflowError("date value out of range")) is True


def test_drop_is_recorded_and_releases_what_was_held(stores: Stores) -> None:
    from projections.parking import Item

    lot = ParkingLot(stores.main)
    guard = PoisonGuard(lot, "relay", tries=1)
    guard.failed(Item(5, "u:1", "u"), ValueError("bad"))
    guard.hold(Item(6, "u:2", "u"))
    parked = lot.items(worker="relay")
    with pytest.raises(ValueError):
        lot.drop([parked[0].id], actor="", reason="")
    assert lot.drop([parked[0].id], actor="ops.ivanov", reason="spam, not a request") == 1
    applied: list[str] = []
    assert guard.retry_pass(lambda row: applied.append(row.event_id)) == 1
    assert applied == ["u:2"]
    log = lot.actions()
    assert log[0]["action"] == "drop" and log[0]["actor"] == "ops.ivanov"
    assert log[0]["reason"] == "spam, not a request"
    assert [i.state for i in lot.items(states=("dropped", "done"))] == ["dropped", "done"]


def test_a_subject_the_email_library_refuses_stops_only_its_own_ticket_s_answers(
        stores: Stores, desk: SupportDesk) -> None:
    """The fault from the field: CR/LF in a subject, refused in a header by ``email``."""
    lot = ParkingLot(stores.main)
    outbox = Outbox(stores.main)
    mailer = ResponseMailer(desk, outbox, Notices(NoticeSettings(), desk.policy),
                            guard=PoisonGuard(lot, "response-mailer"))
    bad = receive(desk, "Тема\r\nBcc: someone@example.com", "bad@example.ru")
    good = receive(desk, "Обычная тема", "good@example.ru")
    desk.respond(bad, text="Ответ", actor=AGENT)
    desk.respond(good, text="Ответ", actor=AGENT)
    try:
        desk.get_ticket(bad)
    except Exception:  # pragma: no cover - an intake gate refusing it is fine too
        pytest.skip("the desk refuses CR/LF in subjects at intake")
    if "\n" not in desk.get_ticket(bad).subject:
        pytest.skip("the intake gate normalises subjects now: nothing reaches the mailer")
    for _ in range(3):
        try:
            mailer.run_once()
        except ValueError:
            pass
    assert {e.ticket_id for e in outbox.entries()} == {good}  # its notice and its answer
    parked, held = lot.items(worker="response-mailer")
    assert "linefeed" in parked.error and parked.state == "parked"
    assert held.state == "held" and held.ticket == parked.ticket
