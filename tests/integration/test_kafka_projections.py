"""The read models fed from Kafka equal the read models fed from the store, row for row.

One desk on SQLite (the scripted demo week plus a few hundred generated
lifecycles, their events interleaved in the log) is published by the relay, with
redeliveries: a second relay restarts from an older position, and some messages
are sent again by hand, late. Read models A follow the store
(``ProjectionRunner``); read models B follow the topic (``KafkaProjectionFeed``)
into a read store of their own. Every row of every read-model table must match.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest

from adapters.kafka.clients import KafkaConfig, ensure_topics
from adapters.kafka.positions import MemoryPositionStore
from adapters.kafka.relay import Relay
from domain.errors import RuleViolated
from domain.ids import new_ticket_id
from domain.sla import ClockName
from domain.ticket import Ticket
from domain.values import Actor, Category, Channel, Level, PostponeReason, Product, Requester
from projections.kafka_feed import KafkaProjectionFeed, build_kafka_feed
from projections.store import ReadStore, SQLiteReadStore
from projections.system import all_projections, build_projections
from services.application import SupportDesk
from services.clock import ManualClock
from services.demo import run_demo
from services.settings import Settings
from tests.fixtures.kafka import KafkaBroker, read_topic
from tests.helpers import AGENT, SUPERVISOR, SYSTEM, msk

pytestmark = pytest.mark.slow

TICKETS = 300


# -- a desk with a realistic, interleaved log ------------------------------------------------


def _steps(rng: random.Random, desk: SupportDesk, ticket: Ticket) -> Iterator[timedelta]:
    """One ticket's lifecycle, a step per ``next``; yields how long each step took."""
    rules = desk.rules
    requester = Actor.requester("client@example.ru")

    def wait() -> timedelta:
        return timedelta(minutes=rng.randint(5, 600))

    at = ticket.updated_at
    ticket.acknowledge(at=at + timedelta(minutes=1), actor=SYSTEM)
    yield timedelta(minutes=1)
    level = rng.choices([Level.EMERGENCY, Level.STANDARD, Level.CONSULTATION], [1, 6, 3])[0]
    at = ticket.updated_at + wait()
    ticket.classify(level=level, product=ticket.product, category=Category.OPERATIONAL_FAILURE,
                    at=at, actor=AGENT, rules=rules)
    yield wait()
    if level is Level.EMERGENCY and rng.random() < 0.7:
        ticket.confirm_emergency(at=ticket.updated_at + timedelta(minutes=3), actor=SUPERVISOR)
        yield wait()
    ticket.assign(assignee=f"agent.{rng.randint(1, 8)}", at=ticket.updated_at + wait(), actor=AGENT)
    yield wait()
    if rng.random() < 0.3:
        try:  # late on purpose: a breach alert, the watcher's way
            ticket.record_sla_alert(clock=ClockName.REACTION, breached=True,
                                    at=ticket.updated_at + timedelta(days=3), actor=SYSTEM,
                                    calendar=desk.calendar)
        except RuleViolated:
            pass
        yield wait()
    ticket.respond(text="Смотрим", at=ticket.updated_at + wait(), actor=AGENT, rules=rules)
    yield wait()
    if rng.random() < 0.4:
        ticket.request_information(text="Логи?", at=ticket.updated_at + wait(),
                                   actor=AGENT, rules=rules)
        yield wait()
        ticket.record_requester_reply(text="Вот", at=ticket.updated_at + wait(), actor=requester,
                                      rules=rules)
        yield wait()
    if rng.random() < 0.15:
        ticket.escalate(summary="Bug", at=ticket.updated_at + wait(), actor=AGENT, rules=rules)
        yield wait()
        ticket.record_fix_release(release="3.2", at=ticket.updated_at + wait(), actor=AGENT,
                                  rules=rules)
        yield wait()
    if rng.random() < 0.1:
        ticket.postpone(reason=PostponeReason.CANNOT_REPRODUCE, at=ticket.updated_at + wait(),
                        actor=AGENT, rules=rules)
        yield wait()
        ticket.resume(at=ticket.updated_at + wait(), actor=AGENT, rules=rules)
        yield wait()
    if rng.random() < 0.2:
        ticket.reclassify(level=Level.CONSULTATION, product=Product.MOBILE_ONLINE,
                          category=Category.GENERAL_CONSULTATION, reason="not a failure",
                          at=ticket.updated_at + wait(), actor=AGENT, rules=rules)
        yield wait()
    if rng.random() < 0.85:
        ticket.resolve(resolution="Исправлено", at=ticket.updated_at + wait(), actor=AGENT,
                       rules=rules)
        yield wait()
        if rng.random() < 0.15:
            ticket.reopen(reason="снова", at=ticket.updated_at + wait(), actor=requester, rules=rules)
            yield wait()
        elif rng.random() < 0.7:
            ticket.close(at=ticket.updated_at + wait(), actor=SYSTEM)
            yield wait()


def generate(desk: SupportDesk, tickets: int, seed: int) -> None:
    """``tickets`` lifecycles saved in rounds, so tickets' events interleave in the log."""
    rng = random.Random(seed)
    start = msk("2025-03-03 09:00")
    live: list[tuple[Ticket, Iterator[timedelta]]] = []
    for n in range(tickets):
        ticket = Ticket.receive(
            ticket_id=new_ticket_id(rng), channel=rng.choice([Channel.EMAIL, Channel.FORM, Channel.PHONE]),
            requester=Requester(name="Клиент", email=f"c{n}@example.ru"),
            subject=f"Шлагбаум {n}", description="Не открывается по пропускам",
            product=rng.choice([Product.ONLINE, Product.CONTROL, Product.MOBILE_ONLINE]),
            product_version="3.1", device="Pixel 7 / Android 15", at=start + timedelta(minutes=7 * n), actor=SYSTEM,
            rules=desk.rules,
        )
        live.append((ticket, _steps(rng, desk, ticket)))
        if len(live) % 25 == 0:
            desk.save(*(t for t, _ in live[-25:]))
    desk.save(*(t for t, _ in live[len(live) - len(live) % 25:]))
    while live:
        rng.shuffle(live)
        advanced = [(t, s) for t, s in live if next(s, None) is not None]
        desk.save(*(t for t, _ in advanced))
        live = advanced


@dataclass
class Published:
    desk: SupportDesk
    topic: str
    config: KafkaConfig
    from_store: ReadStore
    ticket_events: int


@pytest.fixture(scope="module")
def published(kafka_broker: KafkaBroker, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Published]:
    tmp = tmp_path_factory.mktemp("kafka-projections")
    config = kafka_broker.config()
    topic = f"ticket-events-{uuid4().hex[:10]}"
    ensure_topics(config, [topic], partitions=6)
    clock = ManualClock(msk("2025-04-28 09:00"))
    desk = SupportDesk(env={"PERSISTENCE_MODULE": "eventsourcing.sqlite",
                            "SQLITE_DBNAME": str(tmp / "desk.sqlite"), "SQLITE_LOCK_TIMEOUT": "10"},
                       clock=clock)
    run_demo(desk, clock, run="x")
    generate(desk, TICKETS // 2, seed=1)

    # The first relay publishes half, the desk goes on, and a second relay restarts from
    # an older position: everything between is delivered twice.
    first = _relay(desk, config, topic, MemoryPositionStore())
    first.drain()
    first.close()
    generate(desk, TICKETS - TICKETS // 2, seed=2)
    older = MemoryPositionStore()
    older.save(first.name, first.position // 3)
    second = _relay(desk, config, topic, older)
    second.drain()
    second.close()

    # And a few messages again, long after their successors.
    records = read_topic(config, topic, expect=1)
    producer = config.producer()
    for record in random.Random(3).sample(records, 40):
        producer.send(topic, key=record.key, value=record.value, partition=record.partition)
    producer.flush(10)
    producer.close()

    from_store = SQLiteReadStore(tmp / "from-store.sqlite")
    _, runner = build_projections(desk, calendar=desk.calendar, clock=clock, store=from_store)
    runner.catch_up()
    events = sum(1 for n in desk.recorder.select_notifications(1, 10**9)
                 if n.topic.startswith("domain.ticket:"))
    assert len(records) > events  # there are redeliveries to drop
    yield Published(desk, topic, config, from_store, events)
    from_store.close()
    desk.close()


def _relay(desk: SupportDesk, config: KafkaConfig, topic: str, positions: MemoryPositionStore) -> Relay:
    return Relay(desk, config.producer, positions, topic=topic, batch_size=200, flush_timeout=10)


def _feed(p: Published, store: ReadStore, group: str, **kwargs: Any) -> KafkaProjectionFeed:
    return KafkaProjectionFeed(p.config.consumer(group_id=group), store,
                               all_projections(p.desk.calendar), topic=p.topic, group=group,
                               poll_timeout_ms=200, **kwargs)


def read_model_rows(store: ReadStore) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every read-model table (not the tracking tables), in a stable order."""
    tables = [r["name"] for r in store.query(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'rm\\_%' ESCAPE '\\' "
        "ORDER BY name")]
    found = {}
    for table in tables:
        rows = [tuple(row.values()) for row in store.query(f"SELECT * FROM {table}")]  # noqa: S608
        found[table] = sorted(rows, key=repr)
    return found


# -- the tests -------------------------------------------------------------------------------


def test_read_models_fed_from_kafka_equal_the_ones_fed_from_the_store(
    published: Published, tmp_path: Path
) -> None:
    store = SQLiteReadStore(tmp_path / "from-kafka.sqlite")
    feed = _feed(published, store, f"g-{uuid4().hex[:8]}")
    try:
        feed.catch_up(timeout=40)
    finally:
        feed.close()

    expected, actual = read_model_rows(published.from_store), read_model_rows(store)
    assert set(expected) == {"rm_history", "rm_queue", "rm_sla_buckets", "rm_sla_days",
                             "rm_sla_stats", "rm_sla_timers", "rm_third_party"}
    assert len(expected["rm_history"]) == published.ticket_events
    assert len(expected["rm_queue"]) > TICKETS
    for table in expected:
        assert actual[table] == expected[table], table
    assert feed.stats.applied == published.ticket_events
    assert feed.stats.duplicates > 40
    store.close()


def test_a_restarted_feed_resumes_from_its_read_store_without_losing_or_repeating(
    published: Published, tmp_path: Path
) -> None:
    store = SQLiteReadStore(tmp_path / "from-kafka.sqlite")
    group = f"g-{uuid4().hex[:8]}"
    first = _feed(published, store, group, max_records=97)
    # A crash after the read store committed but before Kafka did: the group's offsets
    # never move, so only the read store knows where the feed got to.
    first.consumer.commit = lambda *args, **kwargs: None  # type: ignore[method-assign]
    while first.stats.applied < published.ticket_events // 3:
        first.poll_once()
    first.close()

    # The restart goes through the CLI's wiring (`projections run --from-kafka`).
    settings = Settings(persistence="popo", kafka_ticket_events_topic=published.topic)
    second = build_kafka_feed(settings, calendar=published.desk.calendar, group=group, store=store,
                              config=published.config)
    try:
        second.catch_up(timeout=40)
    finally:
        second.close()

    assert first.stats.applied + second.stats.applied == published.ticket_events
    expected, actual = read_model_rows(published.from_store), read_model_rows(store)
    for table in expected:
        assert actual[table] == expected[table], table
    store.close()
