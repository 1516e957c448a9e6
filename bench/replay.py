"""Rebuilding every read model from scratch, against merely reading the same events.

Method: an SQLite event store with ~200k events of realistic ticket lifecycles
(receive, acknowledge, classify, assign, respond, sometimes a request for
information and the reply, escalation and release, postponement, resolve,
close), generated once through the domain and cached under
``var/bench/replay-<n>.sqlite``. Reference: read and decode the whole
notification log through the follower (the same batches the runner uses).
Measured: ``ProjectionRunner.rebuild()`` of all four read models (queue, SLA
timers, history, SLA stats) into an SQLite read store (drop, replay, write
rows and positions). Both run in the same process, interleaved ``--repeat``
times; the best of each counts (the machine is shared).
Prints events/s and ``RATIO replay/read = X`` (target >= 0.5).
"""

from __future__ import annotations

import sys
from pathlib import Path

_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))

import argparse  # noqa: E402
import random  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from datetime import datetime, timedelta  # noqa: E402
from zoneinfo import ZoneInfo  # noqa: E402

from domain.calendar import WorkingCalendar  # noqa: E402
from domain.ids import new_ticket_id  # noqa: E402
from domain.sla import SlaPolicy, SlaRules  # noqa: E402
from domain.ticket import Ticket  # noqa: E402
from domain.values import (  # noqa: E402
    Actor,
    Category,
    Channel,
    Level,
    PostponeReason,
    Product,
    Requester,
    RequiredInfo,
)
from projections.follower import NotificationFollower  # noqa: E402
from projections.store import SQLiteReadStore  # noqa: E402
from projections.system import build_projections  # noqa: E402
from services.application import SupportDesk  # noqa: E402
from services.clock import ManualClock  # noqa: E402

MSK = ZoneInfo("Europe/Moscow")
AGENT = Actor.staff("bench.agent")
SYSTEM = Actor.system()


def unique_id(rng: random.Random, seen: set[str]) -> str:
    """A fresh ticket ID (random IDs collide now and then among tens of thousands)."""
    while (ticket_id := new_ticket_id(rng)) in seen:
        pass
    seen.add(ticket_id)
    return ticket_id


def lifecycle(rng: random.Random, rules: SlaRules, at: datetime, seen: set[str]) -> Ticket:
    step = lambda: timedelta(minutes=rng.randint(1, 240))  # noqa: E731
    ticket = Ticket.receive(
        ticket_id=unique_id(rng, seen), channel=rng.choice([Channel.EMAIL, Channel.FORM, Channel.PHONE]),
        requester=Requester(name="Клиент", email=f"c{rng.randint(1, 5000)}@example.ru"),
        subject="Не открывается шлагбаум", description="Passes are rejected at the gate.",
        product=rng.choice([Product.ONLINE, Product.CONTROL, Product.MOBILE_ONLINE]),
        product_version="3.1", device="Pixel 7 / Android 15", at=at, actor=SYSTEM, rules=rules,
    )
    at += timedelta(minutes=1)
    ticket.acknowledge(at=at, actor=SYSTEM)
    level = rng.choices([Level.EMERGENCY, Level.STANDARD, Level.CONSULTATION], [1, 6, 3])[0]
    at += step()
    ticket.classify(level=level, product=ticket.product, category=Category.OPERATIONAL_FAILURE,
                    at=at, actor=AGENT, rules=rules)
    at += step()
    ticket.assign(assignee=f"agent.{rng.randint(1, 12)}", at=at, actor=AGENT)
    at += step()
    ticket.respond(text="Looking into it", at=at, actor=AGENT, rules=rules)
    if rng.random() < 0.4:
        at += step()
        ticket.request_information(text="Logs?", items=[RequiredInfo.DESCRIPTION], at=at,
                                   actor=AGENT, rules=rules)
        at += step()
        ticket.record_requester_reply(text="Attached", at=at, actor=Actor.requester("c"),
                                      rules=rules)
    if rng.random() < 0.15:
        at += step()
        ticket.escalate(summary="Bug", at=at, actor=AGENT, rules=rules)
        at += step() * 3
        ticket.record_fix_release(release="3.2", at=at, actor=AGENT, rules=rules)
    if rng.random() < 0.1:
        at += step()
        ticket.postpone(reason=PostponeReason.CANNOT_REPRODUCE, at=at, actor=AGENT, rules=rules)
        at += step()
        ticket.resume(at=at, actor=AGENT, rules=rules)
    if rng.random() < 0.85:
        at += step()
        ticket.resolve(resolution="Fixed", at=at, actor=AGENT, rules=rules)
        if rng.random() < 0.7:
            at += step()
            ticket.close(at=at, actor=SYSTEM)
    return ticket


def generate(path: Path, events: int, seed: int) -> None:
    rng = random.Random(seed)
    env = {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(path)}
    desk = SupportDesk(env=env)
    rules = SlaRules(SlaPolicy.regulation_default(), WorkingCalendar.default())
    start = datetime(2025, 1, 9, 9, 0, tzinfo=MSK)
    written, pending, seen = 0, [], set()
    while written < events:
        at = start + timedelta(minutes=written // 3)
        ticket = lifecycle(rng, rules, at, seen)
        written += len(ticket.pending_events)
        pending.append(ticket)
        if len(pending) >= 500:
            desk.save(*pending)
            pending = []
    if pending:
        desk.save(*pending)
    desk.close()


def read_all(follower: NotificationFollower) -> tuple[float, int]:
    started = time.perf_counter()
    position, count = 0, 0
    while batch := follower.read(position):
        position = batch[-1].position
        count += len(batch)
    return time.perf_counter() - started, count


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3, help="interleaved runs; best of each counts")
    args = parser.parse_args()

    cache = Path("var/bench") / f"replay-{args.events}-{args.seed}.sqlite"
    if not cache.exists():
        cache.parent.mkdir(parents=True, exist_ok=True)
        partial = cache.with_suffix(".partial")
        for leftover in cache.parent.glob(partial.name + "*"):
            leftover.unlink()
        t0 = time.perf_counter()
        generate(partial, args.events, args.seed)
        partial.rename(cache)
        print(f"generated {cache} in {time.perf_counter() - t0:.0f}s")

    env = {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(cache)}
    desk = SupportDesk(env=env)
    follower = NotificationFollower(desk, batch_size=args.batch)
    reads: list[float] = []
    rebuilds: list[float] = []
    with tempfile.TemporaryDirectory(prefix="pass24-replay-") as tmp:
        store = SQLiteReadStore(Path(tmp) / "read.sqlite")
        clock = ManualClock(datetime(2026, 1, 1, tzinfo=MSK))
        models, runner = build_projections(desk, calendar=desk.calendar, clock=clock, store=store,
                                           batch_size=args.batch)
        # Interleaved, best of each: other processes share the CPU.
        for _ in range(args.repeat):
            seconds, count = read_all(follower)
            reads.append(seconds)
            t0 = time.perf_counter()
            position = runner.rebuild()
            rebuilds.append(time.perf_counter() - t0)
        tickets = models.queue(limit=1).total
        store.close()
    read, rebuild = min(reads), min(rebuilds)

    print(f"events: {count} (log head {position}), SQLite, batches of {args.batch}")
    print(f"read + decode only: {count / read:10,.0f} events/s ({read:.1f}s)")
    print(f"rebuild all models: {count / rebuild:10,.0f} events/s ({rebuild:.1f}s), {tickets} open tickets")
    print(f"RATIO replay/read = {read / rebuild:.2f} (target >= 0.5)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
