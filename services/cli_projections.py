"""``pass24-desk projections run|rebuild|status`` and ``pass24-desk watcher``."""

from __future__ import annotations

import argparse
import signal
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from services.cli_input import UsageError
from services.settings import Settings

if TYPE_CHECKING:
    from projections.store import PostgresReadStore


def register(sub: Any) -> None:
    projections = sub.add_parser("projections", help="read models (queue, SLA timers, history, stats)")
    action = projections.add_subparsers(dest="projections_command", required=True)
    run = action.add_parser("run", help="follow the event store and keep the read models current")
    run.add_argument("--from-kafka", action="store_true",
                     help="read PASS24_KAFKA_TICKET_EVENTS_TOPIC in a consumer group instead")
    run.add_argument("--group", default=None,
                     help="consumer group (one per read store; default pass24-desk-projections)")
    run.set_defaults(handler=_run)
    rebuild = action.add_parser("rebuild", help="replay the whole log into the read models: in "
                                "place (emptied first), or into new ones with --into")
    rebuild.add_argument("--into", metavar="NEW",
                         help="build new read models while the current ones keep serving (then "
                              "`projections switch NEW`, or --switch): SQLite, a new file NEW; "
                              "PostgreSQL, a new schema rm_NEW (NEW: a-z, 0-9, _)")
    rebuild.add_argument("--switch", action="store_true",
                         help="with --into: make NEW the read store when it has caught up")
    rebuild.add_argument("--batch", type=int, default=2000, help="events per transaction")
    rebuild.set_defaults(handler=_rebuild)
    switch = action.add_parser("switch", help="make NEW (built by rebuild --into) the read store "
                               "of every process; serving processes follow within a second")
    switch.add_argument("new", nargs="?", metavar="NEW",
                        help="SQLite: the file; PostgreSQL: the name (schema rm_NEW)")
    switch.add_argument("--original", action="store_true",
                        help="PostgreSQL: back to the read models in the desk's own schema "
                             "(where they were before any switch)")
    switch.set_defaults(handler=_switch)
    drop_old = action.add_parser("drop-old", help="PostgreSQL: drop the schema rm_NAME of read "
                                 "models switched away from (never the live one)")
    drop_old.add_argument("name", metavar="NAME")
    drop_old.set_defaults(handler=_drop_old)
    action.add_parser("status", help="print the processed position and the log head "
                      "(PostgreSQL: and every read-model schema)").set_defaults(handler=_status)
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
    if args.into is None:
        services = _services(settings)
        started = time.perf_counter()
        position = services.runner.rebuild()
        print(f"rebuilt up to position {position} in {time.perf_counter() - started:.1f}s")
        return 0
    if settings.persistence == "postgres":
        return _rebuild_into_schema(settings, args.into, batch=args.batch, switch=args.switch)
    return _rebuild_into(settings, Path(args.into), batch=args.batch, switch=args.switch)


def _rebuild_into(settings: Settings, new: Path, *, batch: int, switch: bool) -> int:
    from projections.store import SQLiteReadStore
    from projections.system import build_into
    from services.bootstrap import build_desk

    if settings.persistence != "sqlite":
        raise SystemExit("pass24-desk: --into needs SQLite or PostgreSQL read models")
    if new.exists() and new.stat().st_size > 0:
        raise SystemExit(f"pass24-desk: {new} exists; --into builds a new file")
    desk = build_desk(settings)
    store = SQLiteReadStore(new)
    try:
        started = time.perf_counter()
        position = build_into(desk, store, calendar=desk.calendar, clock=desk.clock,
                              batch_size=batch)
        print(f"built {new} up to position {position} in {time.perf_counter() - started:.1f}s")
    finally:
        store.close()
        desk.close()
    if switch:
        return _switch(settings, argparse.Namespace(new=str(new), original=False))
    return 0


def _main_postgres(settings: Settings) -> PostgresReadStore:
    """The desk's database as a store that never leaves its own schema."""
    from projections.store import PostgresReadStore, postgres_conninfo

    return PostgresReadStore(postgres_conninfo(settings.eventsourcing_env()), pool_size=2)


def _rebuild_into_schema(settings: Settings, name: str, *, batch: int, switch: bool) -> int:
    """``--into`` on PostgreSQL: every read model into the new schema ``rm_NAME`` of the desk's
    database, while the live ones keep serving and their runners keep applying."""
    from projections.pg_schemas import SchemaError, mark_built, new_schema
    from projections.store import PostgresReadStore, postgres_conninfo
    from projections.system import build_into
    from services.bootstrap import build_desk

    main = _main_postgres(settings)
    try:
        schema = new_schema(main, name)
    except SchemaError as error:
        raise UsageError(str(error)) from None
    finally:
        main.close()
    desk = build_desk(settings)
    store = PostgresReadStore(postgres_conninfo(settings.eventsourcing_env()), schema=schema)
    try:
        started = time.perf_counter()
        position = build_into(desk, store, calendar=desk.calendar, clock=desk.clock,
                              batch_size=batch)
        mark_built(store, schema, position)
        print(f"built schema {schema} up to position {position} in "
              f"{time.perf_counter() - started:.1f}s")
    finally:
        store.close()
        desk.close()
    if switch:
        return _switch(settings, argparse.Namespace(new=name, original=False))
    print(f"make it live with: pass24-desk projections switch {name}")
    return 0


def _switch(settings: Settings, args: argparse.Namespace) -> int:
    from projections.store import SQLiteReadStore, pointer_for, read_store_path

    if settings.persistence == "postgres":
        return _switch_schema(settings, args)
    if settings.persistence != "sqlite":
        raise SystemExit("pass24-desk: switch needs SQLite or PostgreSQL read models")
    if args.original or args.new is None:
        raise UsageError("switch: name the SQLite file to switch to (--original is PostgreSQL's)")
    new = Path(args.new)
    if not new.exists():
        raise SystemExit(f"pass24-desk: {new} does not exist")
    current = read_store_path(settings.eventsourcing_env(), settings.projections_sqlite_path)
    SQLiteReadStore.write_pointer(pointer_for(current), new)
    print(f"read store is now {new.resolve()} (named in {pointer_for(current)}); the "
          "previous file can be deleted once no process uses it")
    return 0


def _switch_schema(settings: Settings, args: argparse.Namespace) -> int:
    from projections.pg_schemas import SchemaError, switch_to

    if (args.new is None) == (not args.original):
        raise UsageError("switch: give NAME or --original, not both")
    main = _main_postgres(settings)
    try:
        previous, schema = switch_to(main, None if args.original else args.new)
    except SchemaError as error:
        raise UsageError(str(error)) from None
    finally:
        main.close()
    print(f"read models are now schema {schema} (was {previous}); every process follows within "
          f"a second. {previous} is kept for switching back"
          + ("" if previous == main.home else
             f"; `pass24-desk projections drop-old {previous.removeprefix('rm_')}` drops it"))
    return 0


def _drop_old(settings: Settings, args: argparse.Namespace) -> int:
    from projections.pg_schemas import SchemaError, drop_schema

    if settings.persistence != "postgres":
        raise UsageError("drop-old is for PostgreSQL schemas; on SQLite delete the old file "
                         "once `projections switch` has moved every process off it")
    main = _main_postgres(settings)
    try:
        schema = drop_schema(main, args.name)
    except SchemaError as error:
        raise UsageError(str(error)) from None
    finally:
        main.close()
    print(f"dropped schema {schema}")
    return 0


def _status(settings: Settings, args: argparse.Namespace) -> int:
    services = _services(settings)
    head = services.runner.follower.head()
    for name, position in services.runner.tracked_positions().items():
        print(f"{name:12} position {position} of {head} (lag {head - position})")
    if settings.persistence == "postgres":
        from projections.pg_schemas import read_schemas

        for found in read_schemas(services.store):
            where = "none" if found.position is None else found.position
            print(f"schema {found.schema:20} {'live' if found.live else 'kept'}  position {where}")
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
