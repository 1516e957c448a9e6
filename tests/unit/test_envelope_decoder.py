"""Envelopes turn back into exactly the records the store runner folds."""

from __future__ import annotations

from adapters.kafka.envelope import Envelope, encode, envelope
from projections.envelopes import EnvelopeDecoder
from projections.follower import NotificationFollower
from projections.tickets import from_delivered, from_record, is_ticket_topic
from services.application import SupportDesk
from services.clock import ManualClock
from services.demo import run_demo
from tests.helpers import msk


def test_decoded_envelopes_equal_the_store_runners_records_for_plain_and_typed_stores() -> None:
    clock = ManualClock(msk("2025-04-28 09:00"))
    desk = SupportDesk(clock=clock)
    run_demo(desk, clock, run="x")
    follower = NotificationFollower(desk)
    stored = {r.id: r for r in follower.records(0, 10_000)}
    plain, typed = EnvelopeDecoder(), EnvelopeDecoder(stored_json=False)
    names = set()
    for delivered in follower.read(0, 10_000):
        if not is_ticket_topic(delivered.topic):
            continue
        document = envelope(delivered.event, subject="P24-TEST01", sequence=delivered.position,
                            source="pass24-desk/SupportDesk", data_version=1)
        parsed = Envelope.parse(encode(document))
        assert plain.decode(parsed) == from_record(stored[delivered.position])
        assert typed.decode(parsed) == from_delivered(delivered)
        assert plain.topic(parsed) == delivered.topic
        names.add(parsed.event_name)
    assert {"Ticket.Received", "Ticket.Resolved", "Ticket.Escalated"} <= names
