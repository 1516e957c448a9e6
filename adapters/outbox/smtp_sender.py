"""Hands a message to an SMTP server and says whether a failure is worth retrying."""

from __future__ import annotations

import smtplib
import ssl
from dataclasses import dataclass


class DeliveryError(Exception):
    """The server did not take the message. ``permanent`` for 5xx answers (RFC 5321 §4.2.1)."""

    def __init__(self, reason: str, *, permanent: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent


@dataclass(frozen=True)
class SmtpSender:
    host: str
    port: int
    sender: str
    timeout: float = 30.0
    starttls: bool = False
    use_ssl: bool = False
    username: str = ""
    password: str = ""

    def send(self, message: bytes, recipient: str) -> None:
        """Return only when the server accepted the message for ``recipient``.

        An internationalised address (``олег@пример.рф``) goes out with its domain in IDNA
        and, when its local part is not ASCII, as SMTPUTF8 (RFC 6531); a server without it
        is a permanent failure, recorded like a rejection, not a crash of the send."""
        try:
            recipient = _ascii_domain(recipient)
        except UnicodeError as error:
            raise DeliveryError(f"not a deliverable domain: {error}", permanent=True) from None
        options = [] if recipient.isascii() else ["SMTPUTF8"]
        try:
            client: smtplib.SMTP
            if self.use_ssl:
                client = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout,
                                          context=ssl.create_default_context())
            else:
                client = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
            with client:
                if self.starttls:
                    client.starttls(context=ssl.create_default_context())
                if self.username:
                    client.login(self.username, self.password)
                refused = client.sendmail(self.sender, [recipient], message,
                                          mail_options=options)
        except smtplib.SMTPNotSupportedError as error:
            raise DeliveryError(f"the mail server cannot take this address: {error}",
                                permanent=True) from None
        except smtplib.SMTPRecipientsRefused as error:
            code, text = next(iter(error.recipients.values()))
            raise DeliveryError(_reply(code, text), permanent=500 <= code < 600) from None
        except smtplib.SMTPResponseException as error:
            raise DeliveryError(_reply(error.smtp_code, error.smtp_error),
                                permanent=500 <= error.smtp_code < 600) from None
        except (smtplib.SMTPException, OSError) as error:
            raise DeliveryError(f"{type(error).__name__}: {error}", permanent=False) from None
        if refused:
            code, text = next(iter(refused.values()))
            raise DeliveryError(_reply(code, text), permanent=500 <= code < 600)


def _reply(code: int, text: bytes | str) -> str:
    message = text.decode("utf-8", "replace") if isinstance(text, bytes) else text
    return f"{code} {message}".strip()


def _ascii_domain(address: str) -> str:
    """The address with a non-ASCII domain in its IDNA (``xn--``) form, which every server takes."""
    local, at, domain = address.rpartition("@")
    if not at or domain.isascii():
        return address
    return f"{local}@{domain.encode('idna').decode('ascii')}"
