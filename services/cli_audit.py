"""``pass24-desk audit ...``: checks that the stored history was not altered.

``register`` creates the ``audit`` parser; other audit subcommands are added
with ``add_audit_command`` (or appended to ``register``).
"""

from __future__ import annotations

import argparse
import sys
from datetime import datetime
from pathlib import Path
from collections.abc import Iterable
from typing import Any, TextIO

from adapters.audit.checkpoints import CheckpointStore, write_checkpoints
from adapters.audit.verify import Report, verify_originator, verify_store
from domain.ids import normalise_ticket_id, ticket_uuid
from services.bootstrap import build_desk
from services.settings import Settings

_audit: Any = None  # the ``audit`` sub-parsers object, once registered


def add_audit_command(name: str, help: str) -> argparse.ArgumentParser:  # noqa: A002
    """A parser for ``pass24-desk audit <name>``; give it ``set_defaults(handler=...)``."""
    if _audit is None:
        raise RuntimeError("services.cli_audit.register has not run")
    parser: argparse.ArgumentParser = _audit.add_parser(name, help=help)
    return parser


def register(subparsers: Any) -> None:
    global _audit
    audit = subparsers.add_parser("audit", help="tamper-evident history: verify, checkpoint")
    _audit = audit.add_subparsers(dest="audit_command", required=True)

    verify = add_audit_command("verify", "check every event's seal, the checkpoints, snapshots")
    verify.add_argument("--ticket", help="check one ticket only (checkpoints need the whole log)")
    verify.set_defaults(handler=lambda settings, args: _verify(settings, args.ticket))

    checkpoint = add_audit_command("checkpoint", "seal the notification log written so far")
    checkpoint.add_argument("--every", type=int, default=10_000,
                            help="rows per checkpoint (default 10000)")
    checkpoint.set_defaults(handler=lambda settings, args: _checkpoint(settings, args.every))

    replay = add_audit_command("replay", "SLA outcomes rebuilt from the events; what-if with other rules")
    replay.add_argument("--ticket", help="one ticket (default: every ticket, in order of receipt)")
    replay.add_argument("--as-of", help="ISO instant with offset (default: now); fix it for "
                        "reproducible exports")
    replay.add_argument("--policy", type=Path, help="SLA policy file for a what-if replay")
    replay.add_argument("--calendar", type=Path, help="calendar file for a what-if replay")
    replay.add_argument("--format", choices=["table", "jsonl", "csv"], default="table")
    replay.add_argument("--output", type=Path, help="write here instead of standard output")
    replay.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                        help="progress bar on standard error (default: when it is a terminal)")
    replay.set_defaults(handler=_replay)

    export = add_audit_command("export", "a ticket's full history, readable, every SLA clock change explained")
    export.add_argument("--ticket", required=True)
    export.add_argument("--output", type=Path)
    export.add_argument("--format", choices=["text", "html"], default="text",
                        help="html: one self-contained page with the SLA timeline picture")
    export.add_argument("--lang", choices=["ru", "en"], help="default: PASS24_LOCALE")
    export.add_argument("--as-of", help="ISO instant with offset (default: now)")
    export.set_defaults(handler=_export)


def _verify(settings: Settings, ticket: str | None) -> int:
    desk = build_desk(settings)
    try:
        if ticket:
            report = verify_originator(desk, ticket_uuid(normalise_ticket_id(ticket)))
        else:
            report = verify_store(desk)
    finally:
        desk.close()
    print(_summary(report, ticket))
    return 0 if report.ok else 1


def _summary(report: Report, ticket: str | None) -> str:
    if report.broken is not None:
        return f"BROKEN after {report.events} good events: {report.broken}"
    if ticket:
        return (f"OK ticket {normalise_ticket_id(ticket)}: {report.events} events, "
                f"{report.snapshots} snapshots")
    return (f"OK {report.events} events of {report.originators} aggregates, "
            f"{report.checkpoints} checkpoints, {report.unchecked_tail} events after the last "
            f"checkpoint, {report.snapshots} snapshots")


def _checkpoint(settings: Settings, every: int) -> int:
    desk = build_desk(settings)
    try:
        written = write_checkpoints(desk.recorder, CheckpointStore(desk.recorder),
                                    desk.mapper.keyring, every=every)
    finally:
        desk.close()
    if not written:
        print("nothing new to checkpoint")
    for checkpoint in written:
        # Print the seal so it can be kept outside the database (see docs/AUDIT.md).
        print(f"checkpoint {checkpoint.seq} upto={checkpoint.upto} rows={checkpoint.count} "
              f"key={checkpoint.kid} seal={checkpoint.chain.hex()}")
    return 0


def _instant(text: str | None, desk: Any) -> datetime:
    if text is None:
        moment: datetime = desk.clock.now()
        return moment
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise SystemExit("pass24-desk: --as-of needs an offset, e.g. 2025-05-12T12:00:00+03:00")
    return moment


def _replay(settings: Settings, args: argparse.Namespace) -> int:
    from services.audit_replay import (
        Outcomes, WhatIf, progress_bar, replay, write_csv, write_jsonl,
    )
    from services.config import load_calendar, load_policy

    desk = build_desk(settings)
    try:
        as_of = _instant(args.as_of, desk)
        what_if = None
        if args.policy or args.calendar:
            what_if = WhatIf(load_policy(args.policy) if args.policy else desk.policy,
                             load_calendar(args.calendar) if args.calendar else desk.calendar)
        show = sys.stderr.isatty() if args.progress is None else args.progress
        outcomes = Outcomes()
        # Written as they come: memory stays flat in the length of the history.
        results = outcomes.counted(replay(desk, as_of, ticket=args.ticket, what_if=what_if,
                                          progress=progress_bar() if show else None))
        out: TextIO = args.output.open("w", encoding="utf-8", newline="") if args.output else sys.stdout
        try:
            if args.format == "jsonl":
                write_jsonl(results, out)
            elif args.format == "csv":
                write_csv(results, out)
            else:
                _table(results, out, what_if is not None)
        finally:
            if args.output:
                out.close()
        summary = outcomes.counts
        line = (f"{summary['tickets']} tickets as of {as_of.isoformat()}: {summary['breached']} breached"
                + (f"; under the what-if rules {summary['whatif_breached']} breached, "
                   f"{summary['changed']} with a different outcome" if what_if else ""))
        print(line, file=sys.stderr)
    finally:
        desk.close()
    return 0


def _table(results: Iterable[dict[str, Any]], out: TextIO, what_if: bool) -> None:
    header = f"{'ticket':<11} {'level':<12} {'status':<22} {'reaction':<9} {'resolution':<10}"
    if what_if:
        header += f" {'what-if reaction':<16} {'what-if resolution':<18}"
    out.write(header + "\n")
    for r in results:
        line = (f"{r['ticket_id']:<11} {r['level'] or '-':<12} {r['status']:<22} "
                f"{r['recorded']['reaction']['status']:<9} {r['recorded']['resolution']['status']:<10}")
        if what_if:
            mark = " *" if r.get("changed") else ""
            line += (f" {r['whatif']['reaction']['status']:<16} "
                     f"{r['whatif']['resolution']['status']:<18}{mark}")
        out.write(line + "\n")


def _export(settings: Settings, args: argparse.Namespace) -> int:
    from services.audit_replay import export_ticket
    from services.ticket_report import build, document, last_event_at

    desk = build_desk(settings)
    try:
        language = args.lang or settings.locale
        as_of = _instant(args.as_of, desk) if args.as_of else None
        if args.format == "html":
            text = document(build(desk, args.ticket, as_of or last_event_at(desk, args.ticket), language))
        else:
            text = export_ticket(desk, args.ticket, language=language, as_of=as_of)
    finally:
        desk.close()
    if args.output:
        args.output.write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0
