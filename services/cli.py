"""The ``pass24-desk`` command line.

Subcommands of other areas (API server, projections, Kafka workers, intake
adapters) live in ``services/cli_<area>.py`` modules, each with a
``register(subparsers)`` that adds parsers with ``set_defaults(handler=...)``;
a handler takes ``(settings, args)`` and returns the exit status.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from domain.errors import DeskError
from services.cli_input import INSTANT_HELP, MOSCOW, UsageError, parse_instant
from services.config import ConfigError
from services.logging import configure as configure_logging
from services.settings import Settings, SettingsError, load_settings

AREAS = ("services.cli_api", "services.cli_projections", "services.cli_kafka", "services.cli_intake",
         "services.cli_audit", "services.cli_workers", "services.cli_health",
         "services.cli_people")
DEMO_STORE = Path("var/demo.sqlite")
# Which area registers a command: a command imports only its own area (start-up stays
# short: `audit verify` needs no web framework, no Kafka client). Commands not listed
# here (and `--help`) register every area.
COMMAND_AREAS = {
    "serve": "services.cli_api", "token": "services.cli_api",
    "projections": "services.cli_projections", "watcher": "services.cli_projections",
    "audit": "services.cli_audit", "check": "services.cli_health",
    "worker": "services.cli_workers", "parked": "services.cli_workers",
}


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pass24-desk", description="PASS24.online support desk",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = sub.add_parser("demo", help="take a few tickets through their lifecycle, print SLA state")
    demo.add_argument("--as-of", default="2025-05-12T12:00+03:00", help="moment to report at")
    demo.add_argument("--store", type=Path, default=None,
                      help=f"SQLite file for the demo tickets (default: {DEMO_STORE}, never the "
                           "configured store)")
    demo.add_argument("--into-configured-store", action="store_true",
                      help="write the 2025-dated demo tickets into the configured event store")
    demo.set_defaults(handler=_demo)

    show = sub.add_parser("show", help="a ticket's state and SLA clocks, as GET /tickets/{id}")
    show.add_argument("ticket_id")
    show.add_argument("--at", help=f"instant for the SLA clocks (default: now); {INSTANT_HELP}")
    show.set_defaults(handler=lambda settings, args: _show(settings, args.ticket_id, args.at))

    history = sub.add_parser("history", help="every event of a ticket as JSON lines, the fields "
                             "and formats of GET /tickets/{id}/history")
    history.add_argument("ticket_id")
    history.add_argument("--as-of", help=f"only the events recorded by then; {INSTANT_HELP}")
    history.set_defaults(handler=_history)

    calendar = sub.add_parser("calendar", help="the working calendar the SLA clocks use")
    calendar_sub = calendar.add_subparsers(dest="calendar_command", required=True, metavar="ACTION")
    cal_show = calendar_sub.add_parser(
        "show", help="a year's working days and every exception with its source")
    cal_show.add_argument("year", type=int)
    cal_show.add_argument("--file", type=Path,
                          help="calendar override file (default: PASS24_CALENDAR_FILE)")
    cal_show.add_argument("--days", action="store_true",
                          help="also list every working day as an ISO date, one a line")
    cal_show.set_defaults(handler=_calendar_show)

    command = next((a for a in (argv or ()) if not a.startswith("-")), None)
    wanted: tuple[str, ...] = (COMMAND_AREAS[command],) if command in COMMAND_AREAS else AREAS
    if command in ("demo", "show", "history", "calendar"):
        wanted = ()
    for name in wanted:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as missing:
            if missing.name != name:
                raise
            continue
        module.register(sub)
    parser.epilog = "every command:\n" + "\n".join(f"  pass24-desk {c}" for c in commands(parser))
    return parser


def commands(parser: argparse.ArgumentParser) -> list[str]:
    """Every runnable command line, e.g. ``audit verify``, ``token list``."""
    found: list[str] = []
    for action in parser._actions:  # noqa: SLF001 - argparse keeps subparsers nowhere else
        if isinstance(action, argparse._SubParsersAction):  # noqa: SLF001
            for name, child in action.choices.items():
                nested = commands(child)
                found.extend(f"{name} {n}" for n in nested) if nested else found.append(name)
    return found


def main(argv: Sequence[str] | None = None) -> int:
    if argv is None:
        argv = sys.argv[1:]
    args = build_parser(argv).parse_args(argv)
    try:
        settings = load_settings()
    except SettingsError as error:
        print(f"pass24-desk: {error}", file=sys.stderr)
        return 2
    configure_logging(settings.log_format, settings.log_level)
    try:
        status: int = args.handler(settings, args)
    except (DeskError, UsageError, ConfigError, SettingsError) as error:
        print(f"pass24-desk: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader (``| head``) has gone; say nothing more on a closed pipe.
        sys.stderr.close()
        return 141
    except OSError as error:  # a file that cannot be written, a server that does not answer
        print(f"pass24-desk: {error}", file=sys.stderr)
        return 1
    except Exception as error:
        if type(error).__module__.startswith("psycopg"):  # the database does not answer
            where = f"{settings.postgres_host}:{settings.postgres_port}/{settings.postgres_dbname}"
            reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
            print(f"pass24-desk: PostgreSQL at {where}: {reason}", file=sys.stderr)
            return 1
        raise
    return status


def _demo(settings: Settings, args: argparse.Namespace) -> int:
    from services.bootstrap import build_desk
    from services.clock import ManualClock
    from services.demo import format_table, msk, run_demo

    if settings.environment == "production":
        raise UsageError("demo writes made-up tickets: refused with PASS24_ENVIRONMENT=production")
    if not args.into_configured_store:
        settings = settings.model_copy(update={"persistence": "sqlite",
                                               "sqlite_path": args.store or DEMO_STORE})
    as_of = parse_instant(args.as_of, what="--as-of")
    clock = ManualClock(msk("2025-04-28T09:00"))
    desk = build_desk(settings, clock=clock)
    ticket_ids = run_demo(desk, clock, as_of.astimezone(MOSCOW).strftime("%Y-%m-%d %H:%M"))
    print(format_table(desk, ticket_ids, clock.now()))
    where = settings.sqlite_path if settings.persistence == "sqlite" else settings.persistence
    env = "" if args.into_configured_store else f"PASS24_SQLITE_PATH={where} "
    print(f"\n{len(ticket_ids)} tickets stored in {where}; try: {env}pass24-desk show {ticket_ids[0]}")
    return 0


def _show(settings: Settings, ticket_id: str, at: str | None) -> int:
    from services.api.views import ticket_view
    from services.bootstrap import build_desk

    desk = build_desk(settings)
    ticket = desk.get_ticket(ticket_id)
    moment = parse_instant(at, now=desk.clock.now(), what="--at") if at else desk.clock.now()
    view = ticket_view(ticket, moment, desk.calendar, desk.latest_versions)
    print(json.dumps(view, ensure_ascii=False, indent=2))
    return 0


def _history(settings: Settings, args: argparse.Namespace) -> int:
    from services.api.views import event_view
    from services.bootstrap import build_desk

    desk = build_desk(settings)
    as_of = parse_instant(args.as_of, now=desk.clock.now(), what="--as-of") if args.as_of else None
    events, ticket = desk.ticket_as_of(args.ticket_id, as_of)
    if ticket is None:
        assert as_of is not None
        raise UsageError(f"ticket {args.ticket_id} was not yet received at {as_of.isoformat()}")
    for event in events:
        print(json.dumps(event_view(event), ensure_ascii=False))
    return 0


def _calendar_show(settings: Settings, args: argparse.Namespace) -> int:
    from services.calendar_report import calendar_report

    if not 1990 <= args.year <= 2100:
        raise UsageError(f"year {args.year}: the production calendar covers 1990-2100")
    path = args.file or settings.calendar_file
    print(calendar_report(args.year, path, list_days=args.days), end="")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
