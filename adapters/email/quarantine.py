"""Letters that could not be read: raw bytes and the reason, kept durably for staff to see."""

from __future__ import annotations

import hashlib
import sqlite3
import threading
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

_SCHEMA = """
CREATE TABLE IF NOT EXISTS quarantine (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    sha256 TEXT NOT NULL UNIQUE,
    received_at TEXT NOT NULL,
    source TEXT NOT NULL,
    reason TEXT NOT NULL,
    size INTEGER NOT NULL,
    raw BLOB NOT NULL
)
"""


@dataclass(frozen=True)
class QuarantinedLetter:
    id: int
    sha256: str
    received_at: datetime
    source: str
    reason: str
    size: int
    raw: bytes = b""


class Quarantine:
    """A SQLite table of unreadable letters; the same bytes twice are one entry."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.Lock()
        with self._connect() as conn:
            conn.execute(_SCHEMA)

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=30)
        conn.execute("PRAGMA journal_mode=WAL")
        return conn

    def put(self, raw: bytes, *, reason: str, source: str, at: datetime) -> int:
        """Keep the letter (committed before this returns); answers the entry's id."""
        digest = hashlib.sha256(raw).hexdigest()
        with self._lock, self._connect() as conn:
            conn.execute(
                "INSERT OR IGNORE INTO quarantine (sha256, received_at, source, reason, size, raw)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (digest, at.isoformat(), source, reason[:2000], len(raw), raw),
            )
            row = conn.execute("SELECT id FROM quarantine WHERE sha256 = ?", (digest,)).fetchone()
        conn.close()
        return int(row[0])

    def release(self, entry_id: int) -> None:
        """Forget a letter that has now been handled."""
        with self._lock, self._connect() as conn:
            conn.execute("DELETE FROM quarantine WHERE id = ?", (entry_id,))
        conn.close()

    def list(self, *, limit: int = 50, offset: int = 0) -> list[QuarantinedLetter]:
        """Newest first, without the raw bytes."""
        with self._connect() as conn:
            rows = conn.execute(
                "SELECT id, sha256, received_at, source, reason, size FROM quarantine"
                " ORDER BY id DESC LIMIT ? OFFSET ?", (limit, offset),
            ).fetchall()
        conn.close()
        return [QuarantinedLetter(r[0], r[1], datetime.fromisoformat(r[2]), r[3], r[4], r[5])
                for r in rows]

    def count(self) -> int:
        with self._connect() as conn:
            (total,) = conn.execute("SELECT count(*) FROM quarantine").fetchone()
        conn.close()
        return int(total)

    def get(self, entry_id: int) -> QuarantinedLetter | None:
        with self._connect() as conn:
            row = conn.execute(
                "SELECT id, sha256, received_at, source, reason, size, raw FROM quarantine"
                " WHERE id = ?", (entry_id,),
            ).fetchone()
        conn.close()
        if row is None:
            return None
        return QuarantinedLetter(row[0], row[1], datetime.fromisoformat(row[2]), row[3], row[4],
                                 row[5], bytes(row[6]))
