"""The relay against a real broker: what it publishes, where it resumes, how it rides out an outage."""

from __future__ import annotations

import json
import threading
import time
from collections import defaultdict
from datetime import timedelta
from pathlib import Path
from typing import Any

import jsonschema_rs
import pytest

from adapters.kafka.clients import KafkaConfig, ensure_topics
from adapters.kafka.envelope import Envelope
from adapters.kafka.positions import MemoryPositionStore, SQLitePositionStore
from adapters.kafka.relay import Backoff, Relay, RelayStatus
from domain.values import Category, Channel, Level, Product
from services.application import SupportDesk
from tests.fixtures.kafka import KafkaBroker, TestTopics, read_topic
from tests.helpers import AGENT, CLIENT, REQUESTER, msk

SCHEMAS = Path(__file__).resolve().parents[2] / "docs" / "schemas"


def _ticket_with_history(desk: SupportDesk, key: str, minute: int = 0) -> str:
    at = msk("2025-04-28 10:00") + timedelta(minutes=minute)
    ticket_id = desk.receive(channel=Channel.EMAIL, requester=CLIENT, subject="Шлагбаум",
                             description="Не открывается шлагбаум", actor=REQUESTER,
                             product=Product.ONLINE, product_version="2025.4",
                             intake_key=key, at=at).ticket_id
    desk.classify(ticket_id, level=Level.STANDARD, product=Product.ONLINE,
                  category=Category.OPERATIONAL_FAILURE, actor=AGENT, at=at + timedelta(minutes=1))
    desk.respond(ticket_id, text="Проверьте питание", actor=AGENT, at=at + timedelta(minutes=2))
    return ticket_id


def _relay(desk: SupportDesk, config: KafkaConfig, topic: str, **kwargs: Any) -> Relay:
    kwargs.setdefault("positions", MemoryPositionStore())
    return Relay(desk, config.producer, topic=topic, batch_size=50, flush_timeout=10, **kwargs)


def _ticket_event_count(desk: SupportDesk) -> int:
    return sum(1 for n in desk.recorder.select_notifications(1, 10**9)
               if n.topic.startswith("domain.ticket:"))


def test_relay_publishes_each_ticket_event_keyed_by_ticket_id_in_version_order(
    kafka_config: KafkaConfig, kafka_topics: TestTopics
) -> None:
    desk = SupportDesk()
    tickets = {_ticket_with_history(desk, f"<{n}@x>", n) for n in range(12)}
    relay = _relay(desk, kafka_config, kafka_topics.ticket_events)
    relay.drain()
    relay.close()

    records = read_topic(kafka_config, kafka_topics.ticket_events, expect=36)
    assert len(records) == 36 == _ticket_event_count(desk)  # IntakeRecord.Registered stays home
    versions: dict[tuple[int, str], list[int]] = defaultdict(list)
    for record in records:
        event = Envelope.parse(record.value)
        assert record.key.decode() == event.subject
        versions[(record.partition, event.subject)].append(event.originatorversion)
        assert event.id == f"{event.originatorid}:{event.originatorversion}"
    assert {subject for _, subject in versions} == tickets
    assert all(v == [1, 2, 3] for v in versions.values())  # one partition per ticket, in order
    assert relay.position == desk.recorder.max_notification_id()


def test_published_envelopes_validate_against_the_schema_files(
    kafka_config: KafkaConfig, kafka_topics: TestTopics
) -> None:
    desk = SupportDesk()
    _ticket_with_history(desk, "<schema@x>")
    relay = _relay(desk, kafka_config, kafka_topics.ticket_events)
    relay.drain()
    relay.close()
    envelope_schema = jsonschema_rs.validator_for(json.loads((SCHEMAS / "envelope.v1.json").read_text()))
    for record in read_topic(kafka_config, kafka_topics.ticket_events, expect=3):
        document = json.loads(record.value)
        envelope_schema.validate(document)
        name = document["type"].removeprefix("online.pass24.desk.")
        schema = json.loads((SCHEMAS / f"{name}.v{document['dataversion']}.json").read_text())
        jsonschema_rs.validator_for(schema).validate(document["data"])
        assert document["dataschema"].endswith(f"/{name}.v{document['dataversion']}.json")


def test_a_new_relay_resumes_after_the_saved_position_and_still_keys_old_tickets(
    kafka_config: KafkaConfig, kafka_topics: TestTopics, tmp_path: Path
) -> None:
    desk = SupportDesk()
    first = _ticket_with_history(desk, "<first@x>")
    store = SQLitePositionStore(tmp_path / "position.sqlite")
    relay = _relay(desk, kafka_config, kafka_topics.ticket_events, positions=store)
    relay.drain()
    relay.close()
    store.close()

    desk.resolve(first, resolution="Заменили блок питания", actor=AGENT, at=msk("2025-04-28 12:00"))
    store = SQLitePositionStore(tmp_path / "position.sqlite")
    restarted = _relay(desk, kafka_config, kafka_topics.ticket_events, positions=store)
    assert restarted.position == relay.position
    assert restarted.drain() == 1
    restarted.close()

    records = read_topic(kafka_config, kafka_topics.ticket_events, expect=4)
    assert len(records) == 4  # nothing published twice after a clean stop
    last = Envelope.parse(records[-1].value) if len({r.partition for r in records}) == 1 else None
    resolved = [Envelope.parse(r.value) for r in records
                if Envelope.parse(r.value).event_name == "Ticket.Resolved"]
    assert [e.subject for e in resolved] == [first]  # learned from the store, not the cache
    assert restarted.keys.lookups == 1
    assert last is None or last.event_name == "Ticket.Resolved"


def test_while_the_broker_is_down_commands_work_the_relay_reports_lag_and_drains_afterwards(
    own_kafka_broker: KafkaBroker,
) -> None:
    config = own_kafka_broker.config()
    ensure_topics(config, ["events"], partitions=3)
    desk = SupportDesk()
    statuses: list[RelayStatus] = []
    relay = _relay(desk, config, "events", backoff=Backoff(initial=0.2, maximum=1.0),
                   status_interval=0.5, on_status=statuses.append, poll_interval=0.05)
    stop = threading.Event()
    worker = threading.Thread(target=relay.run, args=(stop,), daemon=True)
    worker.start()
    try:
        before = [_ticket_with_history(desk, f"<before-{n}@x>", n) for n in range(5)]
        _wait(lambda: relay.position == desk.recorder.max_notification_id(), "first drain")
        seen_before = read_topic(config, "events", expect=15)
        outage_position = relay.position

        with own_kafka_broker.outage():
            # The store has everything: intake and staff commands do not need the broker.
            during = [_ticket_with_history(desk, f"<during-{n}@x>", 10 + n) for n in range(5)]
            desk.resolve(before[0], resolution="ok", actor=AGENT, at=msk("2025-04-28 12:00"))
            _wait(lambda: any(not s.broker_available and s.lag > 0 for s in statuses),
                  "a report of the outage with the lag")
            assert relay.position == outage_position

        if not own_kafka_broker.keeps_data_across_outage:
            ensure_topics(config, ["events"], partitions=3)  # Tansu came back empty
        _wait(lambda: relay.position == desk.recorder.max_notification_id(), "drain after outage",
              timeout=40)
        _wait(lambda: statuses[-1].broker_available or relay.status().broker_available, "recovery")
    finally:
        stop.set()
        worker.join(15)
    assert not worker.is_alive()

    after = read_topic(config, "events", expect=16)
    seen = {Envelope.parse(r.value).id for r in [*seen_before, *after]}
    expected = {f"{e.originator_id}:{e.originator_version}"
                for t in [*before, *during] for e in desk.ticket_events(t)}
    assert seen == expected  # nothing missing
    assert len(expected) == 31


def _wait(condition: Any, what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.05)
