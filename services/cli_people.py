"""``pass24-desk preview TEMPLATE --ticket ID [--lang ru|en]``: a letter as it would go out."""

from __future__ import annotations

import argparse
import sys
from datetime import datetime
from typing import Any

from services.bootstrap import build_desk
from services.settings import Settings


def register(subparsers: Any) -> None:
    from adapters.outbox.notices import TEMPLATES

    preview = subparsers.add_parser("preview", help="render a letter template for a ticket")
    preview.add_argument("template", choices=TEMPLATES)
    preview.add_argument("--ticket", required=True)
    preview.add_argument("--lang", choices=["ru", "en"], help="default: PASS24_LOCALE")
    preview.add_argument("--text", default="", help="the staff text (response, missing_details)")
    preview.add_argument("--clock", choices=["reaction", "resolution"], default="resolution",
                         help="staff_alert: which clock")
    preview.add_argument("--breached", action="store_true", help="staff_alert: a breach, not at risk")
    preview.set_defaults(handler=_preview)


def notices_for(settings: Settings, desk: Any) -> Any:
    from adapters.outbox.notices import Notices, NoticeSettings

    return Notices(NoticeSettings(from_address=settings.support_email,
                                  message_id_domain=settings.message_id_domain,
                                  phone=settings.support_phone, chatbot_url=settings.chatbot_url,
                                  from_name=settings.notice_from_name, language=settings.locale,
                                  templates_dir=settings.templates_dir, public_url=settings.public_url),
                   desk.policy, desk.calendar)


def sample_context(template: str, ticket: Any, args: argparse.Namespace, language: str,
                   now: datetime) -> dict[str, Any]:
    """What the real letter would get from its event, filled from the ticket as it is."""
    from adapters.i18n import name
    from adapters.outbox.notices import moscow
    from domain.sla import ClockName

    if template == "staff_alert":
        clock = ticket.schedule.clock(ClockName(args.clock))
        return {"alert": {"clock": args.clock, "clock_name": name("clock", args.clock, language),
                          "breached": args.breached, "due_at": moscow(clock.due_at), "at": moscow(now)},
                "ticket_url": ""}
    if template == "delivery_failure":
        failure = (ticket.delivery_failures or [{}])[-1]
        return {"failure": {"recipient": failure.get("recipient", ticket.requester.email),
                            "reason": failure.get("reason", "550 5.1.1 mailbox unavailable (sample)"),
                            "permanent": failure.get("permanent", True)},
                "fallback": [name("channel", c, language) for c in failure.get("fallback", ["chatbot", "phone"])]}
    if template == "missing_details":
        return {"text": args.text, "missing": [name("missing", m, language) for m in ticket.missing]}
    if template == "response":
        return {"text": args.text or "…", "links": []}
    return {}


def _preview(settings: Settings, args: argparse.Namespace) -> int:
    desk = build_desk(settings)
    try:
        ticket = desk.get_ticket(args.ticket)
        notices = notices_for(settings, desk)
        language = args.lang or settings.locale
        letter = notices.render(args.template, ticket, language=language,
                                **sample_context(args.template, ticket, args, language, desk.clock.now()))
    finally:
        desk.close()
    sys.stdout.write(f"Subject: {letter.subject}\n\n{letter.body}")
    return 0
