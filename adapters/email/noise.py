"""Mail that must not become a ticket: auto-replies (loops) and bounces (R21 evidence).

Bounces are read in three ways, the most reliable first: RFC 3464 delivery-status
reports, per recipient; the detectors of ``flufl.bounce`` (GNU Mailman's, for the many
mail servers that send their own formats); and the words of the commonest plain-text
reports (qmail's "I've given up", "Undeliverable Message" gateways).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from email.message import EmailMessage, Message

from flufl.bounce import all_failures

from adapters.email.charsets import decode_bytes
from adapters.email.message import header, message_ids, raw_header

log = logging.getLogger(__name__)

_AUTO_SUBJECT = re.compile(
    r"^\s*(auto(matic)?[\s-]*(reply|response|antwort)|out of (the )?office|autoreply|"
    r"абсенс|автоматический ответ|автоответ|нет на месте|в отпуске|abwesenheitsnotiz|"
    r"réponse automatique|absence)",
    re.IGNORECASE,
)
_BOUNCE_SENDER = re.compile(r"mailer-daemon|postmaster|mail delivery (sub)?system|"
                            r"mail administrator|<>|^\s*$", re.IGNORECASE)
_BOUNCE_SUBJECT = re.compile(
    r"(undeliver|undelivered|failure notice|delivery status notification|returned mail|"
    r"delivery failure|mail delivery failed|delivery notification|non[- ]?deliver|"
    r"could not be delivered|not delivered|delivery (has )?failed|mail system error|"
    r"delivery problem|returned to sender|message status|warning: could not send|"
    r"delayed mail|delivery (report|status)|mail error|"
    r"недоставлен|не доставлен|не удалось доставить|не может быть доставлен)",
    re.IGNORECASE,
)
_FORWARDED = re.compile(r"^\s*(fwd?|пересл\w*|переадр\w*)\s*:", re.IGNORECASE)
_STATUS = re.compile(r"\b([245])\.(\d{1,3})\.(\d{1,3})\b")
_PERMANENT_WORDS = re.compile(
    r"permanent error|i've given up|i'm not going to try again|permanent fatal|"
    r"could not be delivered|user unknown|no such user|does not exist|mailbox unavailable|"
    r"unknown user|recipient address rejected|host not found|невозможно доставить|"
    r"не существует|не удалось доставить|недоставлен",
    re.IGNORECASE,
)
_DELAY_WORDS = re.compile(
    r"will (continue|keep) trying|has been delayed|not yet been delivered|delivery is delayed|"
    r"still trying|temporar(y|ily)|will be retried|warning: message .* delayed|"
    r"задерживается|будут продолжены",
    re.IGNORECASE,
)


def auto_reply_reason(message: Message, sender: str = "") -> str | None:
    """Why this letter is machine-sent and must get neither a ticket nor an answer (RFC 3834)."""
    auto_submitted = header(message, "Auto-Submitted").lower()
    if auto_submitted and not auto_submitted.startswith("no"):
        return f"Auto-Submitted: {auto_submitted}"
    for name in ("X-Autoreply", "X-Autorespond", "X-Autoresponder"):
        if header(message, name):
            return f"{name} header"
    precedence = header(message, "Precedence").lower()
    if precedence in ("bulk", "junk", "list", "auto_reply"):
        return f"Precedence: {precedence}"
    if header(message, "X-Auto-Response-Suppress").lower() in ("oof", "all") and _AUTO_SUBJECT.search(
        header(message, "Subject")
    ):
        return "out-of-office (Exchange)"
    if header(message, "List-Id") or header(message, "List-Unsubscribe"):
        return "mailing list"
    if _AUTO_SUBJECT.search(header(message, "Subject")):
        return "out-of-office subject"
    if sender and re.match(r"^(no-?reply|do-?not-?reply)@", sender, re.IGNORECASE):
        return "no-reply sender"
    return None


@dataclass(frozen=True)
class Recipient:
    """One recipient of an RFC 3464 report."""

    address: str
    action: str
    status: str
    diagnostic: str

    @property
    def failed(self) -> bool:
        # "failed" is final whatever the status class says (servers send 4.x.x with it).
        if self.action:
            return self.action == "failed"
        return self.status.startswith("5.")


@dataclass(frozen=True)
class Bounce:
    """A delivery-status notification: which of our messages failed, for whom and why."""

    original_ids: tuple[str, ...]
    recipient: str
    status: str
    diagnostic: str
    permanent: bool
    recipients: tuple[str, ...] = ()
    # How it was read: "dsn", "flufl:<detector>" or "text".
    read_as: str = ""


def bounce_of(message: EmailMessage) -> Bounce | None:
    """The bounce this letter reports, or None when it is not a bounce."""
    try:
        return _bounce_of(message)
    except Exception:  # a hostile report must not stop the intake: read it as a letter
        log.exception("bounce detection failed; treating the letter as not a bounce")
        return None


def _bounce_of(message: EmailMessage) -> Bounce | None:
    subject = header(message, "Subject")
    auto_submitted = header(message, "Auto-Submitted").lower()
    machine = bool(_BOUNCE_SENDER.search(raw_header(message, "From") or "")) or (
        (raw_header(message, "Return-Path") or "").strip() == "<>") or bool(
        auto_submitted and not auto_submitted.startswith("no"))
    if not machine and _FORWARDED.match(subject):
        return None  # a person passing a report on to us is asking something: a ticket
    records = _dsn_records(message)
    is_report = message.get_content_type() == "multipart/report" and str(
        message.get_param("report-type", "")).lower() == "delivery-status"
    text = _all_text(message)
    original = _original_ids(message, text)
    if records:
        failed = [r for r in records if r.failed]
        chosen = failed[0] if failed else records[0]
        status = chosen.status or _first_status(text)
        return Bounce(original_ids=original, recipient=chosen.address, status=status,
                      diagnostic=_short(chosen.diagnostic), permanent=bool(failed),
                      recipients=tuple(r.address for r in (failed or records) if r.address),
                      read_as="dsn")
    bounce_subject = bool(_BOUNCE_SUBJECT.search(subject) or _PERMANENT_WORDS.search(subject))
    carries_copy = any(p.get_content_type() in ("message/rfc822", "text/rfc822-headers")
                       for p in _own_parts(message))
    if not (machine or is_report or bounce_subject):
        return None
    temporary, permanent, detector = _flufl(message)
    if not (machine or is_report or carries_copy or permanent or temporary):
        # A person's letter may well say "не доставлено" (an SMS pass, a letter to a
        # resident): without a mail system's sender it takes a returned copy or an MTA's
        # failure wording that names an address (flufl's detectors) to be a bounce.
        return None
    if permanent or temporary:
        found = sorted(permanent or temporary)
        return Bounce(original_ids=original, recipient=found[0],
                      status=_first_status(text), diagnostic=_short(_diagnostic(text)),
                      permanent=bool(permanent), recipients=tuple(found),
                      read_as=f"flufl:{detector}")
    if not ((machine and bounce_subject) or is_report
            or ((machine or bounce_subject) and (_PERMANENT_WORDS.search(text) or carries_copy))):
        return None
    status = _first_status(text)
    delayed = bool(_DELAY_WORDS.search(text) or _DELAY_WORDS.search(subject)) and not (
        _PERMANENT_WORDS.search(text) and not status.startswith("4."))
    permanent_text = bool(_PERMANENT_WORDS.search(text)) or status.startswith("5.")
    named = [a.strip() for a in header(message, "X-Failed-Recipients").split(",") if a.strip()]
    named += _failed_addresses(_own_text(message))
    recipients = tuple(dict.fromkeys(a.strip("<>.,;: ") for a in named))
    recipient = recipients[0] if recipients else ""
    return Bounce(original_ids=original, recipient=recipient, status=status,
                  diagnostic=_short(_diagnostic(text)),
                  permanent=permanent_text or not delayed,
                  recipients=recipients, read_as="text")


def _own_parts(message: Message) -> list[Message]:
    """The report's own parts: a returned or forwarded letter inside is not looked into."""
    found: list[Message] = []
    stack: list[Message] = [message]
    while stack:
        part = stack.pop(0)
        found.append(part)
        if part.get_content_maintype() == "message" and part is not message:
            continue
        payload = part.get_payload()
        if part.is_multipart() and isinstance(payload, list):
            stack.extend(p for p in payload if isinstance(p, Message))
    return found


def _dsn_records(message: Message) -> list[Recipient]:
    records: list[Recipient] = []
    for part in _own_parts(message):
        if part.get_content_type() != "message/delivery-status":
            continue
        payload = part.get_payload()
        blocks: list[Message] = []
        if isinstance(payload, list):
            blocks = [b for b in payload if isinstance(b, Message)]
        for block in blocks:
            address = _recipient(*(header(block, name) for name in (
                "Original-Recipient", "X-Actual-Recipient", "Final-Recipient")))
            action = _action(header(block, "Action"))
            status = _STATUS.search(header(block, "Status"))
            if not (address or action):
                continue  # the per-message block
            records.append(Recipient(
                address=address.strip("<> "), action=action,
                status=status.group(0) if status else "",
                diagnostic=_after_semicolon(header(block, "Diagnostic-Code")),
            ))
        if not blocks:
            records.extend(_records_from_text(_part_text(part)))
    return records


def _records_from_text(text: str) -> list[Recipient]:
    """A delivery-status body the parser left as text (e.g. base64 encoded): read it by hand."""
    records = []
    for block in re.split(r"\n\s*\n", text.replace("\r\n", "\n")):
        fields: dict[str, str] = {}
        for line in re.sub(r"\n[ \t]+", " ", block).split("\n"):
            name, sep, value = line.partition(":")
            if sep:
                fields[name.strip().lower()] = value.strip()
        address = _recipient(*(fields.get(name, "") for name in (
            "original-recipient", "x-actual-recipient", "final-recipient")))
        if address or "action" in fields:
            status = _STATUS.search(fields.get("status", ""))
            records.append(Recipient(address, _action(fields.get("action", "")),
                                     status.group(0) if status else "",
                                     _after_semicolon(fields.get("diagnostic-code", ""))))
    return records


def _recipient(*values: str) -> str:
    """The first value naming a mail address (X.400 and local names are skipped)."""
    names = [_after_semicolon(v).strip("<> ") for v in values if v]
    return next((n for n in names if "@" in n and "/" not in n), names[-1] if names else "")


def _action(value: str) -> str:
    """RFC 3464 action; servers write "failure", "error" or add comments for "failed"."""
    word = value.strip().lower().split()[0] if value.strip() else ""
    if word.startswith(("fail", "error")):
        return "failed"
    return word.strip(";,()")


def _flufl(message: EmailMessage) -> tuple[set[str], set[str], str]:
    try:
        temporary, permanent = all_failures(message)
    except Exception:  # flufl's heuristics on hostile mail must not stop the intake
        return set(), set(), ""
    def text(addresses: object) -> set[str]:
        found = set()
        for address in addresses:  # type: ignore[attr-defined]
            value = address.decode("utf-8", "replace") if isinstance(address, bytes) else str(address)
            if "@" in value:
                found.add(value.strip("<> "))
        return found
    return text(temporary), text(permanent), "scan"


def _original_ids(message: EmailMessage, text: str) -> tuple[str, ...]:
    own = set(message_ids(header(message, "Message-ID")))
    found: list[str] = []
    for part in message.walk():
        content_type = part.get_content_type()
        if content_type == "message/rfc822":
            payload = part.get_payload()
            if isinstance(payload, list) and payload and isinstance(payload[0], Message):
                found.extend(message_ids(header(payload[0], "Message-ID")))
        elif content_type == "text/rfc822-headers":
            found.extend(re.findall(r"^Message-ID:\s*(<[^>\s]+>)", _part_text(part),
                                    re.IGNORECASE | re.MULTILINE))
    found.extend(re.findall(r"^\s*Message-ID:\s*(<[^>\s]+>)", text, re.IGNORECASE | re.MULTILINE))
    return tuple(mid for mid in dict.fromkeys(found) if mid not in own)


_FAILED_ADDRESS = re.compile(
    r"RCPT TO:\s*<([^<>\s]+@[^<>\s]+)>"
    r"|^[ \t]*<?([^\s<>\"()@,;:]+@[\w.-]+\.\w+)>?:?[ \t]*$",
    re.IGNORECASE | re.MULTILINE,
)


def _failed_addresses(text: str) -> list[str]:
    """Addresses a plain-text report names as failed: alone on a line (mail.ru, qmail's
    ``<addr>:``, Exchange) or in the transcript's RCPT TO."""
    return [a or b for a, b in _FAILED_ADDRESS.findall(text)]


def _own_text(message: Message) -> str:
    """The report's own text parts, not the returned copy of the original."""
    chunks: list[str] = []
    stack: list[Message] = [message]
    while stack:
        part = stack.pop(0)
        if part.get_content_type() in ("message/rfc822", "text/rfc822-headers"):
            continue
        payload = part.get_payload()
        if part.is_multipart() and isinstance(payload, list):
            stack.extend(p for p in payload if isinstance(p, Message))
        elif part.get_content_maintype() == "text":
            text = _part_text(part)
            # A plain report quotes the original after a marker: keep what stands above it.
            cut = re.search(r"^.*(below this line is a copy|original message (headers|follows)|"
                            r"-{3,}\s*original message).*$", text, re.IGNORECASE | re.MULTILINE)
            chunks.append(text[:cut.start()] if cut else text)
    return "\n".join(chunks)


def _first_status(text: str) -> str:
    found = _STATUS.search(text)
    return found.group(0) if found else ""


def _diagnostic(text: str) -> str:
    for line in text.splitlines():
        if _PERMANENT_WORDS.search(line) or _STATUS.search(line):
            return line.strip()
    return ""


def _short(value: str) -> str:
    return " ".join(value.split())[:500]


def _after_semicolon(value: str) -> str:
    return value.split(";", 1)[1].strip() if ";" in value else value.strip()


def _part_text(part: Message) -> str:
    try:
        raw = part.get_payload(decode=True)
    except Exception:
        raw = None
    if isinstance(raw, bytes):
        return decode_bytes(raw, part.get_content_charset())
    payload = part.get_payload()
    return payload if isinstance(payload, str) else ""


def _all_text(message: Message) -> str:
    chunks: list[str] = []
    for part in message.walk():
        if part.get_content_maintype() == "text" and not part.is_multipart():
            chunks.append(_part_text(part))
    return "\n".join(chunks)[:200_000]
