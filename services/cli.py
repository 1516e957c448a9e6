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
from datetime import datetime

from domain.errors import DeskError
from services.logging import configure as configure_logging
from services.settings import Settings

AREAS = ("services.cli_api", "services.cli_projections", "services.cli_kafka", "services.cli_intake",
         "services.cli_audit", "services.cli_people", "services.cli_workers")
# Which area registers a command: a command imports only its own area (start-up stays
# short: `audit verify` needs no web framework, no Kafka client). Commands not listed
# here (and `--help`) register every area.
COMMAND_AREAS = {
    "serve": "services.cli_api", "token": "services.cli_api",
    "projections": "services.cli_projections", "watcher": "services.cli_projections",
    "audit": "services.cli_audit",
    "worker": "services.cli_workers", "parked": "services.cli_workers",
}


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pass24-desk", description="PASS24.online support desk")
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="take a few tickets through their lifecycle, print SLA state")
    demo.add_argument("--as-of", default="2025-05-12T12:00", help="moment to report at (MSK)")
    demo.set_defaults(handler=lambda settings, args: _demo(settings, args.as_of))

    show = sub.add_parser("show", help="a ticket's state and SLA clocks")
    show.add_argument("ticket_id")
    show.add_argument("--at", help="ISO instant for the SLA clocks (default: now)")
    show.set_defaults(handler=lambda settings, args: _show(settings, args.ticket_id, args.at))

    history = sub.add_parser("history", help="every event of a ticket, as JSON lines")
    history.add_argument("ticket_id")
    history.set_defaults(handler=lambda settings, args: _history(settings, args.ticket_id))

    command = next((a for a in (argv or ()) if not a.startswith("-")), None)
    wanted: tuple[str, ...] = (COMMAND_AREAS[command],) if command in COMMAND_AREAS else AREAS
    if command in ("demo", "show", "history"):
        wanted = ()
    for name in wanted:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as missing:
            if missing.name != name:
                raise
            continue
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    if argv is None:
        argv = sys.argv[1:]
    args = build_parser(argv).parse_args(argv)
    settings = Settings()
    configure_logging(settings.log_format, settings.log_level)
    try:
        status: int = args.handler(settings, args)
    except DeskError as error:
        print(f"pass24-desk: {error}", file=sys.stderr)
        return 2
    return status


def _demo(settings: Settings, as_of: str) -> int:
    from services.bootstrap import build_desk
    from services.clock import ManualClock
    from services.demo import format_table, msk, run_demo

    clock = ManualClock(msk("2025-04-28T09:00"))
    desk = build_desk(settings, clock=clock)
    ticket_ids = run_demo(desk, clock, as_of)
    print(format_table(desk, ticket_ids, clock.now()))
    where = settings.sqlite_path if settings.persistence == "sqlite" else settings.persistence
    print(f"\n{len(ticket_ids)} tickets stored in {where}; try: pass24-desk show {ticket_ids[0]}")
    return 0


def _show(settings: Settings, ticket_id: str, at: str | None) -> int:
    from services.api.views import ticket_view
    from services.bootstrap import build_desk

    desk = build_desk(settings)
    ticket = desk.get_ticket(ticket_id)
    moment = _instant(at) if at else desk.clock.now()
    view = ticket_view(ticket, moment, desk.calendar, desk.latest_versions)
    print(json.dumps(view, ensure_ascii=False, indent=2))
    return 0


def _history(settings: Settings, ticket_id: str) -> int:
    from services.bootstrap import build_desk

    desk = build_desk(settings)
    for event in desk.ticket_events(ticket_id):
        record = {"version": event.originator_version, "type": type(event).__qualname__}
        record.update({k: v for k, v in event.__dict__.items()
                       if k not in ("originator_id", "originator_version")})
        print(json.dumps(record, ensure_ascii=False, default=str))
    return 0


def _instant(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise SystemExit("pass24-desk: --at needs a timezone, e.g. 2025-05-12T12:00+03:00")
    return moment


if __name__ == "__main__":
    raise SystemExit(main())
