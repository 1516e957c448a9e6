"""Direct delivery: an SMTP server (aiosmtpd) whose every accepted letter goes to the intake.

The server answers 250 only after the intake has stored the outcome (a ticket,
a reply or a quarantine entry, also for a letter whose handling failed half-way);
only when not even the quarantine could keep it does it answer 451, so the
sending server keeps the letter and tries again. Nothing is acknowledged and lost.

The letter's lines are spooled to a temporary file while they arrive (in memory
up to ``SPOOL_IN_MEMORY`` bytes, on disk past it), not collected as a list of
lines and joined as aiosmtpd does: a 30 MB letter costs one copy of itself when
the intake reads it, not three while it is received, and a letter over the size
limit costs nothing (its lines are counted and dropped; 552).
"""

from __future__ import annotations

import asyncio
import logging
import tempfile
from collections.abc import Sequence
from typing import IO, Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import MISSING, Envelope, Session, SMTP

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
        spool: IO[bytes] | None = getattr(envelope, "spool", None)
        if spool is not None:
            spool.seek(0)
            data = spool.read()
        else:
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


SPOOL_IN_MEMORY = 1024 * 1024


class SpoolingSMTP(SMTP):
    """aiosmtpd's server with DATA received into a spool file instead of a list of lines."""

    async def smtp_DATA(self, arg: str) -> None:
        if await self.check_helo_needed() or await self.check_auth_needed("DATA"):
            return
        assert self.envelope is not None
        if not self.envelope.rcpt_tos:
            await self.push("503 Error: need RCPT command")
            return
        if arg:
            await self.push("501 Syntax: DATA")
            return
        await self.push("354 End data with <CR><LF>.<CR><LF>")
        limit = self.data_size_limit
        size = 0
        refusal = ""
        with tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY) as spool:
            line_start = True
            while self.transport is not None:
                try:
                    line = await self._reader.readuntil(b"\r\n")
                except asyncio.LimitOverrunError as overrun:
                    # A line over RFC 5321's 1000 octets: Outlook and Exchange send them and
                    # MTAs (Postfix) pass them on, so it is taken in pieces, not refused
                    # (a 500 bounces a real request); the size limit still holds.
                    line = await self._reader.read(overrun.consumed)
                if line_start and line == b".\r\n":
                    break
                size += len(line)
                if limit and size > limit:
                    refusal = refusal or "552 Error: Too much mail data"
                if not refusal:
                    # RFC 5321 4.5.2: a leading dot was doubled by the sender.
                    spool.write(line[1:] if line_start and line.startswith(b".") else line)
                line_start = line.endswith(b"\r\n")
            if refusal:
                await self.push(refusal)
                self._set_post_data_state()  # type: ignore[no-untyped-call]
                return
            envelope: Any = self.envelope
            envelope.spool = spool
            envelope.content = envelope.original_content = None
            status = await self._call_handler_hook("DATA") if "DATA" in self._handle_hooks else MISSING
            envelope.spool = None
        self._set_post_data_state()  # type: ignore[no-untyped-call]
        await self.push("250 OK" if status is MISSING else status)


class SpoolingController(Controller):
    def factory(self) -> SMTP:
        return SpoolingSMTP(self.handler, **self.SMTP_kwargs)


class SmtpListener:
    """Runs the SMTP server in its own thread (aiosmtpd's Controller)."""

    def __init__(self, intake: EmailIntake, *, host: str, port: int,
                 accept_domains: Sequence[str] = (), max_bytes: int = 30 * 1024 * 1024) -> None:
        self.handler = IntakeHandler(intake, accept_domains=accept_domains)
        self.controller = SpoolingController(self.handler, hostname=host, port=port,
                                     data_size_limit=max_bytes, decode_data=False)

    @property
    def port(self) -> int:
        return int(self.controller.port)

    def start(self) -> None:
        self.controller.start()

    def stop(self) -> None:
        self.controller.stop()
