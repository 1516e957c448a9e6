"""Polls an IMAP mailbox: every new letter goes to the intake, then is flagged as imported.

Imported letters get the keyword ``$Pass24Imported`` (and ``\\Seen``) on the server,
so a restarted poller skips them; a crash between the intake and the flag only
means the letter is offered again, and the intake's Message-ID idempotency
turns that into a no-op.
"""

from __future__ import annotations

import imaplib
import logging
import ssl
import threading
from dataclasses import dataclass

from adapters.email.intake import Delivery, EmailIntake

log = logging.getLogger(__name__)
IMPORTED = "$Pass24Imported"


@dataclass(frozen=True)
class ImapAccount:
    host: str
    port: int
    username: str
    password: str
    mailbox: str = "INBOX"
    use_ssl: bool = True
    timeout: float = 30.0
    # A CA bundle (PEM) to trust instead of the system's, e.g. a company CA or the
    # server's own self-signed certificate; the host name is still checked.
    ca_file: str = ""


class ImapPoller:
    def __init__(self, account: ImapAccount, intake: EmailIntake) -> None:
        self.account = account
        self.intake = intake

    def _connect(self) -> imaplib.IMAP4:
        account = self.account
        client: imaplib.IMAP4
        if account.use_ssl:
            context = ssl.create_default_context(cafile=account.ca_file or None)
            client = imaplib.IMAP4_SSL(account.host, account.port, ssl_context=context,
                                       timeout=account.timeout)
        else:
            client = imaplib.IMAP4(account.host, account.port, timeout=account.timeout)
        client.login(account.username, account.password)
        return client

    def poll_once(self) -> list[Delivery]:
        """Import every letter not yet flagged; answers what became of each."""
        client = self._connect()
        try:
            status, _ = client.select(_quoted(self.account.mailbox))
            if status != "OK":
                raise RuntimeError(f"cannot open mailbox {self.account.mailbox!r}")
            status, data = client.uid("SEARCH", "UNKEYWORD", IMPORTED)
            if status != "OK":
                raise RuntimeError(f"IMAP search failed: {data!r}")
            uids = data[0].split() if data and data[0] else []
            deliveries = []
            for uid in (u.decode() for u in uids):
                raw = self._fetch(client, uid)
                if raw is None:
                    continue
                try:
                    delivery = self.intake.deliver(raw, source=f"imap:{self.account.mailbox}/{uid}")
                except Exception:  # noqa: BLE001 - not even the quarantine took it: next pass
                    log.exception("letter %s stays unflagged; the next poll offers it again", uid)
                    continue
                client.uid("STORE", uid, "+FLAGS", f"({IMPORTED} \\Seen)")
                deliveries.append(delivery)
            return deliveries
        finally:
            try:
                client.logout()
            except (imaplib.IMAP4.error, OSError):
                pass

    def _fetch(self, client: imaplib.IMAP4, uid: str) -> bytes | None:
        status, data = client.uid("FETCH", uid, "(BODY.PEEK[])")
        if status != "OK":
            return None
        for item in data:
            if isinstance(item, tuple) and len(item) == 2 and isinstance(item[1], bytes):
                return item[1]
        return None

    def run(self, stop: threading.Event, interval: float) -> None:
        while not stop.is_set():
            try:
                for delivery in self.poll_once():
                    log.info("imap letter: %s %s", delivery.outcome.value,
                             delivery.ticket_id or delivery.detail)
            except (imaplib.IMAP4.error, OSError, RuntimeError) as error:
                log.warning("IMAP poll failed (will retry): %s", error)
            except Exception:  # noqa: BLE001 - the poller outlives any one bad pass
                log.exception("IMAP poll failed (will retry)")
            stop.wait(interval)


def _quoted(mailbox: str) -> str:
    return '"' + mailbox.replace("\\", "\\\\").replace('"', '\\"') + '"'
