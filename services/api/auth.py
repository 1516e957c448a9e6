"""Bearer tokens with roles; only a token's SHA-256 is ever stored.

Tokens are random (256 bits), so a plain SHA-256 is the right hash: there is
nothing to brute-force, and lookups stay a single dictionary access.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from enum import StrEnum
from pathlib import Path

from domain.values import Actor


class Role(StrEnum):
    AGENT = "agent"
    SUPERVISOR = "supervisor"
    AUDITOR = "auditor"
    INTEGRATION = "integration"


STAFF = frozenset({Role.AGENT, Role.SUPERVISOR})
READERS = frozenset({Role.AGENT, Role.SUPERVISOR, Role.AUDITOR})
INTAKE = frozenset({Role.AGENT, Role.SUPERVISOR, Role.INTEGRATION})
SUPERVISORS = frozenset({Role.SUPERVISOR})

TOKEN_PREFIX = "p24_"


@dataclass(frozen=True)
class Principal:
    """Who is calling: a named holder of a role."""

    name: str
    role: Role

    @property
    def actor(self) -> Actor:
        if self.role is Role.INTEGRATION:
            return Actor.integration(self.name)
        return Actor.staff(self.name)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class TokenRecord:
    name: str
    role: Role
    sha256: str
    issued_at: str
    expires_at: str | None = None
    """ISO instant after which the token no longer authenticates; None: until revoked."""

    @property
    def token_id(self) -> str:
        """The first 12 hex digits of the hash: enough to name a token in ``token revoke``,
        useless to anyone who wants to authenticate."""
        return self.sha256[:12]

    def expired(self, now: datetime) -> bool:
        return self.expires_at is not None and datetime.fromisoformat(self.expires_at) <= now


class TokenStore:
    """Token hashes in a JSON file (and optionally fixed ones from configuration)."""

    def __init__(self, path: Path | None, fixed: dict[str, Principal] | None = None) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._fixed = dict(fixed or {})
        self._records: dict[str, TokenRecord] = {}
        self._mtime: float | None = None
        self._reload()

    def _reload(self) -> None:
        if self.path is None or not self.path.exists():
            return
        mtime = self.path.stat().st_mtime
        if mtime == self._mtime:
            return
        data = json.loads(self.path.read_text(encoding="utf-8"))
        self._records = {
            r["sha256"]: TokenRecord(r["name"], Role(r["role"]), r["sha256"], r["issued_at"],
                                     r.get("expires_at"))
            for r in data.get("tokens", [])
        }
        self._mtime = mtime

    def issue(self, role: Role, name: str, *, expires_in: timedelta | None = None,
              now: datetime | None = None) -> str:
        """A new token for ``name`` with ``role``; returned once, stored as a hash."""
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        issued = now or datetime.now(timezone.utc)
        expires = (issued + expires_in).isoformat(timespec="seconds") if expires_in else None
        record = TokenRecord(name, role, token_hash(token), issued.isoformat(timespec="seconds"),
                             expires)
        with self._lock:
            self._reload()
            self._records[record.sha256] = record
            if self.path is not None:
                self._write()
        return token

    def records(self) -> list[TokenRecord]:
        """Issued tokens (not the fixed ones from configuration), oldest first."""
        with self._lock:
            self._reload()
            return sorted(self._records.values(), key=lambda r: (r.issued_at, r.name))

    def revoke(self, which: str) -> list[TokenRecord]:
        """Remove the issued tokens whose ID (hash prefix, 6+ hex digits) or holder's name is
        ``which``; answers what was removed (nothing: no such token)."""
        key = which.strip().lower()
        with self._lock:
            self._reload()
            gone = [r for r in self._records.values()
                    if r.name == which.strip() or (len(key) >= 6 and r.sha256.startswith(key))]
            for record in gone:
                del self._records[record.sha256]
            if gone and self.path is not None:
                self._write()
        return gone

    def _write(self) -> None:
        assert self.path is not None
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        payload = {"tokens": [r.__dict__ | {"role": r.role.value} for r in self._records.values()]}
        tmp.write_text(json.dumps(payload, indent=2), encoding="utf-8")
        os.chmod(tmp, 0o600)
        os.replace(tmp, self.path)
        self._mtime = self.path.stat().st_mtime

    def authenticate(self, token: str) -> Principal | None:
        return self.authenticate_digest(token_hash(token))

    def authenticate_digest(self, digest: str) -> Principal | None:
        """The holder of the token with this SHA-256 (a session cookie carries only that)."""
        fixed = self._fixed.get(digest)
        if fixed is not None:
            return fixed
        with self._lock:
            self._reload()
            record = self._records.get(digest)
        if record is None or record.expired(datetime.now(timezone.utc)):
            return None
        return Principal(record.name, record.role)

    @classmethod
    def from_config(cls, path: Path | None, entries: str) -> TokenStore:
        """``entries``: comma-separated ``role:name:sha256`` triples (e.g. from the environment)."""
        fixed: dict[str, Principal] = {}
        for entry in filter(None, (e.strip() for e in entries.split(","))):
            role, name, digest = entry.split(":", 2)
            fixed[digest.lower()] = Principal(name, Role(role))
        return cls(path, fixed)
