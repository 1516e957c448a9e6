"""``pass24-desk worker`` (the background workers without HTTP) and ``pass24-desk parked``
(what the workers set aside: list, retry, drop, log). See docs/OPERATIONS.md."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
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
    retry.add_argument("ids", nargs="*", type=int)
    retry.add_argument("--worker")
    retry.add_argument("--ticket")
    retry.add_argument("--all", action="store_true")
    retry.add_argument("--by", default="", help="who asks (recorded; default: $USER)")
    retry.set_defaults(handler=_retry)

    drop = action.add_parser("drop", help="give up on set-aside items (recorded: who and why)")
    drop.add_argument("ids", nargs="+", type=int)
    drop.add_argument("--by", required=True, help="who drops them")
    drop.add_argument("--reason", required=True, help="why")
    drop.set_defaults(handler=_drop)

    action.add_parser("log", help="who retried or dropped what, newest first"
                      ).set_defaults(handler=_log)


def _lot(settings: Settings) -> Any:
    from projections.parking import ParkingLot
    from services.bootstrap import main_store

    return ParkingLot(main_store(settings))


def _list(settings: Settings, args: argparse.Namespace) -> int:
    from projections.parking import ACTIVE, STATES

    items = _lot(settings).items(worker=args.worker, ticket=args.ticket,
                                 states=STATES if args.all else ACTIVE)
    for item in items:
        if args.json:
            print(json.dumps(item.plain(), ensure_ascii=False))
        else:
            print(f"{item.id:>6} {item.worker:16} {item.state:8} pos={item.position:<8} "
                  f"{item.event_id}  ticket={item.ticket}  tries={item.attempts}  "
                  f"{item.updated_at}\n       {item.error[:300]}")
    if not args.json:
        print(f"{len(items)} item(s)", file=sys.stderr)
    return 0


def _retry(settings: Settings, args: argparse.Namespace) -> int:
    import getpass

    lot = _lot(settings)
    ids = list(args.ids)
    if args.worker or args.ticket or args.all:
        ids += [i.id for i in lot.items(worker=args.worker, ticket=args.ticket, states=("parked",))]
    if not ids:
        print("nothing to retry: give IDs, --worker, --ticket or --all", file=sys.stderr)
        return 1
    done = lot.retry(ids, actor=args.by or getpass.getuser())
    print(f"{done} item(s) handed back; their workers apply them (in order) on their next pass")
    return 0


def _drop(settings: Settings, args: argparse.Namespace) -> int:
    done = _lot(settings).drop(args.ids, actor=args.by, reason=args.reason)
    print(f"{done} item(s) dropped by {args.by}")
    return 0 if done else 1


def _log(settings: Settings, args: argparse.Namespace) -> int:
    for row in _lot(settings).actions():
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
