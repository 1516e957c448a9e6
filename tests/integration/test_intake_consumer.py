"""The intake consumer group against a real broker: one ticket per intake key, poison to the DLQ."""

from __future__ import annotations

import random
import threading
import time
from datetime import datetime, timedelta, timezone
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from adapters.kafka.clients import KafkaConfig, ensure_topics
from adapters.kafka.intake import IntakeMessage
from adapters.kafka.intake_consumer import IntakeConsumer
from adapters.kafka.intake_publisher import IntakePublisher
from adapters.kafka.relay import Backoff
from services.application import SupportDesk
from services.channel_policy import ChannelPolicy
from services.intake import IntakeService
from tests.fixtures.kafka import KafkaBroker, TestTopics, read_topic
from tests.helpers import CLIENT, REQUESTER, msk


def _message(n: int) -> IntakeMessage:
    return IntakeMessage.model_validate({
        "intake_key": f"form-{n}", "channel": "form", "integration": "bitrix24-form",
        "requester": {"name": f"Клиент {n}", "email": f"client{n}@example.ru"},
        "subject": f"Заявка {n}", "body": "Не печатаются пропуска", "product": "pass24_online",
        "product_version": "2025.4", "received_at": msk("2025-04-28 10:00").isoformat(),
    })


def gate(env: dict[str, str]) -> IntakeService:
    """The intake gate over its own desk on the shared store, as each consumer process has."""
    desk = SupportDesk(env)
    return IntakeService(desk, channels=ChannelPolicy(desk.calendar))


POISON = {
    b"not json at all": "invalid intake message",
    b'{"intake_key": "x", "channel": "fax"}': "invalid intake message",
    _message(999).model_copy(update={"requester": {"name": "nobody"}}).encode():
        "refused by the desk: requester",
    # At the end of time: the gate's answer names the field, not an OverflowError that
    # parks it and holds every later message from the same source.
    _message(998).model_copy(update={"received_at": datetime(
        9999, 12, 31, 23, 59, 59, tzinfo=timezone(timedelta(hours=-12)))}).encode():
        "refused by the desk: received_at",
}


@pytest.fixture
def sqlite_env(tmp_path: Path) -> dict[str, str]:
    return {"PERSISTENCE_MODULE": "eventsourcing.sqlite",
            "SQLITE_DBNAME": str(tmp_path / "desk.sqlite"), "SQLITE_LOCK_TIMEOUT": "10"}


@pytest.fixture
def members(kafka_config: KafkaConfig, kafka_topics: TestTopics,
            sqlite_env: dict[str, str]) -> Iterator[list[IntakeConsumer]]:
    """Two members of one consumer group, each with its own desk on the same store."""
    stop = threading.Event()
    workers: list[IntakeConsumer] = []
    threads = []
    for _ in range(2):
        consumer = kafka_config.consumer(kafka_topics.intake, group_id=kafka_topics.group)
        worker = IntakeConsumer(gate(sqlite_env).submit, consumer, kafka_config.producer(),
                                dlq_topic=kafka_topics.intake_dlq, retry_pause=0.2)
        workers.append(worker)
        threads.append(threading.Thread(target=worker.run, args=(stop,), daemon=True))
    for thread in threads:
        thread.start()
    yield workers
    stop.set()
    for thread, worker in zip(threads, workers):
        thread.join(15)
        worker.consumer.close()
        worker.dlq.close()


def test_duplicate_and_out_of_order_deliveries_make_one_ticket_per_intake_key_and_poison_goes_to_the_dlq(
    kafka_config: KafkaConfig, kafka_topics: TestTopics, sqlite_env: dict[str, str],
    members: list[IntakeConsumer],
) -> None:
    messages = [_message(n) for n in range(40)]
    deliveries = [m.encode() for m in messages for _ in range(3)] + list(POISON)
    random.Random(4).shuffle(deliveries)
    producer = kafka_config.producer()
    for payload in deliveries:  # no key: copies of one message land on different partitions
        producer.send(kafka_topics.intake, value=payload)
    producer.flush()
    producer.close()

    def handled() -> int:
        return sum(w.stats.created + w.stats.duplicates + w.stats.dead_lettered for w in members)

    deadline = time.monotonic() + 45
    while handled() < len(deliveries) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert handled() == len(deliveries)

    desk = SupportDesk(sqlite_env)
    received = [n for n in desk.recorder.select_notifications(1, 10**6)
                if n.topic.endswith("Ticket.Received")]
    assert len(received) == 40
    assert sum(w.stats.created for w in members) == 40
    assert sum(w.stats.duplicates for w in members) == 80
    ticket = desk.get_ticket(desk.receive(
        channel=messages[7].channel, requester=CLIENT, subject="", description="again",
        actor=REQUESTER, intake_key="form-7", at=msk("2025-04-28 11:00")).ticket_id)
    assert ticket.subject == "Заявка 7" and ticket.intake_key == "form-7"

    dead = read_topic(kafka_config, kafka_topics.intake_dlq, expect=len(POISON))
    assert sorted(r.value for r in dead) == sorted(POISON)
    for record in dead:
        headers = dict(record.headers)
        assert headers["dlq.reason"].decode().startswith(POISON[record.value])
        assert headers["dlq.topic"].decode() == kafka_topics.intake
        assert int(headers["dlq.offset"]) >= 0


def test_offsets_are_committed_so_a_restarted_group_member_gets_nothing_again(
    kafka_config: KafkaConfig, kafka_topics: TestTopics, sqlite_env: dict[str, str]
) -> None:
    producer = kafka_config.producer()
    for n in range(5):
        producer.send(kafka_topics.intake, value=_message(n).encode())
    producer.flush()
    producer.close()

    for expected_created, expected_seen in ((5, 5), (0, 0)):
        worker = IntakeConsumer(gate(sqlite_env).submit,
                                kafka_config.consumer(kafka_topics.intake, group_id=kafka_topics.group),
                                kafka_config.producer(), dlq_topic=kafka_topics.intake_dlq)
        seen = 0
        deadline = time.monotonic() + 12  # joining the group takes a rebalance timeout on Tansu
        while time.monotonic() < deadline and (seen < expected_seen or expected_seen == 0):
            seen += worker.poll_once()
        worker.consumer.close()
        worker.dlq.close()
        assert (worker.stats.created, seen) == (expected_created, expected_seen)



@pytest.mark.slow
def test_broker_stopped_during_intake_then_started_loses_no_request(
    own_kafka_broker: KafkaBroker, sqlite_env: dict[str, str]
) -> None:
    config = own_kafka_broker.config(delivery_timeout_ms=60_000, max_block_ms=60_000)
    topics = ["intake", "intake-dlq"]
    ensure_topics(config, topics, partitions=3)
    stop = threading.Event()
    worker = IntakeConsumer(gate(sqlite_env).submit, config.consumer("intake", group_id="desk"),
                            config.producer(), dlq_topic="intake-dlq", retry_pause=0.2)
    thread = threading.Thread(target=worker.run, args=(stop,), daemon=True)
    thread.start()
    adapter = IntakePublisher(config.producer, "intake", flush_timeout=3,
                              backoff=Backoff(initial=0.2, maximum=1.0))
    try:
        adapter.publish([_message(n) for n in range(20)])
        _until(lambda: worker.stats.created == 20, 30, "the first 20 tickets")

        own_kafka_broker.stop()
        during = threading.Thread(target=adapter.publish, args=([_message(n) for n in range(20, 40)],),
                                  kwargs={"timeout": 60}, daemon=True)
        during.start()
        time.sleep(3)  # the adapter holds the requests and retries; the consumer waits
        assert during.is_alive()
        own_kafka_broker.start()
        if not own_kafka_broker.keeps_data_across_outage:
            ensure_topics(config, topics, partitions=3)  # Tansu came back empty
        during.join(60)
        assert not during.is_alive()
        _until(lambda: worker.stats.created == 40, 45, "the requests sent during the outage")
    finally:
        stop.set()
        thread.join(15)
        worker.consumer.close()
        worker.dlq.close()
        adapter.close()
    desk = SupportDesk(sqlite_env)
    received = [n for n in desk.recorder.select_notifications(1, 10**6)
                if n.topic.endswith("Ticket.Received")]
    assert len(received) == 40 and worker.stats.dead_lettered == 0


def _until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.1)
