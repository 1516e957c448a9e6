"""docs/OPERATIONS.md "Backup and restore", done as written, on a real PostgreSQL server.

The database is backed up without what is rebuilt from the events (``pg_dump
--exclude-table`` of the read models and their positions), then destroyed, the
dump restored into a new one, the read models rebuilt with ``projections
rebuild`` and the Kafka topic refilled by a relay whose saved position was reset. ``audit verify`` must say OK about the
restored store, the read models must equal those from before, and the topic must
carry every event again.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest

from tests.fixtures.kafka import KafkaBroker, read_topic
from tests.fixtures.postgres import PostgresServer, _find_bindir

ROOT = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-m", "services.cli"]
pytestmark = [pytest.mark.slow, pytest.mark.postgres]


def desk_env(pg: PostgresServer, kafka: KafkaBroker, topic: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PASS24_")}
    env.update(PASS24_PERSISTENCE="postgres", PASS24_POSTGRES_HOST=pg.host,
               PASS24_POSTGRES_PORT=str(pg.port), PASS24_POSTGRES_USER=pg.user,
               PASS24_POSTGRES_PASSWORD=pg.password, PASS24_POSTGRES_DBNAME=pg.dbname,
               PASS24_KAFKA_BOOTSTRAP_SERVERS=kafka.bootstrap_servers,
               PASS24_KAFKA_TICKET_EVENTS_TOPIC=topic, PASS24_LOG_FORMAT="json",
               PGPASSWORD=pg.password)
    return env


def cli(env: dict[str, str], *args: str) -> str:
    done = subprocess.run([*CLI, *args], env=env, cwd=ROOT, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, f"{args}: {done.stdout}\n{done.stderr}"
    return done.stdout


def read_models(pg: PostgresServer) -> dict[str, list[tuple[Any, ...]]]:
    with pg.connect() as conn:
        tables = [r[0] for r in conn.execute(
            "SELECT tablename FROM pg_tables WHERE tablename LIKE 'rm\\_%' ORDER BY 1")]
        return {t: sorted(map(repr, conn.execute(f"SELECT * FROM {t}").fetchall()))  # noqa: S608
                for t in tables}


def relay_until(env: dict[str, str], kafka: KafkaBroker, topic: str, count: int) -> list[Any]:
    process = subprocess.Popen([*CLI, "relay", "--status-interval", "1"], env=env, cwd=ROOT,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                records = read_topic(kafka.config(), topic, timeout=5)
            except Exception:  # noqa: BLE001 - not created yet
                records = []
            if len(records) >= count or time.monotonic() > deadline:
                return records
            time.sleep(0.5)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(30)


def test_backup_destroy_restore_rebuild(postgres_server: PostgresServer, kafka_broker: KafkaBroker,
                                        tmp_path: Path) -> None:
    bindir = _find_bindir()
    name = f"restore_{uuid4().hex[:8]}"
    original = postgres_server.create_database(name)
    topic = f"ticket-events-{uuid4().hex[:8]}"
    env = desk_env(original, kafka_broker, topic)

    # A store with history: the scripted demo weeks, sealed by a checkpoint.
    cli(env, "demo", "--into-configured-store")
    cli(env, "audit", "checkpoint")
    cli(env, "projections", "rebuild")
    before = read_models(original)
    assert sum(len(rows) for rows in before.values()) > 10
    with original.connect() as conn:
        (events,) = conn.execute("SELECT count(*) FROM supportdesk_events").fetchone()
        (ticket_events,) = conn.execute(  # the relay publishes tickets' events, not intake keys
            "SELECT count(*) FROM supportdesk_events WHERE topic LIKE 'domain.ticket:Ticket.%'"
        ).fetchone()
    published = relay_until(env, kafka_broker, topic, ticket_events)
    assert len(published) == ticket_events

    # Back up: the event store only (docs/OPERATIONS.md).
    dump = tmp_path / "desk.dump"
    subprocess.run([str(bindir / "pg_dump"), "--format=custom", "--exclude-table=rm_*",
                    "--exclude-table=projection_tracking", "--exclude-table=projection_schema",
                    "--exclude-table=read_store_current", "--exclude-schema=rm_*", f"--file={dump}",
                    "-h", original.host, "-p", str(original.port), "-U", original.user, name],
                   env=env, check=True, timeout=120)

    # Destroy.
    postgres_server.drop_database(name)

    # Restore into a new, empty database.
    restored = postgres_server.create_database(name)
    subprocess.run([str(bindir / "pg_restore"), "--no-owner", "-h", restored.host,
                    "-p", str(restored.port), "-U", restored.user, "-d", name, str(dump)],
                   env=env, check=True, timeout=120)

    # Verify before anything else writes; then rebuild what is derived.
    assert read_models(restored) == {}
    verified = cli(env, "audit", "verify")
    assert f"/{name} table supportdesk_events" in verified
    assert f"OK {events} events" in verified and "1 checkpoints" in verified
    cli(env, "projections", "rebuild")
    assert read_models(restored) == before

    # Kafka: a fresh topic (the old one lost with the cluster) refilled from position 0.
    new_topic = f"ticket-events-{uuid4().hex[:8]}"
    env2 = desk_env(restored, kafka_broker, new_topic)
    with restored.connect() as conn:  # docs/OPERATIONS.md: reset the relay to refill a topic
        conn.execute("DELETE FROM kafka_relay_position")
    republished = relay_until(env2, kafka_broker, new_topic, ticket_events)
    assert sorted(r.value for r in republished) == sorted(r.value for r in published)
    postgres_server.drop_database(name)
