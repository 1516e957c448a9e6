"""``pass24-desk worker`` (the background workers without HTTP) and ``pass24-desk parked``
(what the workers set aside: list, retry, drop, log). See docs/OPERATIONS.md."""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from services.settings import Settings


def register(sub: Any) -> None:
    from services.bootstrap import WORKERS

    worker = sub.add_parser("worker", help="run background workers (no HTTP): "
                            + ", ".join(WORKERS))
    worker.add_argument("--only", help="comma-separated worker names (default: all)")
    worker.set_defaults(handler=_worker)

    parked = sub.add_parser("parked", help="events the workers set aside (poison)")
    action = parked.add_subparsers(dest="parked_command", required=True)
    listing = action.add_parser("list", help="what is set aside now")
    listing.add_argument("--worker", help="one worker's items (e.g. projections, outbox)")
    listing.add_argument("--ticket", help="one ticket's items (as the worker keys them)")
    listing.add_argument("--all", action="store_true", help="also items applied or dropped")
    listing.add_argument("--json", action="store_true", help="JSON lines")
    listing.set_defaults(handler=_list)

    retry = action.add_parser("retry", help="hand set-aside items back to their worker")
    retry.add_argument("ids", nargs="*", type=_ref, metavar="ID",
                       help="as listed: N, or read:N for the Kafka-fed read models' store")
    retry.add_argument("--worker")
    retry.add_argument("--ticket")
    retry.add_argument("--all", action="store_true")
    retry.add_argument("--by", default="", help="who asks (recorded; default: $USER)")
    retry.set_defaults(handler=_retry)

    drop = action.add_parser("drop", help="give up on set-aside items (recorded: who and why)")
    drop.add_argument("ids", nargs="+", type=_ref, metavar="ID",
                      help="as listed: N, or read:N for the Kafka-fed read models' store")
    drop.add_argument("--by", required=True, help="who drops them")
    drop.add_argument("--reason", required=True, help="why")
    drop.set_defaults(handler=_drop)

    log = action.add_parser("log", help="who retried or dropped what, newest first")
    log.set_defaults(handler=_log)
    for command in (listing, retry, drop, log):
        command.add_argument(
            "--read-store", type=Path, metavar="PATH",
            help="the SQLite read store of the Kafka-fed read models (default: the configured "
                 "one, PASS24_PROJECTIONS_SQLITE_PATH or <PASS24_SQLITE_PATH>.read.sqlite, "
                 "when that file exists; on PostgreSQL they park in the main database)")


READ = "read"
"""The label of items parked in the Kafka-fed read models' own SQLite store."""


def _ref(text: str) -> tuple[str, int]:
    """``N`` (the main database) or ``read:N`` (the Kafka-fed read store) as (store, id)."""
    store, _, number = text.rpartition(":")
    if store not in ("", READ) or not number.isdigit():
        raise argparse.ArgumentTypeError(f"{text!r}: give N or {READ}:N as listed")
    return store or "main", int(number)


def _read_store_path(settings: Settings, args: argparse.Namespace) -> Path | None:
    """Where the Kafka-fed read models on SQLite set poison aside, if that is not the main
    database (``projections run --from-kafka`` keeps them with its read models)."""
    from projections.store import pointer_for, read_store_path

    chosen: Path | None = getattr(args, "read_store", None)
    if chosen is not None:
        if not (chosen.is_file() or pointer_for(chosen).is_file()):
            raise SystemExit(f"pass24-desk parked: no read store at {chosen}")
        return chosen
    if settings.persistence == "postgres":
        return None  # the Kafka-fed read models' store is the main database
    path = settings.projections_sqlite_path
    if path is None and settings.persistence == "sqlite":
        path = read_store_path(settings.eventsourcing_env())
    if path is None or not (path.is_file() or pointer_for(path).is_file()):
        return None
    return path


@contextlib.contextmanager
def _lots(settings: Settings, args: argparse.Namespace) -> Iterator[dict[str, Any]]:
    """``{"main": lot, "read": lot}``: the main database and, on SQLite, the Kafka-fed read
    models' store (when there is one); closed after use."""
    from projections.parking import ParkingLot
    from projections.store import SQLiteReadStore, pointer_for
    from services.bootstrap import main_store

    lots = {"main": ParkingLot(main_store(settings))}
    path = _read_store_path(settings, args)
    main_path = getattr(lots["main"].store, "path", None)
    if path is not None and (main_path is None or Path(main_path).resolve() != path.resolve()):
        # As the feed opens it: following a `projections switch` to a rebuilt file.
        lots[READ] = ParkingLot(SQLiteReadStore(path, pointer=pointer_for(path)))
    try:
        yield lots
    finally:
        for lot in lots.values():
            lot.store.close()


def _shown(store: str, parked_id: int) -> str:
    return str(parked_id) if store == "main" else f"{store}:{parked_id}"


def _list(settings: Settings, args: argparse.Namespace) -> int:
    from projections.parking import ACTIVE, STATES

    shown = 0
    with _lots(settings, args) as lots:
        found = [(store, lot.items(worker=args.worker, ticket=args.ticket,
                                   states=STATES if args.all else ACTIVE))
                 for store, lot in lots.items()]
    for store, items in found:
        shown += len(items)
        for item in items:
            ref = _shown(store, item.id)
            if args.json:
                print(json.dumps({**item.plain(), "store": store, "ref": ref}, ensure_ascii=False))
            else:
                print(f"{ref:>6} {item.worker:16} {item.state:8} pos={item.position:<8} "
                      f"{item.event_id}  ticket={item.ticket}  tries={item.attempts}  "
                      f"{item.updated_at}\n       {item.error[:300]}")
    if not args.json:
        print(f"{shown} item(s)", file=sys.stderr)
    return 0


def _by_store(refs: list[tuple[str, int]], lots: dict[str, Any]) -> dict[str, list[int]]:
    wanted: dict[str, list[int]] = {}
    for store, parked_id in refs:
        if store not in lots:
            raise SystemExit(f"pass24-desk parked: {store}:{parked_id}: no Kafka-fed read store "
                             "here (give --read-store PATH)")
        wanted.setdefault(store, []).append(parked_id)
    return wanted


def _retry(settings: Settings, args: argparse.Namespace) -> int:
    import getpass

    with _lots(settings, args) as lots:
        wanted = _by_store(list(args.ids), lots)
        if args.worker or args.ticket or args.all:
            for store, lot in lots.items():
                wanted.setdefault(store, []).extend(
                    i.id for i in lot.items(worker=args.worker, ticket=args.ticket,
                                            states=("parked",)))
        if not any(wanted.values()):
            print("nothing to retry: give IDs, --worker, --ticket or --all", file=sys.stderr)
            return 1
        done = sum(lots[store].retry(ids, actor=args.by or getpass.getuser())
                   for store, ids in wanted.items())
    print(f"{done} item(s) handed back; their workers apply them (in order) on their next pass")
    return 0


def _drop(settings: Settings, args: argparse.Namespace) -> int:
    with _lots(settings, args) as lots:
        done = sum(lots[store].drop(ids, actor=args.by, reason=args.reason)
                   for store, ids in _by_store(list(args.ids), lots).items())
    print(f"{done} item(s) dropped by {args.by}")
    return 0 if done else 1


def _log(settings: Settings, args: argparse.Namespace) -> int:
    with _lots(settings, args) as lots:
        rows = [{**row, "store": store} for store, lot in lots.items() for row in lot.actions()]
    for row in sorted(rows, key=lambda r: str(r["at"]), reverse=True):
        print(json.dumps(row, ensure_ascii=False, default=str))
    return 0


def _worker(settings: Settings, args: argparse.Namespace) -> int:
    from services.bootstrap import build_services, parse_workers

    try:
        names = parse_workers(args.only)
    except ValueError as error:
        print(f"pass24-desk worker: {error}", file=sys.stderr)
        return 2
    services = build_services(settings)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    services.start(workers=names)
    print(f"workers running: {', '.join(sorted(names))}", flush=True)
    try:
        stop.wait()
    finally:
        services.stop()
    return 0
