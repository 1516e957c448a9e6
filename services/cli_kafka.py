"""``pass24-desk relay`` and ``pass24-desk intake-consumer``: the Kafka workers.

Both run until SIGTERM/SIGINT, then finish the batch in hand and exit 0.
"""

from __future__ import annotations

import argparse
import logging
import signal
import threading
from typing import Any

from adapters.kafka.clients import KafkaConfig, ensure_topics
from adapters.kafka.intake_consumer import IntakeConsumer
from adapters.kafka.positions import (
    MemoryPositionStore,
    PositionStore,
    PostgresPositionStore,
    SQLitePositionStore,
)
from adapters.kafka.relay import Relay
from projections.parking import ParkingLot, PoisonGuard
from services.bootstrap import build_desk
from services.settings import Settings

log = logging.getLogger("pass24.kafka")


def register(subparsers: Any) -> None:
    relay = subparsers.add_parser(
        "relay", help="publish every stored event to Kafka (pass24.ticket-events), forever"
    )
    relay.add_argument("--status-interval", type=float, default=10.0,
                       help="seconds between position/lag reports")
    relay.add_argument("--no-create-topics", action="store_true",
                       help="do not create missing topics at start")
    relay.set_defaults(handler=run_relay)

    intake = subparsers.add_parser(
        "intake-consumer", help="turn pass24.intake messages into tickets (a consumer group member)"
    )
    intake.add_argument("--no-create-topics", action="store_true")
    intake.set_defaults(handler=run_intake_consumer)


def kafka_config(settings: Settings) -> KafkaConfig:
    return KafkaConfig(bootstrap_servers=settings.kafka_bootstrap_servers,
                       client_id=settings.kafka_client_id, security=settings.kafka_security())


def position_store(settings: Settings) -> PositionStore:
    """The relay's position lives with the store it follows (see adapters/kafka/positions.py)."""
    if settings.persistence == "postgres":
        return PostgresPositionStore(
            f"host={settings.postgres_host} port={settings.postgres_port} "
            f"dbname={settings.postgres_dbname} user={settings.postgres_user} "
            f"password={settings.postgres_password.get_secret_value()} "
            f"sslmode={settings.postgres_sslmode}"
            + (f" sslrootcert={settings.postgres_sslrootcert}" if settings.postgres_sslrootcert else "")
        )
    if settings.persistence == "sqlite":
        return SQLitePositionStore(settings.kafka_relay_position_path)
    return MemoryPositionStore()


def run_relay(settings: Settings, args: argparse.Namespace) -> int:
    _logging()
    config = kafka_config(settings)
    if not args.no_create_topics:
        _ensure_topics_when_reachable(config, [settings.kafka_ticket_events_topic], settings)
    desk = build_desk(settings)
    positions = position_store(settings)
    relay = Relay(desk, config.producer, positions, topic=settings.kafka_ticket_events_topic,
                  batch_size=settings.kafka_relay_batch_size,
                  status_interval=args.status_interval, guard=_guard(settings, "relay"))
    try:
        relay.run(_stop_on_signals())
    finally:
        positions.close()
    return 0


def run_intake_consumer(settings: Settings, args: argparse.Namespace) -> int:
    _logging()
    config = kafka_config(settings)
    if not args.no_create_topics:
        _ensure_topics_when_reachable(
            config, [settings.kafka_intake_topic, settings.kafka_intake_dlq_topic], settings
        )
    desk = build_desk(settings)
    consumer = config.consumer(settings.kafka_intake_topic, group_id=settings.kafka_intake_group)
    dlq = config.producer()
    from services.mail import build_gate

    worker = IntakeConsumer(build_gate(desk, settings).submit, consumer, dlq,
                            dlq_topic=settings.kafka_intake_dlq_topic,
                            guard=_guard(settings, "intake-consumer"))
    try:
        worker.run(_stop_on_signals())
    finally:
        consumer.close()
        dlq.close()
    log.info("intake consumer stopped: %s", worker.stats)
    return 0


def _guard(settings: Settings, worker: str) -> PoisonGuard:
    """Where ``worker`` sets poison aside: the main database (docs/OPERATIONS.md)."""
    from services.bootstrap import main_store

    return PoisonGuard(ParkingLot(main_store(settings)), worker, tries=settings.poison_tries)


def _ensure_topics_when_reachable(config: KafkaConfig, topics: list[str], settings: Settings) -> None:
    # A relay must start (and report lag) while the broker is down, so this is best effort.
    try:
        ensure_topics(config, topics, settings.kafka_topic_partitions)
    except Exception as error:
        log.warning("could not create topics %s now: %r", topics, error)


def _stop_on_signals() -> threading.Event:
    stop = threading.Event()

    def request_stop(signum: int, _frame: object) -> None:
        log.info("signal %d: stopping after the current batch", signum)
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    return stop


def _logging() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    logging.getLogger("kafka").setLevel(logging.WARNING)
