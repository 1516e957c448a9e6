"""Human-friendly ticket IDs such as ``P24-4K7Q9M``.

IDs are random, so concurrent processes need no central counter; the event
store's uniqueness of (aggregate id, version 1) turns the rare collision into
a conflict that the application retries with a fresh ID. The aggregate's UUID
is derived from the ID, so either can be found from the other.
"""

from __future__ import annotations

import re
import uuid
from functools import lru_cache
from random import Random

from domain.errors import InvalidValue

PREFIX = "P24"
LENGTH = 6
# Crockford's base32: no I, L, O or U, so an ID read out over the phone survives.
ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_NAMESPACE = uuid.UUID("6f1c8c52-8f5e-4c8e-9a59-2f1f5d2a2424")
_CONFUSABLE = str.maketrans({"I": "1", "L": "1", "O": "0"})
PATTERN = re.compile(rf"\b{PREFIX}[-\s]?([0-9A-Z]{{{LENGTH}}})\b", re.IGNORECASE)


def new_ticket_id(rng: Random) -> str:
    """Draw a fresh ID; the caller passes the randomness (e.g. ``random.SystemRandom()``)."""
    body = "".join(rng.choice(ALPHABET) for _ in range(LENGTH))
    return f"{PREFIX}-{body}"


def normalise_ticket_id(text: str) -> str:
    """Accept what people type (lower case, no dash, O for 0) and return the canonical ID."""
    match = PATTERN.fullmatch(text.strip())
    if match is None:
        raise InvalidValue("ticket_id", f"not a ticket ID: {text!r} (expected like {PREFIX}-4K7Q9M)")
    body = match.group(1).upper().translate(_CONFUSABLE)
    if any(ch not in ALPHABET for ch in body):
        raise InvalidValue("ticket_id", f"not a ticket ID: {text!r} (invalid character)")
    return f"{PREFIX}-{body}"


def find_ticket_ids(text: str) -> list[str]:
    """Every ticket ID mentioned in a text (e.g. an email subject), canonical, in order."""
    found: list[str] = []
    for match in PATTERN.finditer(text):
        body = match.group(1).upper().translate(_CONFUSABLE)
        if all(ch in ALPHABET for ch in body):
            canonical = f"{PREFIX}-{body}"
            if canonical not in found:
                found.append(canonical)
    return found


@lru_cache(maxsize=65536)
def ticket_uuid(ticket_id: str) -> uuid.UUID:
    return uuid.uuid5(_NAMESPACE, normalise_ticket_id(ticket_id))


def intake_uuid(channel: str, intake_key: str) -> uuid.UUID:
    """The identity of an intake key (e.g. an email Message-ID) within its channel."""
    return uuid.uuid5(_NAMESPACE, f"intake:{channel}:{intake_key.strip()}")


def letter_id(channel: str, intake_key: str) -> str:
    """A short, URL-safe, stable name for a kept letter (Message-IDs hold ``<>/@``)."""
    return "L-" + uuid.uuid5(_NAMESPACE, f"letter:{channel}:{intake_key.strip()}").hex[:12].upper()
