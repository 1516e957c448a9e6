"""``pass24-desk projections run|rebuild|status`` and ``pass24-desk watcher``."""

from __future__ import annotations

import argparse
import signal
import threading
import time
from typing import Any

from services.settings import Settings


def register(sub: Any) -> None:
    projections = sub.add_parser("projections", help="read models (queue, SLA timers, history, stats)")
    action = projections.add_subparsers(dest="projections_command", required=True)
    run = action.add_parser("run", help="follow the event store and keep the read models current")
    run.add_argument("--from-kafka", action="store_true",
                     help="read PASS24_KAFKA_TICKET_EVENTS_TOPIC in a consumer group instead")
    run.add_argument("--group", default=None,
                     help="consumer group (one per read store; default pass24-desk-projections)")
    run.set_defaults(handler=_run)
    action.add_parser("rebuild", help="drop the read models and replay the whole log"
                      ).set_defaults(handler=_rebuild)
    action.add_parser("status", help="print the processed position and the log head"
                      ).set_defaults(handler=_status)
    watcher = sub.add_parser("watcher", help="record SlaAtRisk/SlaBreached as time passes")
    watcher.add_argument("--interval", type=float, default=None,
                         help="seconds between passes (default: PASS24_WATCHER_INTERVAL, 30)")
    watcher.add_argument("--once", action="store_true", help="one pass, then exit")
    watcher.set_defaults(handler=_watch)


def _services(settings: Settings) -> Any:
    from services.bootstrap import build_services

    return build_services(settings)


def _until_signalled() -> None:
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()


def _run(settings: Settings, args: argparse.Namespace) -> int:
    if args.from_kafka:
        return _run_from_kafka(settings, args)
    services = _services(settings)
    print(f"projections at position {services.runner.catch_up()}; following", flush=True)
    services.runner.start()
    try:
        _until_signalled()
    finally:
        services.runner.stop()
    return 0


def _run_from_kafka(settings: Settings, args: argparse.Namespace) -> int:
    from projections.kafka_feed import DEFAULT_GROUP, build_kafka_feed
    from services.config import load_calendar

    feed = build_kafka_feed(settings, calendar=load_calendar(settings.calendar_file),
                            group=args.group or DEFAULT_GROUP)
    print(f"projections following {feed.topic} as group {feed.group}", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    try:
        feed.run(stop)
    finally:
        feed.close()
    return 0


def _rebuild(settings: Settings, args: argparse.Namespace) -> int:
    services = _services(settings)
    started = time.perf_counter()
    position = services.runner.rebuild()
    print(f"rebuilt up to position {position} in {time.perf_counter() - started:.1f}s")
    return 0


def _status(settings: Settings, args: argparse.Namespace) -> int:
    services = _services(settings)
    head = services.runner.follower.head()
    for name, position in services.runner.tracked_positions().items():
        print(f"{name:12} position {position} of {head} (lag {head - position})")
    return 0


def _watch(settings: Settings, args: argparse.Namespace) -> int:
    services = _services(settings)
    services.runner.catch_up()
    if args.once:
        print(f"recorded {services.watcher.run_once()} alert(s)")
        return 0
    services.watcher.interval = args.interval or settings.watcher_interval
    services.runner.start()
    services.watcher.start()
    try:
        _until_signalled()
    finally:
        services.watcher.stop()
        services.runner.stop()
    return 0
