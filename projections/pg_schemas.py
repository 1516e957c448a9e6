"""PostgreSQL read models in schemas of their own: build a new one, switch, drop an old one.

``projections rebuild --into NAME`` fills the schema ``rm_NAME`` of the desk's database
while the read models in use keep serving and their runners keep applying;
``projections switch NAME`` names it in ``read_store_current`` (one row, in the desk's
own schema), which every process's read store reads at most every half second
(``projections.store.PostgresReadStore``), so each one moves within a second and its
runner carries on from the positions the new schema holds. The switch is one row
written in one transaction: every process sees either the old schema or the new one.
The previous schema stays as it was, for switching back, until ``drop-old`` drops it.

Every change here runs under the schema advisory lock (``projections.schema``), so a
switch and a drop of the same schema, or two switches, take turns.
"""

from __future__ import annotations

from dataclasses import dataclass

from projections.runner import TRACKING
from projections.schema import lock_schema
from projections.store import SCHEMA_PREFIX, PostgresReadStore, schema_for


class SchemaError(Exception):
    """A read-model schema that cannot be built, switched to or dropped (the reason)."""


@dataclass(frozen=True)
class ReadSchema:
    schema: str
    live: bool
    position: int | None
    """The lowest position its read models reached (None: it holds no read models)."""


def _position(store: PostgresReadStore, schema: str) -> int | None:
    tracking = f'"{schema}".{TRACKING}'
    rows = store.query("SELECT to_regclass(?) IS NOT NULL AS found", (tracking,))
    if not rows or not rows[0]["found"]:
        return None
    found = store.query(f"SELECT MIN(notification_id) AS p, COUNT(*) AS n FROM {tracking}")  # noqa: S608
    return int(found[0]["p"]) if found and found[0]["n"] else None


def live_schema(store: PostgresReadStore) -> str:
    """The schema the read models are served from now (the desk's own before any switch)."""
    store.create_pointer()
    rows = store.query(f"SELECT schema_name FROM {store.pointer_table}")  # noqa: S608
    return str(rows[0]["schema_name"]) if rows else store.home


def new_schema(store: PostgresReadStore, name: str) -> str:
    """Create the empty schema ``rm_NAME`` to build into; SchemaError if it exists."""
    try:
        schema = schema_for(name)
    except ValueError as error:
        raise SchemaError(str(error)) from None
    with store.transaction() as cursor:
        lock_schema(cursor, store.dialect)
        cursor.execute("SELECT 1 FROM pg_namespace WHERE nspname = ?", (schema,))
        if cursor.fetchone() is not None:
            raise SchemaError(f"schema {schema} exists; --into builds a new one "
                              f"(`pass24-desk projections drop-old {name}` drops it)")
        cursor.execute(f'CREATE SCHEMA "{schema}"')
    return schema


BUILT = "pass24-desk read models, built up to position "


def mark_built(store: PostgresReadStore, schema: str, position: int) -> None:
    """Record on the schema that its build finished (``switch`` refuses a half-built one)."""
    with store.transaction() as cursor:
        cursor.execute(f"COMMENT ON SCHEMA \"{schema}\" IS '{BUILT}{int(position)}'")


def _built(store: PostgresReadStore, schema: str) -> bool:
    rows = store.query("SELECT obj_description(oid, 'pg_namespace') AS note FROM pg_namespace "
                       "WHERE nspname = ?", (schema,))
    return bool(rows) and str(rows[0]["note"] or "").startswith(BUILT)


def switch_to(store: PostgresReadStore, name: str | None) -> tuple[str, str]:
    """Make ``rm_NAME`` (None: the desk's own schema) the read models of every process;
    returns ``(previous, now)``. SchemaError when it holds no read models, or its build
    did not finish."""
    if name is None:
        schema = store.home
    else:
        try:
            schema = schema_for(name)
        except ValueError as error:
            raise SchemaError(str(error)) from None
    if _position(store, schema) is None:
        build = f"rebuild --into {name}" if name is not None else "rebuild` before any `switch"
        raise SchemaError(f"schema {schema} holds no read models "
                          f"(`pass24-desk projections {build}` builds them)")
    if name is not None and not _built(store, schema):
        raise SchemaError(f"schema {schema} was not built to the end; drop it "
                          f"(`pass24-desk projections drop-old {name}`) and rebuild")
    store.create_pointer()
    with store.transaction() as cursor:
        lock_schema(cursor, store.dialect)
        cursor.execute(f"SELECT schema_name FROM {store.pointer_table}")  # noqa: S608
        row = cursor.fetchone()
        previous = str(row["schema_name"]) if row else store.home
        cursor.execute(
            f"INSERT INTO {store.pointer_table} (id, schema_name, switched_at, previous) "  # noqa: S608
            "VALUES (1, ?, now(), ?) ON CONFLICT (id) DO UPDATE SET "
            "schema_name = excluded.schema_name, switched_at = excluded.switched_at, "
            "previous = excluded.previous", (schema, previous))
    return previous, schema


def drop_schema(store: PostgresReadStore, name: str) -> str:
    """Drop ``rm_NAME`` and everything in it; SchemaError when it is the live one."""
    try:
        schema = schema_for(name)
    except ValueError as error:
        raise SchemaError(str(error)) from None
    store.create_pointer()
    with store.transaction() as cursor:
        lock_schema(cursor, store.dialect)
        cursor.execute(f"SELECT schema_name FROM {store.pointer_table}")  # noqa: S608
        row = cursor.fetchone()
        if row is not None and row["schema_name"] == schema:
            raise SchemaError(f"schema {schema} is the live read store; switch to another "
                              "one first")
        cursor.execute("SELECT 1 FROM pg_namespace WHERE nspname = ?", (schema,))
        if cursor.fetchone() is None:
            raise SchemaError(f"no schema {schema}")
        cursor.execute(f'DROP SCHEMA "{schema}" CASCADE')
    return schema


def read_schemas(store: PostgresReadStore) -> list[ReadSchema]:
    """The desk's own schema and every ``rm_*`` schema, with their positions."""
    live = live_schema(store)
    names = [store.home] + [
        str(row["nspname"]) for row in store.query(
            "SELECT nspname FROM pg_namespace WHERE nspname LIKE ? ORDER BY nspname",
            (SCHEMA_PREFIX.replace("_", "\\_") + "%",))]
    return [ReadSchema(name, name == live, _position(store, name)) for name in names]
