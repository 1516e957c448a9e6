"""Direct delivery: an SMTP server (aiosmtpd) whose every accepted letter goes to the intake.

The server answers 250 only after the intake has stored the outcome (a ticket,
a reply or a quarantine entry, also for a letter whose handling failed half-way);
only when not even the quarantine could keep it does it answer 451, so the
sending server keeps the letter and tries again. Nothing is acknowledged and lost.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import Envelope, Session, SMTP

from adapters.email.intake import EmailIntake

log = logging.getLogger(__name__)


class IntakeHandler:
    """aiosmtpd handler: accepts mail for the configured domains, hands the bytes to the intake."""

    def __init__(self, intake: EmailIntake, *, accept_domains: Sequence[str] = ()) -> None:
        self.intake = intake
        self.accept_domains = tuple(d.lower().lstrip("@") for d in accept_domains)

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope,
                          address: str, rcpt_options: list[str]) -> str:
        domain = address.rpartition("@")[2].lower()
        if self.accept_domains and domain not in self.accept_domains:
            return "550 5.7.1 relaying denied"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or envelope.content
        data = raw if isinstance(raw, bytes) else str(raw).encode("utf-8", "surrogateescape")
        peer = session.peer[0] if isinstance(session.peer, tuple) else str(session.peer)
        try:
            delivery = await asyncio.get_running_loop().run_in_executor(
                None, lambda: self.intake.deliver(data, source=f"smtp:{peer}")
            )
        except Exception:
            log.exception("intake failed for a letter from %s", envelope.mail_from)
            return "451 4.3.0 temporary failure, try again later"
        log.info("letter from %s: %s %s", envelope.mail_from, delivery.outcome.value,
                 delivery.ticket_id or delivery.detail)
        return "250 2.0.0 accepted"


class SmtpListener:
    """Runs the SMTP server in its own thread (aiosmtpd's Controller)."""

    def __init__(self, intake: EmailIntake, *, host: str, port: int,
                 accept_domains: Sequence[str] = (), max_bytes: int = 30 * 1024 * 1024) -> None:
        self.handler = IntakeHandler(intake, accept_domains=accept_domains)
        self.controller = Controller(self.handler, hostname=host, port=port,
                                     data_size_limit=max_bytes, decode_data=False)

    @property
    def port(self) -> int:
        return int(self.controller.port)

    def start(self) -> None:
        self.controller.start()

    def stop(self) -> None:
        self.controller.stop()
