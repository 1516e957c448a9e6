import threading

from domain.values import Channel
from projections.follower import NotificationFollower
from services.application import SupportDesk
from tests.helpers import CLIENT, REQUESTER, msk


def _receive(desk: SupportDesk, key: str) -> str:
    return desk.receive(channel=Channel.EMAIL, requester=CLIENT, subject="Gate",
                        description="Gate does not open", product_version="3.1",
                        actor=REQUESTER, intake_key=key,
                        at=msk("2025-04-28 10:00")).ticket_id


def test_follower_reads_the_log_in_order_from_a_position() -> None:
    desk = SupportDesk()
    for n in range(3):
        _receive(desk, f"<{n}@x>")
    follower = NotificationFollower(desk, batch_size=2)
    seen, position = [], 0
    while batch := follower.read(position):
        assert len(batch) <= 2
        seen += batch
        position = batch[-1].position
    assert [d.position for d in seen] == list(range(1, follower.head() + 1))
    assert {type(d.event).__qualname__ for d in seen} == {"Ticket.Received", "IntakeRecord.Registered"}
    assert all(d.tracking.application_name == "SupportDesk" for d in seen)
    assert follower.read(follower.head()) == []


def test_follower_waits_for_new_events_until_stopped() -> None:
    desk = SupportDesk()
    follower = NotificationFollower(desk, poll_interval=0.01)
    stop = threading.Event()
    seen: list[int] = []

    def consume() -> None:
        for batch in follower.batches(0, stop):
            seen.extend(d.position for d in batch)
            if len(seen) >= 2:
                stop.set()

    worker = threading.Thread(target=consume)
    worker.start()
    try:
        _receive(desk, "<late@x>")
        follower.nudge()
        worker.join(timeout=5)
    finally:
        stop.set()
    assert not worker.is_alive()
    assert seen == [1, 2]
