"""Letters that could not be read: raw bytes and the reason, kept durably for staff to see.

They live in the ``quarantine`` table of the main database (PostgreSQL when the
store is PostgreSQL, the event store's SQLite file otherwise), so a letter
quarantined by one replica is listed and retried by any other.
"""

from __future__ import annotations

import hashlib
import sqlite3
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from projections.schema import blob_type, create_schema, id_column
from projections.store import Cursor, ReadStore, SQLiteReadStore

_COLUMNS = "sha256, received_at, source, reason, size, raw"


def _schema(dialect: str) -> str:
    return f"""CREATE TABLE IF NOT EXISTS quarantine (
    id {id_column(dialect)},
    sha256 TEXT NOT NULL UNIQUE,
    received_at TEXT NOT NULL,
    source TEXT NOT NULL,
    reason TEXT NOT NULL,
    size INTEGER NOT NULL,
    raw {blob_type(dialect)} NOT NULL
)"""


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
    """A table of unreadable letters; the same bytes twice are one entry.

    ``store``: the main database; a path opens an SQLite file of that name."""

    def __init__(self, store: ReadStore | Path) -> None:
        if not isinstance(store, ReadStore):
            store = SQLiteReadStore(store)
        self.store = store
        create_schema(store, (_schema(store.dialect),))

    def put(self, raw: bytes, *, reason: str, source: str, at: datetime) -> int:
        """Keep the letter (committed before this returns); answers the entry's id."""
        digest = hashlib.sha256(raw).hexdigest()
        with self.store.transaction() as cursor:
            cursor.execute(
                f"INSERT INTO quarantine ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)"  # noqa: S608
                " ON CONFLICT (sha256) DO NOTHING",
                (digest, at.isoformat(), source, reason[:2000], len(raw), raw),
            )
            cursor.execute("SELECT id FROM quarantine WHERE sha256 = ?", (digest,))
            row = cursor.fetchone()
        return int(row["id"])

    def release(self, entry_id: int) -> None:
        """Forget a letter that has now been handled."""
        with self.store.transaction() as cursor:
            cursor.execute("DELETE FROM quarantine WHERE id = ?", (entry_id,))

    def list(self, *, limit: int = 50, offset: int = 0) -> list[QuarantinedLetter]:
        """Newest first, without the raw bytes."""
        rows = self.store.query(
            "SELECT id, sha256, received_at, source, reason, size FROM quarantine"
            " ORDER BY id DESC LIMIT ? OFFSET ?", (limit, offset))
        return [QuarantinedLetter(int(r["id"]), r["sha256"], datetime.fromisoformat(r["received_at"]),
                                  r["source"], r["reason"], int(r["size"])) for r in rows]

    def count(self) -> int:
        rows = self.store.query("SELECT count(*) AS n FROM quarantine")
        return int(rows[0]["n"])

    def get(self, entry_id: int) -> QuarantinedLetter | None:
        rows = self.store.query(f"SELECT id, {_COLUMNS} FROM quarantine WHERE id = ?",  # noqa: S608
                                (entry_id,))
        if not rows:
            return None
        r = rows[0]
        return QuarantinedLetter(int(r["id"]), r["sha256"], datetime.fromisoformat(r["received_at"]),
                                 r["source"], r["reason"], int(r["size"]), bytes(r["raw"]))

    def adopt(self, path: Path) -> int:
        """Take in the letters an older version kept in a per-process SQLite file (the mail
        database) and empty that table there; answers how many were new here."""
        if not path.is_file():
            return 0
        if isinstance(self.store, SQLiteReadStore) and self.store.path != ":memory:" \
                and Path(self.store.path).resolve() == path.resolve():
            return 0  # that file is the main database (an in-memory event store)
        source = sqlite3.connect(path, timeout=30)
        try:
            if not source.execute("SELECT 1 FROM sqlite_master WHERE type = 'table'"
                                  " AND name = 'quarantine'").fetchone():
                return 0
            rows = source.execute(f"SELECT {_COLUMNS} FROM quarantine ORDER BY id").fetchall()
            if not rows:
                return 0
            with self.store.transaction() as cursor:
                before = self._count(cursor)
                for row in rows:
                    cursor.execute(
                        f"INSERT INTO quarantine ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)"  # noqa: S608
                        " ON CONFLICT (sha256) DO NOTHING", (*row[:5], bytes(row[5])))
                taken = self._count(cursor) - before
            # Only once they are committed here are they gone there.
            with source:
                source.execute("DELETE FROM quarantine")
            return taken
        finally:
            source.close()

    @staticmethod
    def _count(cursor: Cursor) -> int:
        cursor.execute("SELECT count(*) AS n FROM quarantine")
        return int(cursor.fetchone()["n"])
