"""Intake subcommands: ``smtp-listen``, ``imap-poll``, ``outbox run``, ``quarantine list|show``."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from typing import Any

from services.settings import Settings


def register(sub: Any) -> None:
    smtp = sub.add_parser("smtp-listen", help="receive letters by SMTP (aiosmtpd) into the desk")
    smtp.add_argument("--host", help="default: PASS24_SMTP_LISTEN_HOST")
    smtp.add_argument("--port", type=int, help="default: PASS24_SMTP_LISTEN_PORT (8025)")
    smtp.add_argument("--no-outbox", action="store_true",
                      help="do not also run the outbox worker and the response mailer")
    smtp.set_defaults(handler=_smtp_listen)

    imap = sub.add_parser("imap-poll", help="import letters from an IMAP mailbox")
    imap.add_argument("--once", action="store_true", help="one pass, then exit")
    imap.set_defaults(handler=_imap_poll)

    outbox = sub.add_parser("outbox", help="outbound mail")
    outbox_sub = outbox.add_subparsers(dest="outbox_command", required=True)
    run = outbox_sub.add_parser("run", help="send queued mail; queue staff answers")
    run.add_argument("--once", action="store_true", help="one pass, then exit")
    run.set_defaults(handler=_outbox_run)
    status = outbox_sub.add_parser("list", help="the outbox's messages as JSON lines")
    status.add_argument("--ticket")
    status.set_defaults(handler=_outbox_list)

    quarantine = sub.add_parser("quarantine", help="letters that could not be read")
    q_sub = quarantine.add_subparsers(dest="quarantine_command", required=True)
    q_list = q_sub.add_parser("list", help="newest first")
    q_list.add_argument("--limit", type=int, default=50)
    q_list.set_defaults(handler=_quarantine_list)
    q_show = q_sub.add_parser("show", help="one letter's raw bytes on stdout")
    q_show.add_argument("entry_id", type=int)
    q_show.set_defaults(handler=_quarantine_show)
    q_retry = q_sub.add_parser("retry", help="hand a letter to the desk again; released when it goes in")
    q_retry.add_argument("entry_id", type=int)
    q_retry.set_defaults(handler=_quarantine_retry)


def _components(settings: Settings) -> Any:
    from services.mail import build_mail
    from services.bootstrap import build_desk

    desk = build_desk(settings)
    return desk, build_mail(desk, settings)


def _stop_on_signals() -> threading.Event:
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    return stop


def _smtp_listen(settings: Settings, args: argparse.Namespace) -> int:
    from adapters.email.smtp_listener import SmtpListener

    desk, mail = _components(settings)
    host = args.host or settings.smtp_listen_host
    port = args.port or settings.smtp_listen_port
    domains = [d.strip() for d in settings.smtp_accept_domains.split(",") if d.strip()]
    listener = SmtpListener(mail.intake, host=host, port=port, accept_domains=domains,
                            max_bytes=settings.letter_max_bytes)
    stop = _stop_on_signals()
    workers = [] if args.no_outbox else [
        threading.Thread(target=mail.worker.run, args=(stop,), daemon=True),
        threading.Thread(target=mail.mailer.run, args=(stop,), daemon=True),
    ]
    listener.start()
    for worker in workers:
        worker.start()
    print(f"pass24-desk SMTP intake on {host}:{port} for {', '.join(domains) or 'any domain'}",
          flush=True)
    stop.wait()
    listener.stop()
    for worker in workers:
        worker.join(5)
    desk.close()
    return 0


def _imap_poll(settings: Settings, args: argparse.Namespace) -> int:
    from adapters.email.imap_poller import ImapAccount, ImapPoller

    desk, mail = _components(settings)
    poller = ImapPoller(ImapAccount(
        host=settings.imap_host, port=settings.imap_port, username=settings.imap_username,
        password=settings.imap_password.get_secret_value(), mailbox=settings.imap_mailbox,
        use_ssl=settings.imap_ssl, ca_file=settings.imap_ca_file), mail.intake)
    if args.once:
        for delivery in poller.poll_once():
            print(json.dumps({"outcome": delivery.outcome.value, "ticket_id": delivery.ticket_id,
                              "detail": delivery.detail}, ensure_ascii=False))
        desk.close()
        return 0
    poller.run(_stop_on_signals(), settings.imap_poll_seconds)
    desk.close()
    return 0


def _outbox_run(settings: Settings, args: argparse.Namespace) -> int:
    desk, mail = _components(settings)
    if args.once:
        queued = mail.mailer.run_once()
        handled = mail.worker.run_once()
        print(json.dumps({"events_read": queued, "messages_handled": handled}))
        desk.close()
        return 0
    stop = _stop_on_signals()
    mailer = threading.Thread(target=mail.mailer.run, args=(stop,), daemon=True)
    mailer.start()
    mail.worker.run(stop)
    mailer.join(5)
    desk.close()
    return 0


def _outbox_list(settings: Settings, args: argparse.Namespace) -> int:
    from adapters.outbox.store import Outbox

    from services.bootstrap import main_store

    for entry in Outbox(main_store(settings)).entries(ticket_id=args.ticket):
        print(json.dumps({"key": entry.key, "ticket_id": entry.ticket_id, "to": entry.recipient,
                          "status": entry.status, "attempts": entry.attempts,
                          "error": entry.last_error, "message_id": entry.message_id},
                         ensure_ascii=False))
    return 0


def _quarantine_list(settings: Settings, args: argparse.Namespace) -> int:
    from adapters.email.quarantine import Quarantine
    from services.bootstrap import main_store

    quarantine = Quarantine(main_store(settings))
    quarantine.adopt(settings.mail_db_path)
    for letter in quarantine.list(limit=args.limit):
        print(json.dumps({"id": letter.id, "received_at": letter.received_at.isoformat(),
                          "source": letter.source, "reason": letter.reason, "size": letter.size},
                         ensure_ascii=False))
    return 0


def _quarantine_show(settings: Settings, args: argparse.Namespace) -> int:
    from adapters.email.quarantine import Quarantine
    from services.bootstrap import main_store

    quarantine = Quarantine(main_store(settings))
    quarantine.adopt(settings.mail_db_path)
    letter = quarantine.get(args.entry_id)
    if letter is None:
        print(f"pass24-desk: no quarantined letter #{args.entry_id}", file=sys.stderr)
        return 1
    sys.stdout.buffer.write(letter.raw)
    return 0


def _quarantine_retry(settings: Settings, args: argparse.Namespace) -> int:
    desk, mail = _components(settings)
    try:
        delivery = mail.intake.retry(args.entry_id)
    except LookupError as missing:
        print(f"pass24-desk: {missing}", file=sys.stderr)
        return 1
    finally:
        desk.close()
    print(json.dumps({"outcome": delivery.outcome.value, "ticket_id": delivery.ticket_id,
                      "detail": delivery.detail}, ensure_ascii=False))
    return 0 if delivery.outcome.value != "quarantined" else 2
