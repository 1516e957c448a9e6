"""kill -9 the relay again and again while 20,000 events are written and published.

The relay runs as the real ``pass24-desk relay`` process on a SQLite store. A
writer thread keeps storing tickets while the relay is killed with SIGKILL at
random moments and restarted; at the end one relay drains the log. Then the
topic must hold every ticket event at least once, each ticket's events in one
partition in version order, and a deduplicating consumer must apply each
exactly once.
"""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections import defaultdict
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from adapters.kafka.clients import ensure_topics
from adapters.kafka.dedup import Deduplicator, Verdict
from adapters.kafka.envelope import Envelope
from domain.ids import new_ticket_id
from domain.ticket import Ticket
from domain.values import Category, Channel, Level, Product
from services.application import SupportDesk
from tests.fixtures.kafka import KafkaBroker, read_topic
from tests.helpers import AGENT, CLIENT, REQUESTER, msk

ROOT = Path(__file__).resolve().parents[2]
TICKETS = 4000
EVENTS_PER_TICKET = 5  # Received, Acknowledged, Classified, Assigned, Responded
KILLS = 6

pytestmark = pytest.mark.slow


def _write_tickets(desk: SupportDesk, count: int, rng: random.Random, pace: float) -> None:
    """Store ``count`` tickets of five events each, 100 tickets per transaction."""
    batch: list[Ticket] = []
    for n in range(count):
        at = msk("2025-04-28 10:00") + timedelta(seconds=n)
        ticket = Ticket.receive(ticket_id=new_ticket_id(rng), channel=Channel.EMAIL,
                                requester=CLIENT, subject=f"Заявка {n}", description="Не работает",
                                at=at, actor=REQUESTER, rules=desk.rules, product=Product.ONLINE,
                                product_version="2025.4")
        ticket.acknowledge(at=at + timedelta(minutes=1), actor=AGENT)
        ticket.classify(level=Level.STANDARD, product=Product.ONLINE, category=Category.DEFECT,
                        at=at + timedelta(minutes=2), actor=AGENT, rules=desk.rules)
        ticket.assign(assignee=f"agent-{n % 7}", at=at + timedelta(minutes=3), actor=AGENT)
        ticket.respond(text="Проверяем", at=at + timedelta(minutes=4), actor=AGENT, rules=desk.rules)
        batch.append(ticket)
        if len(batch) == 100:
            desk.save(*batch)
            batch = []
            time.sleep(pace)
    if batch:
        desk.save(*batch)


def _position(path: Path) -> int:
    if not path.exists():
        return 0
    with sqlite3.connect(path, timeout=10) as conn:
        try:
            row = conn.execute("SELECT MAX(position) FROM kafka_relay_position").fetchone()
        except sqlite3.OperationalError:
            return 0
    return int(row[0] or 0)


@pytest.mark.parametrize("seed", [1, 2])
def test_relay_killed_at_random_points_publishes_everything_in_order_at_least_once(
    kafka_broker: KafkaBroker, tmp_path: Path, seed: int
) -> None:
    rng = random.Random(seed)
    topic = f"ticket-events-kill-{seed}-{os.getpid()}-{int(time.time())}"
    config = kafka_broker.config()
    ensure_topics(config, [topic], partitions=6)
    store = tmp_path / "desk.sqlite"
    position_file = tmp_path / "relay-position.sqlite"
    desk_env = {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(store),
                "SQLITE_LOCK_TIMEOUT": "10"}
    desk = SupportDesk(desk_env)
    env = {
        **os.environ,
        "PASS24_PERSISTENCE": "sqlite",
        "PASS24_SQLITE_PATH": str(store),
        "PASS24_KAFKA_BOOTSTRAP_SERVERS": kafka_broker.bootstrap_servers,
        "PASS24_KAFKA_TICKET_EVENTS_TOPIC": topic,
        "PASS24_KAFKA_RELAY_POSITION_PATH": str(position_file),
        "PASS24_KAFKA_RELAY_BATCH_SIZE": "300",
        "PYTHONPATH": str(ROOT),
    }
    relay_log = (tmp_path / "relay.log").open("ab")

    def start_relay() -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [sys.executable, "-m", "services.cli", "relay", "--status-interval", "1",
             "--no-create-topics"],
            cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=relay_log, stderr=relay_log,
            start_new_session=True,
        )

    writer = threading.Thread(target=_write_tickets, args=(desk, TICKETS, rng, 0.12), daemon=True)
    writer.start()
    kills_mid_stream = 0
    process = start_relay()
    try:
        for _ in range(KILLS):
            time.sleep(rng.uniform(0.8, 2.2))
            before = _position(position_file)
            os.kill(process.pid, signal.SIGKILL)
            process.wait(10)
            if before < desk.recorder.max_notification_id():
                kills_mid_stream += 1
            process = start_relay()
        writer.join(60)
        assert not writer.is_alive()
        head = desk.recorder.max_notification_id()
        deadline = time.monotonic() + 40
        while _position(position_file) < head:
            assert process.poll() is None, (tmp_path / "relay.log").read_text()[-3000:]
            assert time.monotonic() < deadline, f"relay stuck at {_position(position_file)} of {head}"
            time.sleep(0.2)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                assert process.wait(15) == 0  # a clean stop after the kills
            finally:
                if process.poll() is None:
                    process.kill()
        relay_log.close()
    assert kills_mid_stream >= KILLS // 2, "the kills should land while events are being published"

    expected_total = TICKETS * EVENTS_PER_TICKET
    records = read_topic(config, topic, expect=expected_total, timeout=60)
    by_partition: dict[int, list[Any]] = defaultdict(list)
    for record in records:
        by_partition[record.partition].append(record)

    dedup = Deduplicator()
    applied: dict[str, list[int]] = defaultdict(list)
    partition_of: dict[str, int] = {}
    for partition, partition_records in by_partition.items():
        for record in sorted(partition_records, key=lambda r: r.offset):
            event = Envelope.parse(record.value)
            assert partition_of.setdefault(event.subject, partition) == partition
            if dedup.judge(event.originatorid, event.originatorversion) is Verdict.APPLY:
                applied[event.subject].append(event.originatorversion)

    assert len(applied) == TICKETS
    assert all(versions == [1, 2, 3, 4, 5] for versions in applied.values())  # once each, in order
    assert sum(len(v) for v in applied.values()) == expected_total
    assert dedup.ahead == 0  # no gap was ever visible
    assert len(records) == expected_total + dedup.duplicates
    print(f"seed {seed}: {len(records)} records for {expected_total} events "
          f"({dedup.duplicates} duplicates), {kills_mid_stream} kills mid-stream")
