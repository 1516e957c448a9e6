"""Mail that must not become a ticket: auto-replies (loops) and bounces (R21 evidence)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from email.message import EmailMessage, Message

from adapters.email.charsets import decode_guess
from adapters.email.message import header, message_ids

_AUTO_SUBJECT = re.compile(
    r"^\s*(auto(matic)?[\s-]*(reply|response)|out of (the )?office|autoreply|"
    r"автоматический ответ|автоответ|нет на месте|в отпуске)",
    re.IGNORECASE,
)
_BOUNCE_SENDER = re.compile(r"^(mailer-daemon|postmaster)@", re.IGNORECASE)
_BOUNCE_SUBJECT = re.compile(
    r"(undeliver|failure notice|delivery status notification|returned mail|delivery failure|"
    r"mail delivery failed|недоставлен|не доставлен)",
    re.IGNORECASE,
)
_STATUS = re.compile(r"\b([245])\.(\d{1,3})\.(\d{1,3})\b")


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
class Bounce:
    """A delivery-status notification: which of our messages failed, for whom and why."""

    original_ids: tuple[str, ...]
    recipient: str
    status: str
    diagnostic: str
    permanent: bool


def bounce_of(message: EmailMessage) -> Bounce | None:
    """The bounce this letter reports, or None when it is not a bounce (RFC 3464 or heuristics)."""
    is_report = (message.get_content_type() == "multipart/report"
                 and str(message.get_param("report-type", "")).lower() == "delivery-status")
    sender = header(message, "From")
    looks_like = bool(_BOUNCE_SENDER.search(_address(sender))) and bool(
        _BOUNCE_SUBJECT.search(header(message, "Subject"))
    )
    if not (is_report or looks_like):
        return None
    recipient, status, diagnostic, action = "", "", "", ""
    original: list[str] = []
    for part in message.walk():
        content_type = part.get_content_type()
        if content_type == "message/delivery-status":
            for block in part.get_payload() if isinstance(part.get_payload(), list) else []:
                if not isinstance(block, Message):
                    continue
                recipient = recipient or _after_semicolon(header(block, "Final-Recipient"))
                status = status or header(block, "Status")
                diagnostic = diagnostic or _after_semicolon(header(block, "Diagnostic-Code"))
                action = action or header(block, "Action").lower()
        elif content_type in ("message/rfc822", "text/rfc822-headers"):
            original.extend(_original_ids(part))
    if not original:
        # Non-standard bounces quote the original headers in the text.
        quoted = re.findall(r"^Message-ID:\s*(<[^>\s]+>)", _all_text(message),
                            re.IGNORECASE | re.MULTILINE)
        original.extend(quoted)
        original = [mid for mid in original if mid not in message_ids(header(message, "Message-ID"))]
    if not recipient:
        recipient = header(message, "X-Failed-Recipients")
    if not status:
        found = _STATUS.search(_all_text(message))
        status = found.group(0) if found else ""
    if action == "delayed" or action == "delivered" or action == "relayed" or status.startswith("4."):
        permanent = False
    else:
        permanent = True
    return Bounce(
        original_ids=tuple(dict.fromkeys(original)),
        recipient=recipient,
        status=status,
        diagnostic=" ".join(diagnostic.split())[:500],
        permanent=permanent,
    )


def _address(value: str) -> str:
    found = re.search(r"[^\s<>\"]+@[^\s<>\"]+", value)
    return found.group(0) if found else value


def _after_semicolon(value: str) -> str:
    return value.split(";", 1)[1].strip() if ";" in value else value.strip()


def _original_ids(part: Message) -> list[str]:
    payload = part.get_payload()
    if isinstance(payload, list) and payload and isinstance(payload[0], Message):
        return list(message_ids(header(payload[0], "Message-ID")))
    raw = part.get_payload(decode=True)
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(payload)
    found = re.search(r"^Message-ID:\s*(<[^>]+>)", text, re.IGNORECASE | re.MULTILINE)
    return [found.group(1)] if found else []


def _all_text(message: Message) -> str:
    chunks: list[str] = []
    for part in message.walk():
        if part.get_content_maintype() == "text":
            raw = part.get_payload(decode=True)
            if isinstance(raw, bytes):
                chunks.append(decode_guess(raw, part.get_content_charset()))
    return "\n".join(chunks)
