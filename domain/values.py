"""Value objects of the support regulation: products, levels, categories, channels, reasons."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, TypeVar

from domain.errors import InvalidValue


class Product(StrEnum):
    """R1: the four supported products, or unknown until classified."""

    ONLINE = "pass24_online"
    CONTROL = "pass24_control"
    MOBILE_ONLINE = "mobile_pass24_online"
    MOBILE_KEY = "mobile_pass24_key"
    UNKNOWN = "unknown"


class Level(StrEnum):
    """R7–R9: service levels."""

    EMERGENCY = "emergency"
    STANDARD = "standard"
    CONSULTATION = "consultation"


class Category(StrEnum):
    """R3 and R22: categories in scope."""

    INSTALLATION_CONSULTATION = "installation_consultation"
    INSTALLATION_PROBLEM = "installation_problem"
    GENERAL_CONSULTATION = "general_consultation"
    OPERATIONAL_FAILURE = "operational_failure"
    DEFECT = "defect"
    DEFECT_DIAGNOSIS = "defect_diagnosis"
    FEATURE_REQUEST = "feature_request"


class Channel(StrEnum):
    """R15: where a request came in."""

    EMAIL = "email"
    FORM = "form"
    PHONE = "phone"
    CHATBOT = "chatbot"
    API = "api"


class PostponeReason(StrEnum):
    """R17: why a ticket is postponed or refused."""

    CANNOT_REPRODUCE = "cannot_reproduce"
    REQUIREMENTS_VIOLATED = "requirements_violated"
    OUTDATED_VERSION = "outdated_version"
    OUT_OF_SCOPE = "out_of_scope"
    UNCONSTRUCTIVE = "unconstructive"


class RequiredInfo(StrEnum):
    """R16: information a request must carry."""

    DESCRIPTION = "description"
    PRODUCT_VERSION = "product_version"
    DEVICE = "device"


class Status(StrEnum):
    NEW = "new"
    OPEN = "open"
    WAITING_FOR_REQUESTER = "waiting_for_requester"
    WAITING_FOR_RELEASE = "waiting_for_release"
    POSTPONED = "postponed"
    RESOLVED = "resolved"
    CLOSED = "closed"


class ActorKind(StrEnum):
    STAFF = "staff"
    REQUESTER = "requester"
    SYSTEM = "system"
    INTEGRATION = "integration"


@dataclass(frozen=True)
class Actor:
    """Who did something; every event names one."""

    kind: ActorKind
    id: str

    def __post_init__(self) -> None:
        if not self.id.strip():
            raise InvalidValue("actor", "actor id must not be empty")

    @classmethod
    def staff(cls, id: str) -> Actor:
        return cls(ActorKind.STAFF, id)

    @classmethod
    def requester(cls, id: str) -> Actor:
        return cls(ActorKind.REQUESTER, id)

    @classmethod
    def system(cls, id: str = "pass24-desk") -> Actor:
        return cls(ActorKind.SYSTEM, id)

    @classmethod
    def integration(cls, id: str) -> Actor:
        return cls(ActorKind.INTEGRATION, id)

    def as_dict(self) -> dict[str, str]:
        return {"kind": self.kind.value, "id": self.id}

    @classmethod
    def from_dict(cls, data: dict[str, str]) -> Actor:
        return cls(parse_enum(ActorKind, data["kind"], "actor.kind"), data["id"])

    def __str__(self) -> str:
        return f"{self.kind.value}:{self.id}"


@dataclass(frozen=True)
class Requester:
    """The person who asked: at least one way to reach them.

    Built from input, the fields are normalised (one line, no control
    characters) and checked against ``LIMITS``; rebuilt from stored events
    (``from_dict``) they are taken as recorded, so a limit changed later never
    makes old history unreadable.
    """

    name: str = ""
    email: str = ""
    phone: str = ""
    organisation: str = ""

    def __post_init__(self) -> None:
        name = _one_line(self.name)
        organisation = _one_line(self.organisation)
        email = _one_line(self.email)
        phone = _one_line(self.phone)
        if not (email or phone):
            raise InvalidValue("requester", "requester needs an email address or a phone number")
        check_length("requester.name", name, LIMITS.name)
        check_length("requester.organisation", organisation, LIMITS.organisation)
        if email:
            check_email("requester.email", email)
        if phone:
            check_phone("requester.phone", phone)
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "organisation", organisation)
        object.__setattr__(self, "email", email)
        object.__setattr__(self, "phone", phone)

    def as_dict(self) -> dict[str, str]:
        return {"name": self.name, "email": self.email, "phone": self.phone,
                "organisation": self.organisation}

    @classmethod
    def from_dict(cls, data: dict[str, str]) -> Requester:
        requester = object.__new__(cls)
        for key in ("name", "email", "phone", "organisation"):
            object.__setattr__(requester, key, data.get(key, ""))
        return requester


# -- one set of limits and one normalisation for every channel ----------------------


@dataclass(frozen=True)
class Limits:
    """The longest value each field may have, whatever channel it came by.

    The API models, the form, the phone webhooks and the domain's own checks
    all read these numbers, so one field has one limit.
    """

    subject: int = 500
    text: int = 100_000
    """Descriptions, replies, letters: longer text is truncated at intake, not refused."""
    note: int = 2_000
    """Reasons, notes, short remarks of staff."""
    name: int = 200
    organisation: int = 200
    email: int = 254
    phone_min: int = 3
    phone: int = 40
    version: int = 100
    device: int = 200
    intake_key: int = 998
    """An RFC 5322 line; Message-IDs are the longest intake keys."""
    sender: int = 500
    """A third-party letter's sender as written (address, maybe with a display name)."""


LIMITS = Limits()
EMAIL_PATTERN = (r'^[^@\s<>()\[\]\\,;:"]+@(?!-)[^@\s<>()\[\]\\,;:"._]+'
                 r'(?:\.(?!-)[^@\s<>()\[\]\\,;:"._]+)*$')
"""An address with one local part and one domain of dot-separated labels; no brackets, commas
or quotes (``<a@b>``, ``a@b,c`` are a header's syntax, not an address, and no server takes
them); deliverability is the mailer's question."""
PHONE_PATTERN = r"^\+?[0-9 ()\-]+$"
"""Digits with the usual separators and an optional leading plus."""
_EMAIL = re.compile(EMAIL_PATTERN)
_PHONE = re.compile(PHONE_PATTERN)
_LINE_BREAKS = re.compile(r"\r\n?|[\u0085\u2028\u2029]")
_SEPARATORS = ("\x85", "\u2028", "\u2029")
_SPACES = re.compile(r"\s+")
TRUNCATION_NOTE = (
    "\n\n[Текст сокращён: показаны первые {kept} из {total} символов; "
    "полный текст сохранён во вложении. / Text truncated: first {kept} of {total} "
    "characters shown; the full text is kept as an attachment.]"
)


@dataclass(frozen=True)
class NormalisedText:
    """A text body as the desk keeps it, and what was cut off to get there."""

    text: str
    truncated: bool
    original: str
    """The value as it came in, so the intake can keep it whole as an attachment."""


# Unicode categories Cc (C0/C1 controls and DEL: NUL freezes PostgreSQL read models,
# CR/LF in a subject break mail headers) and Cs (lone surrogates, which no UTF-8 store
# accepts), as character classes: a regex pass is far cheaper than a per-character loop.
_CONTROLS = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
_BODY_CONTROLS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")


def _strip_controls(value: str, *, body: bool) -> str:
    """Remove control characters; a body keeps its line feeds and tabs."""
    if value.isprintable():
        return value
    return (_BODY_CONTROLS if body else _CONTROLS).sub("", value)


def _line_feeds(value: str) -> str:
    """CR LF, lone CR, NEL and the Unicode line and paragraph separators as LF."""
    text = value.replace("\r\n", "\n").replace("\r", "\n") if "\r" in value else value
    for separator in _SEPARATORS:
        if separator in text:  # substring tests are C scans: cheaper than one regex pass
            text = text.replace(separator, "\n")
    return text


def clean_text(value: str) -> str:
    """A body with line breaks as LF, tabs kept, other controls removed, Unicode NFC."""
    text = _strip_controls(_line_feeds(value), body=True)
    return text if unicodedata.is_normalized("NFC", text) else unicodedata.normalize("NFC", text)


def normalise_text(value: str, *, limit: int = LIMITS.text) -> NormalisedText:
    """A body (description, reply, letter) cleaned as ``clean_text``; longer than
    ``limit``, cut with a visible note, the result still within ``limit``."""
    text = clean_text(value)
    if len(text) <= limit:
        return NormalisedText(text, truncated=False, original=value)
    note = TRUNCATION_NOTE.format(kept="{kept}", total=len(text))
    kept = max(limit - len(note.format(kept=limit)), 0)
    cut = unicodedata.normalize("NFC", text[:kept])
    return NormalisedText((cut + note.format(kept=len(cut)))[:limit], truncated=True,
                          original=value)


def normalise_subject(value: str, *, limit: int = LIMITS.subject) -> str:
    """One line: every line break, tab and other whitespace run folded to one space,
    controls removed, NFC, cut to ``limit`` with an ellipsis."""
    text = _one_line(value)
    if len(text) > limit:
        text = text[: limit - 1].rstrip() + "…"
    return text


# Bidi embeddings, overrides and isolates (LRE..RLO, LRI..PDI): in a one-line value they
# only serve to spoof ("invoice\u202egpj.exe" shows as "invoiceexe.jpg"); right-to-left
# names and subjects display correctly without them.
_BIDI_CONTROLS = re.compile("[\u202a-\u202e\u2066-\u2069]")


def _one_line(value: str) -> str:
    text = _SPACES.sub(" ", _LINE_BREAKS.sub(" ", value))
    text = _strip_controls(text, body=False)
    if not text.isprintable():
        text = _BIDI_CONTROLS.sub("", text)
    return unicodedata.normalize("NFC", text).strip()


def check_length(field: str, value: str, limit: int) -> str:
    if len(value) > limit:
        raise InvalidValue(field, f"{field} is longer than {limit} characters")
    return value


def check_email(field: str, value: str) -> str:
    """An email address as the desk stores it: trimmed, within the limit, one @."""
    address = value.strip()
    check_length(field, address, LIMITS.email)
    if not _EMAIL.match(address):
        raise InvalidValue(field, f"not an email address: {address!r}")
    return address


def check_phone(field: str, value: str) -> str:
    number = value.strip()
    digits = sum(ch.isdigit() for ch in number)
    if not (LIMITS.phone_min <= len(number) <= LIMITS.phone) or digits < LIMITS.phone_min \
            or not _PHONE.match(number):
        raise InvalidValue(
            field, f"a phone number is {LIMITS.phone_min} to {LIMITS.phone} digits, spaces, "
            "brackets and dashes, with an optional leading +")
    return number


def same_address(a: str, b: str) -> bool:
    """Email addresses compared as mail systems treat them in practice: case-insensitively."""
    return a.strip().casefold() == b.strip().casefold()


def limits_table() -> dict[str, Any]:
    """The limits as plain data (for docs and the API's schema descriptions)."""
    return {k: getattr(LIMITS, k) for k in LIMITS.__dataclass_fields__}


E = TypeVar("E", bound=StrEnum)


def parse_enum(kind: type[E], value: str, field: str) -> E:
    """Turn a string into an enum member, or raise InvalidValue naming the field."""
    try:
        return kind(value)
    except ValueError:
        allowed = ", ".join(m.value for m in kind)
        raise InvalidValue(field, f"unknown {field} {value!r}; expected one of: {allowed}") from None
