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

import logging
import re
import sqlite3
import threading
import time
import weakref
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

log = logging.getLogger("pass24.projections")


class Cursor(Protocol):
    def execute(self, sql: str, params: Sequence[Any] = ...) -> Any: ...

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> Any: ...

    def fetchall(self) -> list[Any]: ...

    def fetchone(self) -> Any: ...


class ReadStore:
    """A small SQL facade over one database, safe to share between threads."""

    dialect: str
    generation = 0
    """Bumped each time the store switches to a read store rebuilt elsewhere
    (``projections switch``); a transaction runs on one generation from start to end."""

    @contextmanager
    def transaction(self) -> Iterator[Cursor]:
        raise NotImplementedError

    def shared_table(self, other: ReadStore, table: str) -> str | None:
        """How this store's transactions name ``other``'s ``table``, when both stores are one
        database (so one transaction can write both); None when they are not."""
        return table if other is self else None

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
    """Translates ``?`` placeholders for psycopg; ``generation``: the store's, as this
    transaction's connection was set up for it."""

    def __init__(self, cursor: Any, generation: int = 0) -> None:
        self._cursor = cursor
        self.generation = generation

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


POINTER = "read_store_current"
"""The one-row table naming the schema the PostgreSQL read models live in, once
``projections switch`` has run; in the desk's own schema (where the event store is)."""
SCHEMA_PREFIX = "rm_"
_NAME = re.compile(r"[a-z][a-z0-9_]{0,39}")


def schema_for(name: str) -> str:
    """The schema ``projections rebuild --into NAME`` builds (``rm_NAME``) on PostgreSQL.

    ValueError for a name that is not a plain lower-case identifier: it becomes part of
    SQL, and one spelling per schema keeps ``switch`` and ``drop-old`` unambiguous."""
    if not _NAME.fullmatch(name):
        raise ValueError(f"read-store name {name!r}: use a-z, 0-9 and _, starting with a "
                         "letter, at most 40 characters")
    return SCHEMA_PREFIX + name


class PostgresReadStore(ReadStore):
    """A connection pool: queries and the runner's transactions each take their own.

    The read models' store (``follow=True``) finds its tables through each connection's
    ``search_path``: the desk's own schema, or the ``rm_NAME`` schema that
    ``read_store_current`` names once ``projections switch NAME`` has run. Like the
    SQLite store's pointer file, the table is read at most every half second (by the
    query or transaction that finds it due, on its own connection); a pooled connection
    is re-pointed when it is next taken, before it runs anything. A transaction runs on
    one schema from start to end; its cursor carries the store's ``generation`` for it.

    ``schema`` pins a store to one schema (the one ``rebuild --into`` fills). The main
    database's store (outbox, parking lot) is neither: it never leaves the default path.
    """

    dialect = "postgres"

    def __init__(self, conninfo: str, *, pool_size: int = 10, follow: bool = False,
                 schema: str | None = None) -> None:
        from psycopg.rows import dict_row
        from psycopg_pool import ConnectionPool

        self.conninfo = conninfo
        self.follow = follow
        self._lock = threading.Lock()
        self._current: tuple[str | None, int] = (schema, 0)
        """(schema, generation): None is the desk's own schema (the default search path)."""
        self._fast = False
        self._checked_at = -1e9
        self._set_up: weakref.WeakKeyDictionary[Any, tuple[str | None, bool]] = \
            weakref.WeakKeyDictionary()
        self._pool = ConnectionPool(conninfo, min_size=1, max_size=pool_size,
                                    kwargs={"row_factory": dict_row}, open=True)
        self.home = self._home_schema()
        """The desk's own schema: where the event store, the outbox, the parking lot and the
        pointer table live, and the read models until a switch."""
        if follow:
            self.create_pointer()
            with self._pool.connection() as conn:
                self._check(conn)

    @property
    def schema(self) -> str:
        """The schema read models are read from and written to now."""
        return self._current[0] or self.home

    def _home_schema(self) -> str:
        with self._pool.connection() as conn:  # fresh: the default search path
            row = conn.execute("SELECT current_schema()").fetchone()
        found = dict(row or {}).get("current_schema")
        return str(found) if found else "public"

    @property
    def pointer_table(self) -> str:
        """``read_store_current`` in the desk's own schema, quoted for SQL."""
        from psycopg import sql

        return sql.Identifier(self.home, POINTER).as_string(None)

    def create_pointer(self) -> None:
        """Create ``read_store_current`` if missing (under the schema lock: replicas start
        together)."""
        from projections.schema import SCHEMA_LOCK

        with self._pool.connection() as conn, conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK,))
            conn.execute(
                f"CREATE TABLE IF NOT EXISTS {self.pointer_table} ("  # noqa: S608
                "id INTEGER PRIMARY KEY CHECK (id = 1), schema_name TEXT NOT NULL, "
                "switched_at TIMESTAMPTZ NOT NULL DEFAULT now(), previous TEXT)")

    # -- switching to a schema rebuilt elsewhere ------------------------------------------

    def _due(self, every: float) -> bool:
        if not self.follow:
            return False
        now = time.monotonic()
        with self._lock:
            if now - self._checked_at < every:
                return False
            self._checked_at = now
            return True

    def _check(self, conn: Any) -> bool:
        """Read the pointer on ``conn``; True when it names another schema than before."""
        row = conn.execute(f"SELECT schema_name FROM {self.pointer_table} "  # noqa: S608
                           "WHERE id = 1").fetchone()
        conn.commit()
        target = str(row["schema_name"]) if row else None
        if target == self.home:
            target = None
        with self._lock:
            schema, generation = self._current
            if target == schema:
                return False
            self._current = (target, generation + 1)
            self.generation = generation + 1
        log.info("read store switched to schema %s", target or self.home)
        return True

    def follow_switch(self, *, every: float = 0.5) -> bool:
        """Follow ``projections switch`` (checked at most every ``every`` seconds); True when
        it switched. Queries and transactions call this themselves."""
        if not self._due(every):
            return False
        with self._pool.connection() as conn:
            return self._check(conn)

    def _prepare(self, conn: Any) -> int:
        """Point ``conn`` at the current schema (and load mode); returns the generation."""
        from psycopg import sql

        if self._due(0.5):
            self._check(conn)
        schema, generation = self._current
        wanted = (schema, self._fast)
        with self._lock:
            done = self._set_up.get(conn, (None, False))  # a new connection: the defaults
        if done != wanted:
            if schema is None:
                conn.execute("RESET search_path")
            else:
                conn.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(schema)))
            conn.execute("SET synchronous_commit TO " + ("off" if self._fast else "DEFAULT"))
            conn.commit()
            with self._lock:
                self._set_up[conn] = wanted
        return generation

    def fast_load(self) -> None:
        """For a schema being built from nothing (``projections rebuild --into``): commits
        do not wait for the disk; a crash loses the last ones of a schema to throw away."""
        self._fast = True

    def durable(self) -> None:
        """The end of a load: commits wait for the disk again, and the planner gets
        statistics of the new tables (ANALYZE; a fresh table has none)."""
        self._fast = False
        with self.transaction() as cursor:
            cursor.execute("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")
            for row in cursor.fetchall():
                cursor.execute(f'ANALYZE "{row["tablename"]}"')

    def shared_table(self, other: ReadStore, table: str) -> str | None:
        if other is self:
            return table
        if isinstance(other, PostgresReadStore) and other.conninfo == self.conninfo:
            from psycopg import sql

            return sql.Identifier(other.schema, table).as_string(None)
        return None

    @contextmanager
    def transaction(self) -> Iterator[Cursor]:
        with self._pool.connection() as conn:
            generation = self._prepare(conn)
            with conn.transaction(), conn.cursor() as cursor:
                yield _PgCursor(cursor, generation)

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        with self._pool.connection() as conn:
            self._prepare(conn)
            with conn.cursor() as cursor:
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


def postgres_conninfo(env: dict[str, str]) -> str:
    """libpq connection string of an eventsourcing environment's PostgreSQL database."""
    from psycopg.conninfo import make_conninfo

    return make_conninfo(
        dbname=env["POSTGRES_DBNAME"], host=env.get("POSTGRES_HOST", "127.0.0.1"),
        port=env.get("POSTGRES_PORT", "5432"), user=env["POSTGRES_USER"],
        password=env.get("POSTGRES_PASSWORD", ""),
    )


def store_for(env: dict[str, str], sqlite_path: Path | str | None = None, *,
              follow: bool = True) -> ReadStore:
    """The read store next to an eventsourcing environment's event store.

    PostgreSQL: the same database (tables prefixed ``rm_``), in the desk's own schema
    or the one ``projections switch`` named (``follow``; False: a store that stays on
    the desk's own schema: the main database's, the Kafka-fed read models'). SQLite: a file of its own beside the
    event store (``*.read.sqlite``), or ``sqlite_path``. POPO: an in-memory SQLite database.
    """
    module = env.get("PERSISTENCE_MODULE", "eventsourcing.popo")
    if module == "eventsourcing.postgres":
        return PostgresReadStore(postgres_conninfo(env), follow=follow)
    if module == "eventsourcing.sqlite":
        path = read_store_path(env, sqlite_path)
        return SQLiteReadStore(path, pointer=pointer_for(path))
    return SQLiteReadStore(sqlite_path or ":memory:")
