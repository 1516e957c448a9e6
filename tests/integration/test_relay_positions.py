"""The relay's position stores: durable, per relay name, and never moving backwards."""

from __future__ import annotations

from pathlib import Path

import pytest

from adapters.kafka.positions import PositionStore, PostgresPositionStore, SQLitePositionStore


def _exercise(open_store: object) -> None:
    store: PositionStore = open_store()  # type: ignore[operator]
    assert store.load("a") == 0
    store.save("a", 10)
    store.save("b", 3)
    store.save("a", 7)  # a stale relay must not drag the position back
    store.close()
    reopened: PositionStore = open_store()  # type: ignore[operator]
    assert (reopened.load("a"), reopened.load("b")) == (10, 3)
    reopened.save("a", 11)
    assert reopened.load("a") == 11
    reopened.close()


def test_sqlite_position_survives_reopening_and_only_moves_forward(tmp_path: Path) -> None:
    _exercise(lambda: SQLitePositionStore(tmp_path / "sub" / "position.sqlite"))


@pytest.mark.postgres
def test_postgres_position_survives_reopening_and_only_moves_forward(
    postgres_env: dict[str, str],
) -> None:
    conninfo = (f"host={postgres_env['POSTGRES_HOST']} port={postgres_env['POSTGRES_PORT']} "
                f"dbname={postgres_env['POSTGRES_DBNAME']} user={postgres_env['POSTGRES_USER']} "
                f"password={postgres_env['POSTGRES_PASSWORD']}")
    _exercise(lambda: PostgresPositionStore(conninfo))
