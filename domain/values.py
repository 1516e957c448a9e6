"""Value objects of the support regulation: products, levels, categories, channels, reasons."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from enum import StrEnum
from typing import TypeVar

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
    """The person who asked: at least one way to reach them."""

    name: str = ""
    email: str = ""
    phone: str = ""
    organisation: str = ""

    def __post_init__(self) -> None:
        if not (self.email.strip() or self.phone.strip()):
            raise InvalidValue("requester", "requester needs an email address or a phone number")
        if self.email and "@" not in self.email:
            raise InvalidValue("requester.email", f"not an email address: {self.email!r}")

    def as_dict(self) -> dict[str, str]:
        return {"name": self.name, "email": self.email, "phone": self.phone,
                "organisation": self.organisation}

    @classmethod
    def from_dict(cls, data: dict[str, str]) -> Requester:
        return cls(**{k: data.get(k, "") for k in ("name", "email", "phone", "organisation")})


E = TypeVar("E", bound=StrEnum)


def parse_enum(kind: type[E], value: str, field: str) -> E:
    """Turn a string into an enum member, or raise InvalidValue naming the field."""
    try:
        return kind(value)
    except ValueError:
        allowed = ", ".join(m.value for m in kind)
        raise InvalidValue(field, f"unknown {field} {value!r}; expected one of: {allowed}") from None


# -- text at the intake boundary ---------------------------------------------------------
# (minimal version for the intake gate; the domain side of issue 10 owns this table)

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u2028\u2029\ufeff]")
_SPACES = re.compile(r"\s+")


class Limits:
    """One set of limits for every channel."""

    SUBJECT = 500
    TEXT = 100_000
    NAME = 200
    EMAIL = 254
    PHONE = 32
    ORGANISATION = 200
    PRODUCT_VERSION = 50
    DEVICE = 200
    INTAKE_KEY = 998


@dataclass(frozen=True)
class NormalisedText:
    """A text fit to store; ``full`` is the whole (normalised) text when it had to be cut."""

    text: str
    full: str = ""

    @property
    def truncated(self) -> bool:
        return bool(self.full)


def normalise_text(value: str, *, limit: int) -> NormalisedText:
    """Line breaks as LF, no control characters but tab and LF, NFC; over ``limit``,
    cut with a visible note (the caller keeps ``full`` elsewhere, e.g. as an attachment)."""
    text = unicodedata.normalize("NFC", value.replace("\r\n", "\n").replace("\r", "\n"))
    text = _CONTROL.sub("", text)
    if len(text) <= limit:
        return NormalisedText(text)
    note = (f"\n\n[… the text was {len(text)} characters long and is cut here; "
            "the full text is attached to the ticket]")
    if limit <= 2 * len(note):
        return NormalisedText(text[:limit], full=text)
    return NormalisedText(text[: limit - len(note)] + note, full=text)


def normalise_line(value: str, *, limit: int) -> str:
    """One line (names, subjects, phone numbers): control characters and line breaks folded
    to single spaces, trimmed, cut at ``limit``."""
    text = unicodedata.normalize("NFC", _CONTROL.sub(" ", value))
    return _SPACES.sub(" ", text).strip()[:limit]


def normalise_subject(value: str) -> str:
    return normalise_line(value, limit=Limits.SUBJECT)
