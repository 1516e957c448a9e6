"""PostgreSQL read models rebuilt into a new schema, against reading the same log.

Method: a throwaway PostgreSQL server (the test fixture's: Docker or the Debian
binaries, tuned for speed), a store of ``--events`` ticket events written through
the ticket aggregate (``bench.history``). Reference: read and decode the whole
notification log through the follower, in the runner's batches. Measured, each in
the same process and interleaved ``--repeat`` times (best of each counts, the
machine is shared):

- ``into``: what ``projections rebuild --into NAME`` does: every read model into a
  new schema (indexes after the load, commits not waiting for the disk, ANALYZE);
- ``in place``: ``projections rebuild``: the live schema emptied and replayed.

Prints events/s and ``RATIO into/read``, ``RATIO in-place/read``.
"""

from __future__ import annotations

import sys
from pathlib import Path

_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))

import argparse  # noqa: E402
import time  # noqa: E402
from uuid import uuid4  # noqa: E402

from bench.history import generate  # noqa: E402
from projections.follower import NotificationFollower  # noqa: E402
from projections.pg_schemas import drop_schema, new_schema  # noqa: E402
from projections.store import PostgresReadStore, postgres_conninfo, store_for  # noqa: E402
from projections.system import build_into, build_projections  # noqa: E402
from services.application import SupportDesk  # noqa: E402


def read_all(follower: NotificationFollower) -> float:
    started = time.perf_counter()
    position = 0
    while batch := follower.read(position):
        position = batch[-1].position
    return time.perf_counter() - started


def into(env: dict[str, str], desk: SupportDesk, batch: int, round_: int) -> float:
    conninfo = postgres_conninfo(env)
    main = PostgresReadStore(conninfo, pool_size=2)
    schema = new_schema(main, f"bench{round_}")
    store = PostgresReadStore(conninfo, schema=schema)
    started = time.perf_counter()
    build_into(desk, store, calendar=desk.calendar, clock=desk.clock, batch_size=batch)
    seconds = time.perf_counter() - started
    store.close()
    drop_schema(main, f"bench{round_}")
    main.close()
    return seconds


def in_place(env: dict[str, str], desk: SupportDesk, batch: int) -> float:
    store = store_for(env)
    _, runner = build_projections(desk, calendar=desk.calendar, clock=desk.clock, store=store,
                                  batch_size=batch)
    started = time.perf_counter()
    runner.rebuild()
    seconds = time.perf_counter() - started
    store.close()
    return seconds


def main() -> int:
    from tests.fixtures.postgres import start_postgres

    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    with start_postgres() as server:
        env = server.create_database(f"bench_{uuid4().hex[:8]}").env()
        desk = SupportDesk(env=env)
        started = time.perf_counter()
        generate(desk, args.events, seed=7, save_every=2000)
        events = desk.recorder.max_notification_id()
        print(f"{events} events written in {time.perf_counter() - started:.0f}s", flush=True)
        follower = NotificationFollower(desk, batch_size=args.batch)
        reads, intos, places = [], [], []
        for round_ in range(args.repeat):
            reads.append(read_all(follower))
            intos.append(into(env, desk, args.batch, round_))
            places.append(in_place(env, desk, args.batch))
            print(f"round {round_ + 1}: read {reads[-1]:.1f}s, into {intos[-1]:.1f}s, "
                  f"in place {places[-1]:.1f}s", flush=True)
        desk.close()
    read, built, place = min(reads), min(intos), min(places)
    print(f"read + decode   {events / read:9.0f} events/s")
    print(f"rebuild --into  {events / built:9.0f} events/s")
    print(f"rebuild (place) {events / place:9.0f} events/s")
    print(f"RATIO into/read = {read / built:.2f}")
    print(f"RATIO in-place/read = {read / place:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
