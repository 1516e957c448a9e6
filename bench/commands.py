"""Commands per second through SupportDesk against the raw rate of the same recorder.

Each ticket is received and taken through a 6-step lifecycle (classify,
assign, respond, request information, requester reply, resolve): 7 commands,
7 stored events, 7 transactions. The reference inserts the very same stored
events (same payload bytes, fresh originator IDs) into a fresh database of the
same recorder, one transaction per event. Ratio = desk events/s ÷ raw events/s.

Run: .venv/bin/python bench/commands.py [--tickets 300] [--persistence sqlite]
"""

from __future__ import annotations

import sys
from pathlib import Path

# bench/calendar.py would shadow the standard library's `calendar`: drop this folder from the path.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))

import argparse  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from dataclasses import replace  # noqa: E402
from datetime import timedelta  # noqa: E402
from uuid import uuid4  # noqa: E402

from domain.values import Actor, Category, Channel, Level, Product, Requester  # noqa: E402
from services.application import SupportDesk  # noqa: E402
from services.clock import ManualClock  # noqa: E402
from services.demo import msk  # noqa: E402

AGENT = Actor.staff("bench.agent")
REQUESTER = Requester(name="Bench", email="bench@example.ru")


def sqlite_env(directory: Path, name: str) -> dict[str, str]:
    return {
        "PERSISTENCE_MODULE": "eventsourcing.sqlite",
        "SQLITE_DBNAME": str(directory / f"{name}.sqlite"),
        "AGGREGATE_CACHE_MAXSIZE": "1000",
    }


def run_desk(desk: SupportDesk, clock: ManualClock, tickets: int) -> tuple[float, list[str]]:
    ids: list[str] = []
    run = uuid4().hex[:8]
    started = time.perf_counter()
    for n in range(tickets):
        clock.set(msk("2025-04-28 10:00") + timedelta(minutes=n % 400))
        ticket_id = desk.receive(
            channel=Channel.EMAIL, requester=REQUESTER, subject=f"Bench {n}",
            description="Pass rejected at the gate", product=Product.ONLINE,
            product_version="2025.4", actor=Actor.system(), intake_key=f"<bench-{run}-{n}@x>",
        ).ticket_id
        step = timedelta(minutes=1)
        clock.advance(step)
        desk.classify(ticket_id, level=Level.STANDARD, product=Product.ONLINE,
                      category=Category.OPERATIONAL_FAILURE, actor=AGENT)
        clock.advance(step)
        desk.assign(ticket_id, assignee="agent.a", actor=AGENT)
        clock.advance(step)
        desk.respond(ticket_id, text="Looking into it", actor=AGENT)
        clock.advance(step)
        desk.request_information(ticket_id, text="Which gate?", actor=AGENT)
        clock.advance(step)
        desk.record_requester_reply(ticket_id, text="Gate 2", actor=Actor.requester("bench"))
        clock.advance(step)
        desk.resolve(ticket_id, resolution="Reset the reader", actor=AGENT)
        ids.append(ticket_id)
    return time.perf_counter() - started, ids


def run_raw(source: SupportDesk, target: SupportDesk, ids: list[str]) -> tuple[float, int]:
    """Insert the desk's own stored events again, one transaction each."""
    from domain.ids import ticket_uuid

    batches = []
    for ticket_id in ids:
        fresh = uuid4()
        for stored in source.recorder.select_events(ticket_uuid(ticket_id)):
            batches.append([replace(stored, originator_id=fresh)])
    recorder = target.recorder
    started = time.perf_counter()
    for batch in batches:
        recorder.insert_events(batch)
    return time.perf_counter() - started, len(batches)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tickets", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    desk_rates, raw_rates = [], []
    events = 0
    with tempfile.TemporaryDirectory(prefix="pass24-bench-") as tmp:
        directory = Path(tmp)
        clock = ManualClock(msk("2025-04-28 10:00"))
        desk = SupportDesk(env=sqlite_env(directory, "desk"), clock=clock)
        run_desk(desk, clock, 20)  # warm-up: imports, caches, first pages
        for n in range(args.rounds):
            # Rounds alternate the two sides so that noise on a shared machine hits both.
            raw = SupportDesk(env=sqlite_env(directory, f"raw{n}"), clock=clock)
            desk_seconds, ids = run_desk(desk, clock, args.tickets)
            raw_seconds, events = run_raw(desk, raw, ids)
            desk_rates.append(events / desk_seconds)
            raw_rates.append(events / raw_seconds)
            raw.close()
    desk_rate, raw_rate = max(desk_rates), max(raw_rates)
    print(f"persistence: SQLite file (eventsourcing.sqlite), {args.tickets} tickets x {args.rounds} rounds, "
          f"{events} events per round, one transaction per event on both sides")
    print(f"SupportDesk: {desk_rate / 7:,.1f} lifecycles/s, {desk_rate:,.0f} events/s (best round; "
          f"all: {', '.join(f'{r:,.0f}' for r in desk_rates)})")
    print(f"raw recorder: {raw_rate:,.0f} events/s (best round; all: {', '.join(f'{r:,.0f}' for r in raw_rates)})")
    print(f"RATIO desk/raw = {desk_rate / raw_rate:.2f} (target >= 0.5)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
