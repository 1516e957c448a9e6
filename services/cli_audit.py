"""``pass24-desk audit ...``: checks that the stored history was not altered.

``register`` creates the ``audit`` parser; other audit subcommands are added
with ``add_audit_command`` (or appended to ``register``).
"""

from __future__ import annotations

import argparse
from typing import Any

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
