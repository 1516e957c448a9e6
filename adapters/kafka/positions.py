"""How far a relay has published: one durable number per relay name.

The relay saves a position only after every message up to it was acknowledged by
the brokers (``acks=all``), so a crash at any moment re-publishes at most the
batch in flight: at-least-once, never a gap. Saves only move forward, so a
stale relay process cannot drag the position back.

The relay records nothing else, so "the same transaction as anything it
records" is this one statement. Ticket IDs for message keys are looked up in the
event store (see ``relay.TicketKeys``), not kept here, so there is no second
piece of state to keep consistent with the position.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path
from typing import Protocol


class PositionStore(Protocol):
    """A relay's durable position in the notification log."""

    def load(self, name: str) -> int:
        """The last published position (0 when the relay never ran)."""
        ...

    def save(self, name: str, position: int) -> None:
        """Record ``position`` if it is ahead of the stored one."""
        ...

    def close(self) -> None: ...


class MemoryPositionStore:
    """For tests and the in-memory (popo) desk, where nothing survives a restart anyway."""

    def __init__(self) -> None:
        self._positions: dict[str, int] = {}
        self._lock = threading.Lock()

    def load(self, name: str) -> int:
        with self._lock:
            return self._positions.get(name, 0)

    def save(self, name: str, position: int) -> None:
        with self._lock:
            self._positions[name] = max(position, self._positions.get(name, 0))

    def close(self) -> None:
        pass


_CREATE = (
    "CREATE TABLE IF NOT EXISTS kafka_relay_position ("
    "relay TEXT PRIMARY KEY, position BIGINT NOT NULL)"
)
_UPSERT = (
    "INSERT INTO kafka_relay_position (relay, position) VALUES ({p}, {p}) "
    "ON CONFLICT (relay) DO UPDATE SET position = excluded.position "
    "WHERE kafka_relay_position.position < excluded.position"
)
_SELECT = "SELECT position FROM kafka_relay_position WHERE relay = {p}"


class SQLitePositionStore:
    """A small SQLite file of its own, so the relay never waits on the desk's write lock."""

    def __init__(self, path: Path | str) -> None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(str(path), timeout=30, isolation_level=None,
                                     check_same_thread=False)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=FULL")
        self._conn.execute(_CREATE)
        self._lock = threading.Lock()

    def load(self, name: str) -> int:
        with self._lock:
            row = self._conn.execute(_SELECT.format(p="?"), (name,)).fetchone()
        return int(row[0]) if row else 0

    def save(self, name: str, position: int) -> None:
        with self._lock:
            self._conn.execute(_UPSERT.format(p="?"), (name, position))

    def close(self) -> None:
        self._conn.close()


class PostgresPositionStore:
    """A table in the desk's own PostgreSQL database."""

    def __init__(self, conninfo: str) -> None:
        import psycopg

        from projections.schema import SCHEMA_LOCK

        self._conn = psycopg.connect(conninfo, autocommit=True)
        with self._conn.transaction():  # replicas starting together take turns (projections.schema)
            self._conn.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK,))
            self._conn.execute(_CREATE)
        self._lock = threading.Lock()

    def load(self, name: str) -> int:
        with self._lock:
            row = self._conn.execute(_SELECT.format(p="%s"), (name,)).fetchone()
        return int(row[0]) if row else 0

    def save(self, name: str, position: int) -> None:
        with self._lock:
            self._conn.execute(_UPSERT.format(p="%s"), (name, position))

    def close(self) -> None:
        self._conn.close()
