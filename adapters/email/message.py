"""One letter, parsed: who wrote, about what, the readable text, threading headers and files.

Parsing uses the standard library's ``email`` with ``policy.default`` (RFC 2047
headers and RFC 2231 file names decoded, base64 and quoted-printable undone).
What cannot be read raises ``UnreadableLetter`` with a reason, for the quarantine.
"""

from __future__ import annotations

import functools
import hashlib
import mimetypes
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from email import errors as email_errors
from email import policy
from email.message import EmailMessage, Message
from email.parser import BytesParser
from email.utils import getaddresses, parsedate_to_datetime
from typing import Any

from adapters.email.charsets import (
    decode_bytes,
    decode_header_value,
    header_charsets,
    repair_header,
)
from adapters.email.html_text import html_to_text
from adapters.email.quotes import new_text_of, new_text_of_html

_MSGID = re.compile(r"<[^<>\s]+>")
# Structure defects that leave the parts unknowable: the body would be raw MIME. Only the
# letter's own structure counts: a bounce's attached copy of our letter may be cut short.
_FATAL_DEFECTS = (
    email_errors.NoBoundaryInMultipartDefect,
    email_errors.StartBoundaryNotFoundDefect,
    email_errors.MultipartInvariantViolationDefect,
)
_ADDRESS = re.compile(r"(?:[\w!#$%&'*+/=?^`{|}~.-]+|\"[^\"\r\n]+\")@[\w-]+(?:\.[\w-]+)+")
_HEADER_LINE = re.compile(rb"^[!-9;-~]+[ \t]*:")
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_MACHINE_SENDER = re.compile(r"mailer-daemon|postmaster|mail delivery|<>", re.IGNORECASE)


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
    """A parsed letter. ``text`` is everything the person sent; ``new_text`` is ``text``
    without the quoted history of a reply (the same as ``text`` when nothing was quoted)."""

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
    new_text: str = ""
    to: tuple[str, ...] = ()
    cc: tuple[str, ...] = ()
    # How the sender was found when the From header was not well formed (empty when it was).
    sender_notes: tuple[str, ...] = ()

    @property
    def thread_ids(self) -> tuple[str, ...]:
        """Message-IDs this letter answers, nearest first."""
        seen: list[str] = []
        for mid in (*self.in_reply_to, *reversed(self.references)):
            if mid not in seen:
                seen.append(mid)
        return tuple(seen)


_LINESEP = re.compile(r"\n|\r")  # as the standard library's header_fetch_parse


class _Policy(policy.EmailPolicy):
    """``policy.default`` whose parsed header objects are shared: the standard library parses
    Content-Type again on every ``get_content_type()``, most of the time spent on a letter."""

    def header_fetch_parse(self, name: str, value: str) -> Any:
        if hasattr(value, "name"):
            return value
        if len(value) > 2000:
            return self.header_factory(name, "".join(_LINESEP.split(value)))
        return _parsed_header(self.header_factory, name, value)


@functools.lru_cache(maxsize=4096)
def _parsed_header(factory: Any, name: str, value: str) -> Any:
    # Header objects are immutable str subclasses; the same (name, value) parses the same.
    return factory(name, "".join(_LINESEP.split(value)))


_POLICY = _Policy()


def read_message(raw: bytes) -> EmailMessage:
    message = BytesParser(policy=_POLICY).parsebytes(raw)
    assert isinstance(message, EmailMessage)
    return message


def parse_letter(raw: bytes) -> Letter:
    """Parse raw RFC 5322 bytes; raise ``UnreadableLetter`` for what cannot be read."""
    if not raw.strip():
        raise UnreadableLetter("empty input")
    if raw.startswith(_OLE_MAGIC):
        raise UnreadableLetter("an Outlook .msg file (binary OLE2), not an RFC 5322 letter")
    try:
        repaired, notes = _repair_folding(raw)
        message = read_message(repaired)
        return _letter(message, raw, notes)
    except UnreadableLetter:
        raise
    except Exception as error:  # the email package raises many kinds on hostile input
        raise UnreadableLetter(f"parser failed: {type(error).__name__}: {error}") from error


def raw_header(message: Message, name: str) -> str | None:
    """The header's value as it came (folded, 8-bit bytes as surrogate escapes), or None."""
    try:
        for key, value in message.raw_items():
            if key.lower() == name.lower():
                return value if isinstance(value, str) else str(value)
    except Exception:
        return None
    return None


def header(message: Message, name: str) -> str:
    """A header as text, '' when absent; each RFC 2047 word decoded by what its bytes are."""
    raw = raw_header(message, name)
    if raw is None:
        return ""
    text = decode_header_value(raw)
    return " ".join(text.split()) if name.lower() == "subject" else text.strip()


def message_ids(value: str) -> tuple[str, ...]:
    return tuple(_MSGID.findall(value))


def _repair_folding(raw: bytes) -> tuple[bytes, tuple[str, ...]]:
    """A header line that lost its folding whitespace (``From: Name`` then ``<addr>`` on the
    next line) would end the header block for the parser; indent it back when header lines
    follow it."""
    crlf_end = raw.find(b"\r\n\r\n")
    lf_end = raw.find(b"\n\n")
    ends = [e for e in (crlf_end, lf_end) if e >= 0]
    end = min(ends) if ends else len(raw)
    lines = raw[:end].split(b"\n")
    broken = [i for i, line in enumerate(lines) if i > 0 and line.strip()
              and not line[:1].isspace() and not _HEADER_LINE.match(line)]
    if not broken or len(broken) > 3 or not any(
            _HEADER_LINE.match(line) for line in lines[broken[-1] + 1:]):
        return raw, ()
    rest = [line for i, line in enumerate(lines[broken[0]:], broken[0]) if i not in broken]
    if not all(_HEADER_LINE.match(line) or line[:1].isspace() or not line.strip()
               for line in rest):
        return raw, ()  # a body that starts without the blank line, not a lost fold
    for i in broken:
        lines[i] = b" " + lines[i]
    return b"\n".join(lines) + raw[end:], ("repaired a header line that lost its folding",)


def _own_parts(part: Message) -> Iterator[Message]:
    """The letter's own MIME parts, not those of letters attached to it."""
    yield part
    if part.get_content_maintype() == "message" or part.get_content_type() == "text/rfc822-headers":
        return
    payload = part.get_payload()
    if part.is_multipart() and isinstance(payload, list):
        for child in payload:
            if isinstance(child, Message):
                yield from _own_parts(child)


def _letter(message: EmailMessage, raw: bytes, notes: tuple[str, ...]) -> Letter:
    fatal = [d for part in _own_parts(message) for d in part.defects
             if isinstance(d, _FATAL_DEFECTS)]
    name, address, sender_notes = _sender(message)
    ids = message_ids(header(message, "Message-ID"))
    message_id = ids[0] if ids else _synthetic_id(raw)
    texts: list[str] = []
    files: list[AttachedFile] = []
    hints = header_charsets([raw_header(message, n) or "" for n in ("Subject", "From", "To")])
    _collect(message, texts, files, hints)
    subject = header(message, "Subject")
    readable = [t.text if isinstance(t, _Html) else t for t in texts]
    text = "\n\n".join(t for t in readable if t.strip()).strip()
    if fatal and not (text or files):
        raise UnreadableLetter(f"broken MIME structure: {type(fatal[0]).__name__}")
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
        new_text=_new_text(texts, text),
        to=_addresses(message, "To"),
        cc=_addresses(message, "Cc"),
        sender_notes=notes + sender_notes,
    )


class _Html(str):
    """An HTML body: read as text once, and again without its quoted elements for new_text."""

    @functools.cached_property
    def text(self) -> str:
        return html_to_text(str(self))


def _new_text(texts: list[str], text: str) -> str:
    """Without quoted history; the whole text if cutting fails (a letter is never lost to it)."""
    try:
        if not any(isinstance(t, _Html) for t in texts):
            return new_text_of(text)
        parts = [new_text_of_html(str(t)) if isinstance(t, _Html) else new_text_of(t)
                 for t in texts]
    except Exception:
        return text
    joined = "\n\n".join(p for p in parts if p.strip()).strip()
    return joined or text


def _addresses(message: Message, name: str) -> tuple[str, ...]:
    raw = raw_header(message, name)
    if not raw:
        return ()
    found = [address.strip() for _, address in getaddresses([repair_header(raw)])]
    return tuple(a for a in found if _ADDRESS.fullmatch(a))


def address_in(value: str) -> tuple[str, str, str] | None:
    """(display name, address, note) found in a From-like header value, tolerating the
    forms real senders produce: a trailing dot, no angle brackets, a decoded name."""
    clean = repair_header(value)
    bracketed = re.search(r"<\s*(" + _ADDRESS.pattern + r")\.?\s*>", clean)
    if bracketed is not None:
        display = clean[:bracketed.start()] + clean[bracketed.end():]
        return (" ".join(decode_header_value(display).strip(" \t\"'.,;").split()),
                bracketed.group(1), "")
    for display, address in getaddresses([clean]):
        address = address.strip().strip("<>")
        note = ""
        if address.endswith("."):
            address, note = address.rstrip("."), "trailing dot dropped"
        if _ADDRESS.fullmatch(address) and address in clean:
            return decode_header_value(display).strip(), address, note
    found = list(_ADDRESS.finditer(clean))
    if not found:
        return None
    match = found[-1]
    address = match.group(0).rstrip(".")
    rest = (clean[:match.start()] + clean[match.end():]).replace("<>", " ")
    display = decode_header_value(rest).strip(" \t\"'<>.,;")
    return " ".join(display.split()), address, "address found without angle brackets"


def _sender(message: EmailMessage) -> tuple[str, str, tuple[str, ...]]:
    notes: list[str] = []
    for name in ("From", "Sender", "Reply-To"):
        value = raw_header(message, name)
        if value is None:
            notes.append(f"no {name} header")
            continue
        found = address_in(value)
        if found is None:
            notes.append(f"{name} {' '.join(decode_header_value(value).split())[:120]!r} "
                         "has no address")
            continue
        display, address, note = found
        taken = [f"{name}: {note}"] if note else []
        if name != "From":
            taken.append(f"sender taken from {name}")
        return display, address, tuple(notes + taken) if name != "From" else tuple(taken)
    if message.get_content_type() == "multipart/report" or _MACHINE_SENDER.search(
        raw_header(message, "From") or ""
    ) or _MACHINE_SENDER.search(raw_header(message, "Return-Path") or "-"):
        # A mail system's report: no person to answer, but the report itself is evidence.
        return "", "", tuple(notes)
    raise UnreadableLetter("no sender address (From): " + "; ".join(notes))


def _synthetic_id(raw: bytes) -> str:
    """A stable stand-in for a missing Message-ID, so redelivery is still recognised."""
    return f"<sha256-{hashlib.sha256(raw).hexdigest()[:40]}@no-message-id.pass24-desk>"


def _date(value: str) -> datetime | None:
    try:
        moment = parsedate_to_datetime(value) if value else None
    except (TypeError, ValueError, IndexError):
        return None
    return moment if moment is not None and moment.tzinfo is not None else None


def _collect(part: EmailMessage, texts: list[str] | None, files: list[AttachedFile],
             hints: tuple[str, ...] = ()) -> None:
    """Walk the MIME tree: readable text into ``texts``, everything else into ``files``.

    ``texts`` is None inside the alternatives that were not chosen: their text is a second
    rendering of the chosen one, but their images and files are the letter's own (Apple
    Mail puts screenshots inside the HTML alternative).
    """
    content_type = part.get_content_type()
    if content_type == "message/rfc822":
        payload = part.get_payload()
        inner = payload[0] if isinstance(payload, list) and payload else None
        if isinstance(inner, EmailMessage):
            if _named(part):
                files.append(_file(part, len(files) + 1))
            if texts is not None:
                texts.append(_forwarded_heading(inner))
            _collect(inner, texts, files, hints)
        return
    if part.get_content_maintype() == "message" and content_type != "message/rfc822":
        files.append(_file(part, len(files) + 1))  # delivery-status, external-body: as they are
        return
    if part.get_content_maintype() == "multipart" and not part.is_multipart():
        _salvage(part, texts, files, hints)
        return
    if part.is_multipart():
        children = [p for p in part.iter_parts() if isinstance(p, EmailMessage)]
        if content_type == "multipart/alternative" and texts is not None:
            chosen = _best_alternative(children)
            for child in children:
                _collect(child, texts if child is chosen else None, files, hints)
            return
        for child in children:
            _collect(child, texts, files, hints)
        return
    if _is_body_text(part):
        if texts is not None:
            body = _text_of(part, hints)
            texts.append(_Html(body) if content_type == "text/html" else body)
        return
    files.append(_file(part, len(files) + 1))


def _named(part: EmailMessage) -> bool:
    try:
        return bool(part.get_filename()) or part.get_content_disposition() == "attachment"
    except Exception:
        return False


_BOUNDARY_LINE = re.compile(r"^--(\S{1,200}?)(?:--)?[ \t]*$", re.MULTILINE)
_BASE64_LINE = re.compile(r"^[A-Za-z0-9+/=]{60,}$", re.MULTILINE)


def _salvage(part: EmailMessage, texts: list[str] | None, files: list[AttachedFile],
             hints: tuple[str, ...]) -> None:
    """A multipart whose boundary is missing or wrong: split it on the boundary lines that
    are really there, or read it as plain text when there are none."""
    try:
        # decode=True hands back the bytes as they came (8-bit text included); read as
        # surrogate escapes they split and re-encode without loss.
        payload = part.get_payload(decode=True)
    except Exception:
        payload = None
    body = (payload.decode("utf-8", "surrogateescape") if isinstance(payload, bytes)
            else "").replace("\r\n", "\n")
    markers = [m.group(1) for m in _BOUNDARY_LINE.finditer(body)
               if re.match(r"\s*\n?\s*content-", body[m.end():m.end() + 200], re.IGNORECASE)]
    if markers:
        boundary = max(set(markers), key=markers.count)
        for chunk in re.split(r"^--" + re.escape(boundary) + r"(?:--)?[ \t]*$", body,
                              flags=re.MULTILINE)[1:]:
            if not chunk.strip():
                continue
            inner = read_message(chunk.lstrip("\r\n").encode("utf-8", "surrogateescape"))
            if inner.get_content_maintype() == "multipart" and not inner.is_multipart() and \
                    not inner.get_payload():
                continue
            _collect(inner, texts, files, hints)
        return
    if texts is not None:
        text = _BASE64_LINE.sub("", repair_header(body)).strip()
        if text:
            texts.append(text)


def _is_body_text(part: EmailMessage) -> bool:
    try:
        disposition = part.get_content_disposition()
        filename = part.get_filename()
    except Exception:
        disposition, filename = None, None
    return (part.get_content_type() in ("text/plain", "text/html") and disposition != "attachment"
            and not filename)


def _best_alternative(children: list[EmailMessage]) -> EmailMessage | None:
    """Plain text when it has words, else HTML; a nested layout counts by the text inside it."""
    for wanted in ("text/plain", "text/html"):
        for child in children:
            text = _first_text(child, wanted)
            if text is not None and text.strip():
                return child
    for child in children:
        if child.is_multipart():
            return child
    return children[0] if children else None


def _first_text(part: EmailMessage, wanted: str) -> str | None:
    if part.get_content_type() == wanted and _is_body_text(part):
        return _text_of(part)
    if part.get_content_type() == "multipart/related":
        children = [p for p in part.iter_parts() if isinstance(p, EmailMessage)]
        return _first_text(children[0], wanted) if children else None
    return None


def _text_of(part: EmailMessage, hints: tuple[str, ...] = ()) -> str:
    """The decoded text of a text part, tolerating unknown or wrong charsets."""
    try:
        payload = part.get_payload(decode=True)
    except Exception:
        payload = None
    data = payload if isinstance(payload, bytes) else b""
    try:
        declared = part.get_content_charset()
    except Exception:
        declared = None
    return decode_bytes(data, declared, hints).replace("\r\n", "\n").replace("\x00", "")


def _file(part: EmailMessage, number: int) -> AttachedFile:
    content_type = part.get_content_type()
    try:
        payload = part.get_payload(decode=True)
    except Exception:
        payload = None
    content = payload if isinstance(payload, bytes) else b""
    try:
        filename = part.get_filename() or ""
    except Exception:
        filename = ""
    filename = decode_header_value(filename).strip().replace("/", "_").replace("\\", "_")
    filename = "".join(ch for ch in filename if ch.isprintable())
    if not filename:
        extension = mimetypes.guess_extension(content_type) or ".bin"
        filename = f"attachment-{number}{extension}"
    try:
        inline = part.get_content_disposition() != "attachment"
    except Exception:
        inline = False
    return AttachedFile(filename=filename[:255], content_type=content_type, content=content,
                        inline=inline)


def _forwarded_heading(inner: EmailMessage) -> str:
    return "\n".join([
        "---------- Forwarded message ----------",
        f"From: {header(inner, 'From')}",
        f"Date: {header(inner, 'Date')}",
        f"Subject: {header(inner, 'Subject')}",
    ])
