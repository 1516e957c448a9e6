"""Two processes running the mailers decide each registration notice once.

``serve`` and ``smtp-listen`` both run the response mailer over one store. Both
handle every ``Received``; the per-address notice limit is counted in the outbox
(the main database) and the notice, or the refusal, takes the ticket's ``ack:``
key, so no ticket is both refused (``NoticeNotSent``) and acknowledged, and the
address gets no more notices than the limit allows, however the two interleave.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from adapters.outbox.notice_limit import NoticeLimit
from adapters.outbox.notices import Notices, NoticeSettings
from adapters.outbox.responses import ResponseMailer
from adapters.outbox.store import OutboundMail, Outbox
from adapters.outbox.worker import OutboxWorker
from domain.values import Channel, Requester
from services.application import SupportDesk
from services.clock import ManualClock
from tests.fixtures.stores import Stores, desk, stores  # noqa: F401
from tests.helpers import SYSTEM, msk

ROBOT = "robot@robot.example"
TICKETS = 12
LIMIT = 3


@dataclass
class Sink:
    sent: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def send(self, message: bytes, recipient: str) -> None:
        with self.lock:
            self.sent.append(recipient)


def receive(desk: SupportDesk, n: int, email: str = ROBOT) -> str:
    return desk.receive(channel=Channel.EMAIL, requester=Requester(name="Приёмная", email=email),
                        subject=f"Ваше письмо №{n}", description="Спасибо, письмо получено.",
                        product_version="1.0", actor=SYSTEM).ticket_id


@pytest.fixture
def second_desk(stores: Stores) -> Iterator[SupportDesk]:  # noqa: F811
    """The desk as the other process (``smtp-listen``) opens it."""
    app = SupportDesk(env=stores.env, clock=ManualClock(msk("2025-04-28 09:00")))
    yield app
    app.close()


def outcomes(desk: SupportDesk, ticket_id: str) -> list[str]:  # noqa: F811
    names = [type(e).__qualname__ for e in desk.ticket_events(ticket_id)]
    return [n for n in names if n in ("Ticket.Acknowledged", "Ticket.NoticeNotSent")]


def test_two_mailer_processes_send_or_refuse_each_notice_once(
        stores: Stores, desk: SupportDesk, second_desk: SupportDesk) -> None:  # noqa: F811
    tickets = [receive(desk, n) for n in range(TICKETS)]
    olga = receive(desk, 99, "olga@example.ru")
    outboxes = [Outbox(stores.main), Outbox(stores.another_main())]
    mailers = [ResponseMailer(d, o, Notices(NoticeSettings(), d.policy),
                              notice_limit=NoticeLimit(f"{LIMIT}/hour;10/day"))
               for d, o in zip((desk, second_desk), outboxes, strict=True)]
    # One of them ran alone for a while (the other was restarting): the in-memory counts
    # of the two processes would now differ.
    mailers[0].run_once(limit=LIMIT)
    # Then both handle the same Received events: each reads a batch before either queues.
    together = threading.Barrier(len(mailers), timeout=60)
    for mailer in mailers:
        read = mailer.follower.read

        def read_together(after: int, limit: int, read: Any = read) -> Any:
            batch = read(after, limit)
            together.wait()
            return batch

        mailer.follower.read = read_together  # type: ignore[method-assign]

    def follow(mailer: ResponseMailer) -> None:
        while mailer.run_once(limit=2):
            together.wait()  # both queued: the next pass starts from the same position

    threads = [threading.Thread(target=follow, args=(m,)) for m in mailers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert all(o.position(mailers[0].name) == outboxes[0].position(mailers[0].name)
               for o in outboxes)

    sink = Sink()
    workers = [OutboxWorker(o, sink, d) for o, d in zip(outboxes, (desk, second_desk), strict=True)]
    while sum(w.run_once() for w in workers):
        pass

    decided = {t: outcomes(desk, t) for t in [*tickets, olga]}
    assert all(len(found) == 1 for found in decided.values()), decided
    assert sink.sent.count(ROBOT) == LIMIT
    assert sink.sent.count("olga@example.ru") == 1
    acknowledged = [t for t, found in decided.items() if found == ["Ticket.Acknowledged"]]
    assert len(acknowledged) == LIMIT + 1 and olga in acknowledged
    refused = [desk.get_ticket(t) for t, found in decided.items() if found != ["Ticket.Acknowledged"]]
    assert all("registration notices" in t.notice_not_sent["reason"] for t in refused)


def test_the_worker_does_not_send_a_notice_the_ticket_says_was_not_sent(
        stores: Stores, desk: SupportDesk) -> None:  # noqa: F811
    # Queued by a mailer of an older version while another one recorded the refusal.
    ticket_id = receive(desk, 1)
    desk.record_notice_not_sent(ticket_id, reason="over the limit", actor=SYSTEM)
    outbox = Outbox(stores.main)
    outbox.enqueue(OutboundMail(key=f"ack:{ticket_id}", kind="acknowledgement",
                                ticket_id=ticket_id, recipient=ROBOT, message_id="<a@x>",
                                message=b"Message-ID: <a@x>\r\n\r\nhi"), now=0)
    sink = Sink()
    while OutboxWorker(outbox, sink, desk).run_once():
        pass
    assert sink.sent == []
    assert outbox.get(f"ack:{ticket_id}").status == "withheld"  # type: ignore[union-attr]
    assert outcomes(desk, ticket_id) == ["Ticket.NoticeNotSent"]
