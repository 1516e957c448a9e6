"""Where read models live: SQLite (embedded default) or PostgreSQL.

Read-model rows and the position they were built up to are written in one
transaction (``transaction()``), which is what makes a restart resume without
double counting. This is an *equivalent* of eventsourcing's
``SQLiteTrackingRecorder`` / ``PostgresTrackingRecorder`` rather than a
subclass: those record one tracking row per ``insert_tracking`` call behind
their own connection handling, while our read models write many tables with
``executemany`` and need several tracking rows (one per read model) in the
same transaction. Tracking rows are ``(projection_name, application_name,
notification_id)`` (see ``projections.runner``). SQL is written with ``?``
placeholders and translated for psycopg.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol


class Cursor(Protocol):
    def execute(self, sql: str, params: Sequence[Any] = ...) -> Any: ...

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> Any: ...

    def fetchall(self) -> list[Any]: ...

    def fetchone(self) -> Any: ...


class ReadStore:
    """A small SQL facade over one database, safe to share between threads."""

    dialect: str

    @contextmanager
    def transaction(self) -> Iterator[Cursor]:
        raise NotImplementedError

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        raise NotImplementedError

    def close(self) -> None:
        """Release connections."""


class SQLiteReadStore(ReadStore):
    """One writer connection behind a lock, and reader connections of their own.

    In WAL mode readers see the last committed state without waiting for the
    writer or for each other, so a slow query (a dashboard's statistics) never
    delays ``/healthz`` or a queue page. A query takes an idle reader or opens
    one (never waits for one); up to ``readers`` idle ones are kept. An
    in-memory database has one connection only, shared under the lock.
    """

    dialect = "sqlite"

    def __init__(self, path: Path | str, *, readers: int = 8,
                 pointer: Path | str | None = None) -> None:
        self.pointer = Path(pointer) if pointer is not None else None
        target = self._pointed()
        self.path = target or str(path)
        self.memory = self.path == ":memory:"
        self.generation = 0
        """Bumped on each switch to another file (``follow_switch``)."""
        self._lock = threading.RLock()
        self._conn = self._open_writer(self.path)
        self._idle: list[tuple[int, sqlite3.Connection]] = []
        self._idle_lock = threading.Lock()
        self._keep = readers
        self._closed = False
        self._next_check = 0.0

    def _open_writer(self, path: str) -> sqlite3.Connection:
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=30)
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        # A rebuild updates recent rows all the time: a larger page cache (64 MiB) keeps
        # the pages it comes back to.
        conn.execute("PRAGMA cache_size=-65536")
        # Checkpoints (which fsync) every 64 MiB of WAL rather than every 4 MiB: a rebuild
        # commits a batch every few milliseconds.
        conn.execute("PRAGMA wal_autocheckpoint=16384")
        return conn

    # -- switching to a store rebuilt elsewhere ------------------------------------

    def _pointed(self) -> str | None:
        if self.pointer is None or not self.pointer.exists():
            return None
        return self.pointer.read_text(encoding="utf-8").strip() or None

    def follow_switch(self, *, every: float = 0.5) -> bool:
        """Reopen on the file the pointer names, if it changed (checked at most every
        ``every`` seconds). Queries and transactions call this; True when it switched."""
        if self.pointer is None or self.memory:
            return False
        now = time.monotonic()
        if now < self._next_check:
            return False
        self._next_check = now + every
        target = self._pointed()
        if target is None or target == self.path:
            return False
        with self._lock:
            if target == self.path:
                return False
            old, self._conn = self._conn, self._open_writer(target)
            self.path = target
            self.generation += 1
            with self._idle_lock:
                idle, self._idle = self._idle, []
            old.close()
        for _, conn in idle:
            conn.close()
        return True

    @staticmethod
    def write_pointer(pointer: Path | str, target: Path | str) -> None:
        """Name ``target`` as the read store (atomically: serving processes never read half)."""
        pointer = Path(pointer)
        partial = pointer.with_name(pointer.name + ".tmp")
        partial.write_text(str(Path(target).resolve()) + "\n", encoding="utf-8")
        partial.replace(pointer)

    def fast_load(self) -> None:
        """For a store being built from nothing (``projections rebuild --into``): no fsync
        until the end; a crash leaves a file to throw away, which such a store is."""
        with self._lock:
            self._conn.execute("PRAGMA synchronous=OFF")

    def durable(self) -> None:
        with self._lock:
            self._conn.execute("PRAGMA synchronous=NORMAL")
            self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    @contextmanager
    def transaction(self) -> Iterator[Cursor]:
        self.follow_switch()
        with self._lock:
            cursor = self._conn.cursor()
            cursor.execute("BEGIN IMMEDIATE")
            try:
                yield cursor
            except BaseException:
                self._conn.rollback()
                raise
            else:
                self._conn.commit()
            finally:
                cursor.close()

    def _reader(self) -> tuple[int, sqlite3.Connection]:
        with self._idle_lock:
            if self._idle:
                return self._idle.pop()
            generation, path = self.generation, self.path
        conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=30)
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA query_only=1")
        conn.execute("PRAGMA cache_size=-16384")
        return generation, conn

    def _release(self, reader: tuple[int, sqlite3.Connection]) -> None:
        with self._idle_lock:
            if not self._closed and reader[0] == self.generation and len(self._idle) < self._keep:
                self._idle.append(reader)
                return
        reader[1].close()

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        if self.memory:
            with self._lock:
                return [dict(row) for row in self._conn.execute(sql, tuple(params)).fetchall()]
        self.follow_switch()
        reader = self._reader()
        try:
            return [dict(row) for row in reader[1].execute(sql, tuple(params)).fetchall()]
        finally:
            self._release(reader)

    def close(self) -> None:
        with self._idle_lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for _, conn in idle:
            conn.close()
        with self._lock:
            self._conn.close()


class _PgCursor:
    """Translates ``?`` placeholders for psycopg."""

    def __init__(self, cursor: Any) -> None:
        self._cursor = cursor

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        if sql.lstrip().startswith("CREATE TABLE"):
            # SQLite's rowid key is "INTEGER PRIMARY KEY"; positions need 64 bits here.
            sql = sql.replace("INTEGER PRIMARY KEY", "BIGINT PRIMARY KEY")
        return self._cursor.execute(sql.replace("?", "%s"), tuple(params))

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> Any:
        return self._cursor.executemany(sql.replace("?", "%s"), rows)

    def fetchall(self) -> list[Any]:
        return list(self._cursor.fetchall())

    def fetchone(self) -> Any:
        return self._cursor.fetchone()


class PostgresReadStore(ReadStore):
    """A connection pool: queries and the runner's transactions each take their own."""

    dialect = "postgres"

    def __init__(self, conninfo: str, *, pool_size: int = 10) -> None:
        from psycopg.rows import dict_row
        from psycopg_pool import ConnectionPool

        self._pool = ConnectionPool(conninfo, min_size=1, max_size=pool_size,
                                    kwargs={"row_factory": dict_row}, open=True)

    @contextmanager
    def transaction(self) -> Iterator[Cursor]:
        with self._pool.connection() as conn, conn.transaction(), conn.cursor() as cursor:
            yield _PgCursor(cursor)

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        with self._pool.connection() as conn, conn.cursor() as cursor:
            cursor.execute(sql.replace("?", "%s"), tuple(params))
            return [dict(row) for row in cursor.fetchall()]

    def close(self) -> None:
        self._pool.close()


def read_store_path(env: dict[str, str], sqlite_path: Path | str | None = None) -> Path:
    """Where an SQLite desk's read store lives by default (``*.read.sqlite`` beside it)."""
    if sqlite_path is not None:
        return Path(sqlite_path)
    events = Path(env["SQLITE_DBNAME"])
    return events.with_name(events.stem + ".read.sqlite")


def pointer_for(path: Path | str) -> Path:
    """The file naming the read store in use when it is not ``path`` itself: written by
    ``projections rebuild --into NEW --switch`` / ``projections switch NEW``."""
    path = Path(path)
    return path.with_name(path.name + ".current")


def store_for(env: dict[str, str], sqlite_path: Path | str | None = None) -> ReadStore:
    """The read store next to an eventsourcing environment's event store.

    PostgreSQL: the same database (tables prefixed ``rm_``). SQLite: a file
    of its own beside the event store (``*.read.sqlite``), or ``sqlite_path``.
    POPO: an in-memory SQLite database.
    """
    module = env.get("PERSISTENCE_MODULE", "eventsourcing.popo")
    if module == "eventsourcing.postgres":
        from psycopg.conninfo import make_conninfo

        conninfo = make_conninfo(
            dbname=env["POSTGRES_DBNAME"], host=env.get("POSTGRES_HOST", "127.0.0.1"),
            port=env.get("POSTGRES_PORT", "5432"), user=env["POSTGRES_USER"],
            password=env.get("POSTGRES_PASSWORD", ""),
        )
        return PostgresReadStore(conninfo)
    if module == "eventsourcing.sqlite":
        path = read_store_path(env, sqlite_path)
        return SQLiteReadStore(path, pointer=pointer_for(path))
    return SQLiteReadStore(sqlite_path or ":memory:")
