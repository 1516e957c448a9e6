"""The stored form of a sealed event, and the HMAC that seals it.

A sealed event's stored state is the JSON the transcoder wrote, with one more
key appended by splicing bytes: ``{...,"_audit":"<key id>:<seal hex>"}``. The
seal is ``HMAC-SHA256(key, previous seal ‖ originator ‖ version ‖ topic ‖
JSON)``, the previous seal being that of the same originator's previous
version (``GENESIS`` for its first). Splicing at a fixed-width tail means the
exact bytes that were sealed are recovered without re-encoding anything.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import orjson

GENESIS = hashlib.sha256(b"pass24-desk audit chain genesis").digest()
DEVELOPMENT_KEY = "pass24-desk development audit key: never use in production"

SEAL_KEY = "_audit"
"""The key the seal is stored under, last in the stored JSON object."""
_HEAD = b',"' + SEAL_KEY.encode() + b'":"'
_KID = 8
_TAIL_LEN = len(_HEAD) + _KID + 1 + 64 + 2  # ,"_audit":"<kid>:<64 hex>"}
_LONE_HEAD = b'{"' + SEAL_KEY.encode() + b'":"'


def key_id(key: bytes) -> str:
    """A short public name for a key, so a verifier knows which key sealed a row."""
    return hmac.new(key, b"pass24-desk audit key id", hashlib.sha256).hexdigest()[:_KID]


@dataclass(frozen=True)
class Keyring:
    """The key that seals new events, and retired keys that still verify old ones."""

    current: bytes
    retired: tuple[bytes, ...] = ()

    @classmethod
    def from_secrets(cls, current: str, retired: Iterable[str] = ()) -> Keyring:
        return cls(current.encode(), tuple(k.strip().encode() for k in retired if k.strip()))

    @property
    def current_id(self) -> str:
        return key_id(self.current)

    def by_id(self) -> dict[str, bytes]:
        keys = {key_id(k): k for k in self.retired}
        keys[self.current_id] = self.current
        return keys


def seal(key: bytes, previous: bytes, originator_id: str, version: int, topic: str,
         body: bytes) -> bytes:
    message = b"".join((
        previous, originator_id.encode(), b"\0", version.to_bytes(8, "big", signed=True),
        topic.encode(), b"\0", body,
    ))
    return hmac.new(key, message, hashlib.sha256).digest()


def attach(body: bytes, kid: str, chain: bytes) -> bytes:
    """The stored state: ``body`` (a JSON object) with the seal as its last key."""
    value = kid.encode() + b":" + chain.hex().encode() + b'"}'
    if body == b"{}":
        return _LONE_HEAD + value
    return body[:-1] + _HEAD + value


def detach(state: bytes) -> tuple[bytes, str | None, bytes | None]:
    """``(body, key id, seal)`` of a stored state; ``(state, None, None)`` when unsealed."""
    state = bytes(state)
    if len(state) >= _TAIL_LEN and state.endswith(b'"}'):
        if state[-_TAIL_LEN:-_TAIL_LEN + len(_HEAD)] == _HEAD:
            tail = state[-_TAIL_LEN + len(_HEAD):-2]
            body = state[:-_TAIL_LEN] + b"}"
        elif len(state) == _TAIL_LEN and state.startswith(_LONE_HEAD):
            tail = state[len(_LONE_HEAD):-2]
            body = b"{}"
        else:
            return state, None, None
        kid, _, hexed = tail.partition(b":")
        try:
            return body, kid.decode(), bytes.fromhex(hexed.decode())
        except ValueError:
            return state, None, None
    return state, None, None


def strip(state: bytes | str) -> bytes:
    """The stored state without its seal: what read models and integrations see."""
    raw = state.encode() if isinstance(state, str) else bytes(state)
    return detach(raw)[0]


# 19 digits in a row may be an integer beyond 64 bits, which orjson reads as a float: such
# texts (a digit run inside a string too, rarely) are parsed by json. Every digit mapped to
# "0" and a search for nineteen of them costs about what orjson's parse does.
_DIGITS_AS_ZERO = bytes.maketrans(b"123456789", b"000000000")
_LONG_RUN = b"0" * 19


def parse(state: bytes) -> Any:
    """A stored state's JSON (seal and all, if it has one) exactly as ``json`` parses it.

    orjson parses several times faster than ``json``; what it refuses (``NaN``, a lone
    surrogate escape) or could read differently (an integer beyond 64 bits) goes
    through ``json``, as eventsourcing's transcoder would read it.
    """
    if _LONG_RUN in state.translate(_DIGITS_AS_ZERO):
        return json.loads(state)
    try:
        return orjson.loads(state)
    except orjson.JSONDecodeError:
        return json.loads(state)
