"""``pass24-desk audit ...``: checks that the stored history was not altered.

``register`` creates the ``audit`` parser; other audit subcommands are added
with ``add_audit_command`` (or appended to ``register``).
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from collections.abc import Iterable
from typing import Any, TextIO

from adapters.audit.checkpoints import CheckpointStore, write_checkpoints
from adapters.audit.verify import Report, verify_originator, verify_store
from domain.ids import normalise_ticket_id, ticket_uuid
from services.application import SupportDesk
from services.bootstrap import build_desk
from services.cli_input import INSTANT_HELP, UsageError, parse_instant
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
    audit = subparsers.add_parser(
        "audit", help="tamper-evident history: verify, checkpoint, replay, export",
        description="Every audit command reads an existing event store and names it; none "
                    "creates one (a wrong directory or setting is an error, not an empty OK).")
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
    replay.add_argument("--as-of", help=f"{INSTANT_HELP} (default: now); fix it for "
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


@dataclass(frozen=True)
class StoreInfo:
    """Which event store a command read, and how big it is, for the first line it prints."""

    where: str
    size_bytes: int
    log_length: int

    def __str__(self) -> str:
        return (f"store: {self.where} ({_human(self.size_bytes)}, "
                f"{self.log_length} events in the log)")


def _human(size: int) -> str:
    value = float(size)
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{int(value)} bytes" if unit == "bytes" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} bytes"


def open_existing_store(settings: Settings) -> tuple[SupportDesk, StoreInfo]:
    """The desk over an event store that already exists; a ``UsageError`` naming where it
    looked otherwise. Nothing is created: an auditor in the wrong directory, or with the
    wrong settings, must get an error, not an OK about an empty store made on the spot."""
    if settings.persistence == "popo":
        raise UsageError("PASS24_PERSISTENCE=popo is an in-memory store that no other process "
                         "can see: nothing to check (set PASS24_PERSISTENCE and its location)")
    if settings.persistence == "sqlite":
        path = settings.sqlite_path.expanduser().resolve()
        if not path.is_file():
            raise UsageError(f"no event store at {path}: the file does not exist (PASS24_SQLITE_PATH="
                             f"{settings.sqlite_path}, read from {Path.cwd()}); nothing checked")
        try:
            with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
                tables = {r[0] for r in conn.execute(
                    "SELECT name FROM sqlite_master WHERE type = 'table'")}
        except sqlite3.DatabaseError as error:
            raise UsageError(f"{path} is not an SQLite database ({error}); nothing checked") from None
        if "stored_events" not in tables:
            raise UsageError(f"{path} holds no event store (no stored_events table); nothing checked")
        desk = build_desk(settings, create_tables=False)
        size = sum(p.stat().st_size for p in (path, Path(f"{path}-wal")) if p.exists())
        return desk, StoreInfo(f"sqlite {path}", size, desk.recorder.max_notification_id() or 0)
    desk = build_desk(settings, create_tables=False)
    recorder: Any = desk.recorder  # the PostgreSQL recorder: its table and datastore
    table = recorder.events_table_name
    where = (f"postgres {settings.postgres_user}@{settings.postgres_host}:{settings.postgres_port}"
             f"/{settings.postgres_dbname} table {table}")
    with recorder.datastore.transaction(commit=False) as curs:
        curs.execute("SELECT to_regclass(%s) IS NOT NULL AS present", (table,))
        present = bool(curs.fetchone()["present"])
        size = 0
        if present:
            curs.execute("SELECT pg_total_relation_size(%s) AS size", (table,))
            size = int(curs.fetchone()["size"])
    if not present:
        desk.close()
        raise UsageError(f"no event store in {where}: the table does not exist; nothing checked")
    return desk, StoreInfo(where, size, desk.recorder.max_notification_id() or 0)


def _verify(settings: Settings, ticket: str | None) -> int:
    ticket_id = normalise_ticket_id(ticket) if ticket else None
    desk, info = open_existing_store(settings)
    try:
        print(info, flush=True)
        if ticket_id:
            report = verify_originator(desk, ticket_uuid(ticket_id))
        else:
            report = verify_store(desk)
    finally:
        desk.close()
    if ticket_id and report.ok and report.events == 0:
        raise UsageError(f"no ticket {ticket_id} in this store; nothing checked")
    print(_summary(report, ticket_id))
    return 0 if report.ok else 1


def _summary(report: Report, ticket: str | None) -> str:
    if report.broken is not None:
        return f"BROKEN after {report.events} good events: {report.broken}"
    if ticket:
        return f"OK ticket {ticket}: {report.events} events, {report.snapshots} snapshots"
    if report.events == 0:
        return "OK but EMPTY: the store holds no events"
    return (f"OK {report.events} events of {report.originators} aggregates, "
            f"{report.checkpoints} checkpoints, {report.unchecked_tail} events after the last "
            f"checkpoint, {report.snapshots} snapshots")


def _checkpoint(settings: Settings, every: int) -> int:
    desk, info = open_existing_store(settings)
    print(info, file=sys.stderr)
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
    now: datetime = desk.clock.now()
    return now if text is None else parse_instant(text, now=now, what="--as-of")


def _replay(settings: Settings, args: argparse.Namespace) -> int:
    from services.audit_replay import (
        Outcomes, WhatIf, progress_bar, replay, write_csv, write_jsonl,
    )
    from services.config import load_calendar, load_policy

    desk, info = open_existing_store(settings)
    print(info, file=sys.stderr)
    try:
        as_of = _instant(args.as_of, desk)
        if args.ticket:
            args.ticket = normalise_ticket_id(args.ticket)
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

    desk, info = open_existing_store(settings)
    print(info, file=sys.stderr)
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
