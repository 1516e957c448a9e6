"""One letter, parsed: who wrote, about what, the readable text, threading headers and files.

Parsing uses the standard library's ``email`` with ``policy.default`` (RFC 2047
headers and RFC 2231 file names decoded, base64 and quoted-printable undone).
What cannot be read raises ``UnreadableLetter`` with a reason, for the quarantine.
"""

from __future__ import annotations

import hashlib
import mimetypes
import re
from dataclasses import dataclass, field
from datetime import datetime
from email import errors as email_errors
from email import policy
from email.message import EmailMessage, Message
from email.parser import BytesParser
from email.utils import getaddresses, parsedate_to_datetime

from adapters.email.charsets import decode_guess, repair_header
from adapters.email.html_text import html_to_text

_MSGID = re.compile(r"<[^<>\s]+>")
# Structure defects that leave the parts unknowable: the body would be raw MIME.
_FATAL_DEFECTS = (
    email_errors.NoBoundaryInMultipartDefect,
    email_errors.StartBoundaryNotFoundDefect,
    email_errors.MultipartInvariantViolationDefect,
)


class UnreadableLetter(Exception):
    """The letter cannot be turned into a request; ``reason`` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class AttachedFile:
    filename: str
    content_type: str
    content: bytes
    inline: bool = False


@dataclass(frozen=True)
class Letter:
    message_id: str
    sender_name: str
    sender_email: str
    subject: str
    text: str
    in_reply_to: tuple[str, ...] = ()
    references: tuple[str, ...] = ()
    date: datetime | None = None
    attachments: tuple[AttachedFile, ...] = ()
    defects: tuple[str, ...] = ()
    message: EmailMessage = field(default_factory=EmailMessage, repr=False, compare=False)

    @property
    def thread_ids(self) -> tuple[str, ...]:
        """Message-IDs this letter answers, nearest first."""
        seen: list[str] = []
        for mid in (*self.in_reply_to, *reversed(self.references)):
            if mid not in seen:
                seen.append(mid)
        return tuple(seen)


def read_message(raw: bytes) -> EmailMessage:
    message = BytesParser(policy=policy.default).parsebytes(raw)
    assert isinstance(message, EmailMessage)
    return message


def parse_letter(raw: bytes) -> Letter:
    """Parse raw RFC 5322 bytes; raise ``UnreadableLetter`` for what cannot be read."""
    if not raw.strip():
        raise UnreadableLetter("empty input")
    try:
        message = read_message(raw)
        return _letter(message, raw)
    except UnreadableLetter:
        raise
    except Exception as error:  # the email package raises many kinds on hostile input
        raise UnreadableLetter(f"parser failed: {type(error).__name__}: {error}") from error


def header(message: Message, name: str) -> str:
    """A header as text, '' when absent or unreadable."""
    try:
        value = message.get(name)
    except Exception:
        value = None
    text = str(value) if value is not None else ""
    if "\ufffd" in text or (value is None and name in message):
        # Raw 8-bit bytes in a header: the policy replaced them; the stored raw value kept them.
        raw = next((v for k, v in message.raw_items() if k.lower() == name.lower()), "")
        text = repair_header(raw) if isinstance(raw, str) else text
    return " ".join(text.split()) if name.lower() == "subject" else text.strip()


def message_ids(value: str) -> tuple[str, ...]:
    return tuple(_MSGID.findall(value))


def _letter(message: EmailMessage, raw: bytes) -> Letter:
    fatal = [d for part in message.walk() for d in part.defects if isinstance(d, _FATAL_DEFECTS)]
    if fatal:
        raise UnreadableLetter(f"broken MIME structure: {type(fatal[0]).__name__}")
    name, address = _sender(message)
    ids = message_ids(header(message, "Message-ID"))
    message_id = ids[0] if ids else _synthetic_id(raw)
    texts: list[str] = []
    files: list[AttachedFile] = []
    _collect(message, texts, files)
    subject = " ".join(header(message, "Subject").split())
    text = "\n\n".join(t for t in texts if t.strip()).strip()
    if not (subject or text or files):
        raise UnreadableLetter("no subject, no text and no attachments")
    defects = tuple(sorted({type(d).__name__ for part in message.walk() for d in part.defects}))
    return Letter(
        message_id=message_id,
        sender_name=name,
        sender_email=address,
        subject=subject,
        text=text,
        in_reply_to=message_ids(header(message, "In-Reply-To")),
        references=message_ids(header(message, "References")),
        date=_date(header(message, "Date")),
        attachments=tuple(files),
        defects=defects,
        message=message,
    )


def _sender(message: EmailMessage) -> tuple[str, str]:
    for name in ("From", "Sender", "Reply-To"):
        value = header(message, name)
        if not value:
            continue
        for display, address in getaddresses([value]):
            address = address.strip()
            local, _, domain = address.rpartition("@")
            if local and "." in domain and " " not in address:
                return display.strip(), address
    raise UnreadableLetter("no sender address (From)")


def _synthetic_id(raw: bytes) -> str:
    """A stable stand-in for a missing Message-ID, so redelivery is still recognised."""
    return f"<sha256-{hashlib.sha256(raw).hexdigest()[:40]}@no-message-id.pass24-desk>"


def _date(value: str) -> datetime | None:
    try:
        moment = parsedate_to_datetime(value) if value else None
    except (TypeError, ValueError, IndexError):
        return None
    return moment if moment is not None and moment.tzinfo is not None else None


def _collect(part: EmailMessage, texts: list[str], files: list[AttachedFile]) -> None:
    """Walk the MIME tree: readable text into ``texts``, everything else into ``files``."""
    content_type = part.get_content_type()
    if content_type == "message/rfc822":
        payload = part.get_payload()
        inner = payload[0] if isinstance(payload, list) and payload else None
        if isinstance(inner, EmailMessage):
            texts.append(_forwarded_heading(inner))
            _collect(inner, texts, files)
        return
    if part.is_multipart():
        children = [p for p in part.iter_parts() if isinstance(p, EmailMessage)]
        if content_type == "multipart/alternative":
            chosen = _best_alternative(children)
            children = [chosen] if chosen is not None else []
        for child in children:
            _collect(child, texts, files)
        return
    disposition = part.get_content_disposition()
    if part.get_content_maintype() == "text" and disposition != "attachment" and (
        content_type in ("text/plain", "text/html") and not part.get_filename()
    ):
        body = _text_of(part)
        texts.append(html_to_text(body) if content_type == "text/html" else body)
        return
    files.append(_file(part, len(files) + 1))


def _best_alternative(children: list[EmailMessage]) -> EmailMessage | None:
    for wanted in ("text/plain", "text/html"):
        for child in children:
            if child.get_content_type() == wanted and _text_of(child).strip():
                return child
    for child in children:
        if child.is_multipart():
            return child
    return children[0] if children else None


def _text_of(part: EmailMessage) -> str:
    """The decoded text of a text part, tolerating unknown or wrong charsets."""
    payload = part.get_payload(decode=True)
    data = payload if isinstance(payload, bytes) else b""
    declared = part.get_content_charset()
    if declared in (None, "us-ascii") and not data.isascii():
        declared = None  # 8-bit bytes labelled ASCII (or unlabelled): guess
    text = decode_guess(data, declared)
    return text.replace("\r\n", "\n")


def _file(part: EmailMessage, number: int) -> AttachedFile:
    content_type = part.get_content_type()
    payload = part.get_payload(decode=True)
    content = payload if isinstance(payload, bytes) else b""
    try:
        filename = part.get_filename() or ""
    except Exception:
        filename = ""
    filename = repair_header(filename).strip().replace("/", "_").replace("\\", "_")
    if not filename:
        extension = mimetypes.guess_extension(content_type) or ".bin"
        filename = f"attachment-{number}{extension}"
    return AttachedFile(filename=filename[:255], content_type=content_type, content=content,
                        inline=part.get_content_disposition() != "attachment")


def _forwarded_heading(inner: EmailMessage) -> str:
    return "\n".join([
        "---------- Forwarded message ----------",
        f"From: {header(inner, 'From')}",
        f"Date: {header(inner, 'Date')}",
        f"Subject: {header(inner, 'Subject')}",
    ])
