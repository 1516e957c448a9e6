"""Events published per second by the relay against kafka-python's raw producer.

Same broker, same run, same payloads: a SQLite store is filled with N ticket
events (5 per ticket); the relay drains it into a fresh topic (read the log,
decode the stored events, look up keys, build and encode envelopes, send, wait for
``acks=all`` after each batch, save the position). The reference sends the very
same (key, value) pairs, pre-encoded, with a producer of the same settings into
another fresh topic and waits for all acknowledgements once at the end. Rounds
alternate relay/raw; the median of each is reported. Ratio = relay ÷ raw.

Run: .venv/bin/python bench/relay.py [--events 20000] [--rounds 3] [--batch 500]
     [--bootstrap host:port]   (default: a Tansu broker started for the run)
"""

from __future__ import annotations

import sys
from pathlib import Path

# bench/calendar.py would shadow the standard library's `calendar`: drop this folder from the path.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))

import argparse  # noqa: E402
import contextlib  # noqa: E402
import random  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Iterator  # noqa: E402
from datetime import timedelta  # noqa: E402
from uuid import uuid4  # noqa: E402

from adapters.kafka.clients import KafkaConfig, ensure_topics  # noqa: E402
from adapters.kafka.positions import SQLitePositionStore  # noqa: E402
from adapters.kafka.relay import Relay  # noqa: E402
from domain.ids import new_ticket_id  # noqa: E402
from domain.ticket import Ticket  # noqa: E402
from domain.values import Actor, Category, Channel, Level, Product, Requester  # noqa: E402
from services.application import SupportDesk  # noqa: E402
from services.demo import msk  # noqa: E402

AGENT = Actor.staff("bench.agent")
REQUESTER = Requester(name="Bench", email="bench@example.ru")


def fill(desk: SupportDesk, tickets: int) -> None:
    rng = random.Random(24)
    batch: list[Ticket] = []
    for n in range(tickets):
        at = msk("2025-04-28 10:00") + timedelta(seconds=n)
        ticket = Ticket.receive(ticket_id=new_ticket_id(rng), channel=Channel.EMAIL,
                                requester=REQUESTER, subject=f"Bench {n}",
                                description="Pass rejected at the gate", at=at,
                                actor=Actor.system(), rules=desk.rules, product=Product.ONLINE,
                                product_version="2025.4")
        ticket.acknowledge(at=at + timedelta(minutes=1), actor=AGENT)
        ticket.classify(level=Level.STANDARD, product=Product.ONLINE,
                        category=Category.OPERATIONAL_FAILURE, at=at + timedelta(minutes=2),
                        actor=AGENT, rules=desk.rules)
        ticket.assign(assignee="agent", at=at + timedelta(minutes=3), actor=AGENT)
        ticket.respond(text="Checking", at=at + timedelta(minutes=4), actor=AGENT, rules=desk.rules)
        batch.append(ticket)
        if len(batch) == 200:
            desk.save(*batch)
            batch = []
    if batch:
        desk.save(*batch)


def payloads(desk: SupportDesk) -> list[tuple[bytes, bytes]]:
    """Exactly the (key, value) pairs the relay publishes, computed outside the timing."""
    relay = Relay(desk, lambda: None, _NoPositions(), topic="-")  # type: ignore[arg-type,return-value]
    pairs = []
    position = 0
    while batch := relay.follower.records(position, 5000):
        for record in batch:
            message = relay._message(record)
            if message is not None:
                pairs.append(message)
        position = batch[-1].position
    return pairs


class _NoPositions:
    def load(self, name: str) -> int:
        return 0

    def save(self, name: str, position: int) -> None:
        pass

    def close(self) -> None:
        pass


def run_relay(desk: SupportDesk, config: KafkaConfig, workdir: Path, batch: int) -> tuple[float, int]:
    topic = f"bench-relay-{uuid4().hex[:8]}"
    ensure_topics(config, [topic], partitions=6)
    positions = SQLitePositionStore(workdir / f"{topic}.sqlite")
    relay = Relay(desk, config.producer, positions, topic=topic, batch_size=batch)
    relay._ensure_producer()  # connection set-up is not publishing
    started = time.perf_counter()
    relay.drain()
    elapsed = time.perf_counter() - started
    relay.close()
    positions.close()
    return elapsed, relay.published


def run_raw(pairs: list[tuple[bytes, bytes]], config: KafkaConfig) -> tuple[float, int]:
    topic = f"bench-raw-{uuid4().hex[:8]}"
    ensure_topics(config, [topic], partitions=6)
    producer = config.producer()
    producer.partitions_for(topic)  # metadata fetched before the clock starts, as for the relay
    headers = [("content-type", b"application/cloudevents+json")]
    started = time.perf_counter()
    futures = [producer.send(topic, key=k, value=v, headers=headers) for k, v in pairs]
    producer.flush()
    elapsed = time.perf_counter() - started
    assert all(f.succeeded() for f in futures)
    producer.close()
    return elapsed, len(futures)


@contextlib.contextmanager
def broker(bootstrap: str | None) -> Iterator[str]:
    if bootstrap:
        yield bootstrap
        return
    from tests.fixtures.kafka import start_kafka

    with start_kafka() as started:
        yield started.bootstrap_servers


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch", type=int, default=500, help="relay batch size (the default setting)")
    parser.add_argument("--bootstrap", default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, broker(args.bootstrap) as bootstrap:
        workdir = Path(tmp)
        desk = SupportDesk({"PERSISTENCE_MODULE": "eventsourcing.sqlite",
                            "SQLITE_DBNAME": str(workdir / "desk.sqlite")})
        fill(desk, args.events // 5)
        pairs = payloads(desk)
        config = KafkaConfig(bootstrap_servers=bootstrap, client_id="bench")
        size = sum(len(k) + len(v) for k, v in pairs) / len(pairs)
        print(f"broker {bootstrap}; {len(pairs)} events, {size:.0f} bytes per message; "
              f"acks=all, idempotent, 1 in flight, linger {config.linger_ms} ms")
        relay_rates, raw_rates = [], []
        for round_ in range(1, args.rounds + 1):
            seconds, count = run_relay(desk, config, workdir, args.batch)
            relay_rates.append(count / seconds)
            seconds_raw, count_raw = run_raw(pairs, config)
            raw_rates.append(count_raw / seconds_raw)
            print(f"round {round_}: relay {count / seconds:8.0f} ev/s   raw {count_raw / seconds_raw:8.0f} ev/s")
        relay_rate, raw_rate = statistics.median(relay_rates), statistics.median(raw_rates)
        print(f"median: relay {relay_rate:.0f} ev/s, raw producer {raw_rate:.0f} ev/s")
        print(f"RATIO relay/raw = {relay_rate / raw_rate:.2f}")


if __name__ == "__main__":
    main()
