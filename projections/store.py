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
    """One connection behind a lock; WAL, so readers in other processes are not blocked."""

    dialect = "sqlite"

    def __init__(self, path: Path | str) -> None:
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None,
                                     timeout=30)
        self._conn.row_factory = sqlite3.Row
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        # Read models key rows by ticket UUID: inserts land all over the B-trees, so a
        # larger page cache (64 MiB) saves most of the reads a rebuild would do.
        self._conn.execute("PRAGMA cache_size=-65536")
        # Checkpoints (which fsync) every 64 MiB of WAL rather than every 4 MiB: a rebuild
        # commits a batch every few milliseconds.
        self._conn.execute("PRAGMA wal_autocheckpoint=16384")
        self._lock = threading.RLock()

    @contextmanager
    def transaction(self) -> Iterator[Cursor]:
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

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(row) for row in self._conn.execute(sql, tuple(params)).fetchall()]

    def close(self) -> None:
        with self._lock:
            self._conn.close()


class _PgCursor:
    """Translates ``?`` placeholders for psycopg."""

    def __init__(self, cursor: Any) -> None:
        self._cursor = cursor

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        return self._cursor.execute(sql.replace("?", "%s"), tuple(params))

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> Any:
        return self._cursor.executemany(sql.replace("?", "%s"), rows)

    def fetchall(self) -> list[Any]:
        return list(self._cursor.fetchall())

    def fetchone(self) -> Any:
        return self._cursor.fetchone()


class PostgresReadStore(ReadStore):
    dialect = "postgres"

    def __init__(self, conninfo: str, *, pool_size: int = 4) -> None:
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
        if sqlite_path is None:
            events = Path(env["SQLITE_DBNAME"])
            sqlite_path = events.with_name(events.stem + ".read.sqlite")
        return SQLiteReadStore(sqlite_path)
    return SQLiteReadStore(sqlite_path or ":memory:")
