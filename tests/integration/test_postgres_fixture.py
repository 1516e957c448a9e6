"""The PostgreSQL fixtures give tests a real, working, isolated database."""

from __future__ import annotations

from uuid import UUID

import pytest
from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event

from tests.fixtures.postgres import PostgresServer

pytestmark = pytest.mark.postgres


class Note(Aggregate):
    @event("Created")
    def __init__(self, text: str) -> None:
        self.text = text

    @event("Edited")
    def edit(self, text: str) -> None:
        self.text = text


class Notes(Application[UUID]):
    def write(self, text: str) -> UUID:
        note = Note(text)
        self.save(note)
        return note.id

    def edit(self, note_id: UUID, text: str) -> None:
        note: Note = self.repository.get(note_id)
        note.edit(text)
        self.save(note)

    def read(self, note_id: UUID) -> str:
        note: Note = self.repository.get(note_id)
        return note.text


def test_server_answers_queries(postgres_server: PostgresServer) -> None:
    with postgres_server.connect() as conn:
        row = conn.execute("SELECT version()").fetchone()
    assert row is not None
    assert row[0].startswith("PostgreSQL ")


def test_server_listens_on_loopback_only(postgres_server: PostgresServer) -> None:
    with postgres_server.connect() as conn:
        row = conn.execute("SHOW listen_addresses").fetchone()
    assert row is not None
    assert row[0] in {"127.0.0.1", "*"}  # "*" inside a container, published on loopback


def test_application_saves_and_reloads_aggregate(postgres_env: dict[str, str]) -> None:
    with Notes(env=postgres_env) as app:
        note_id = app.write("hello")
        app.edit(note_id, "привет")

    with Notes(env=postgres_env) as reopened:
        assert reopened.read(note_id) == "привет"
        assert reopened.repository.get(note_id).version == 2


def test_postgres_env_databases_are_isolated(
    postgres_server: PostgresServer, postgres_env: dict[str, str]
) -> None:
    other_env = postgres_server.create_database("t_isolation_other").env()
    try:
        assert other_env["POSTGRES_DBNAME"] != postgres_env["POSTGRES_DBNAME"]
        with Notes(env=postgres_env) as app, Notes(env=other_env) as other:
            note_id = app.write("only here")
            assert app.read(note_id) == "only here"
            assert note_id in app.repository
            assert note_id not in other.repository
            assert list(other.recorder.select_notifications(start=None, limit=10)) == []
    finally:
        postgres_server.drop_database("t_isolation_other")


def test_each_test_gets_a_fresh_empty_database(postgres_env: dict[str, str]) -> None:
    with Notes(env=postgres_env) as app:
        assert list(app.recorder.select_notifications(start=None, limit=10)) == []
