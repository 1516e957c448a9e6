"""What operators see of set-aside items: ``/readyz`` degraded, ``/metrics``, the
``pass24-desk parked`` command, and which process runs which worker."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from projections.parking import Item, ParkingLot, PoisonGuard
from projections.store import SQLiteReadStore
from projections.system import build_projections
from services.api import create_app
from services.api.auth import TokenStore
from services.application import SupportDesk
from services.bootstrap import WORKERS, build_services, parse_workers
from services.cli import main
from services.clock import ManualClock
from services.settings import Settings
from tests.e2e.test_api_ops import samples
from tests.helpers import msk


def test_readyz_says_degraded_but_stays_200_and_metrics_count_what_is_set_aside(
        tmp_path: Path) -> None:
    clock = ManualClock(msk("2025-04-28 10:00"))
    desk = SupportDesk(clock=clock)
    models, runner = build_projections(desk, calendar=desk.calendar, clock=clock)
    runner.catch_up()  # ready means caught up
    app = create_app(desk, tokens=TokenStore(None), read_models=models, runner=runner)
    lot = ParkingLot(SQLiteReadStore(tmp_path / "main.sqlite"))
    app.state.parking = lot
    with TestClient(app) as client:
        assert client.get("/readyz").json()["status"] == "ready"
        guard = PoisonGuard(lot, "response-mailer", tries=1)
        guard.failed(Item(7, "u:3", "u"), ValueError("header refused"))
        guard.hold(Item(9, "u:4", "u"))
        ready = client.get("/readyz")
        found = samples(client.get("/metrics").text)

    assert ready.status_code == 200
    body = ready.json()
    assert body["status"] == "degraded"
    assert body["parked"] == 2 and body["parked_by_worker"] == {"response-mailer": 2}
    assert found[("pass24_parked_items", (("state", "parked"), ("worker", "response-mailer")))] == 1
    assert found[("pass24_parked_items", (("state", "held"), ("worker", "response-mailer")))] == 1


@pytest.fixture
def sqlite_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    for key, value in {"PASS24_PERSISTENCE": "sqlite",
                       "PASS24_SQLITE_PATH": str(tmp_path / "desk.sqlite"),
                       "PASS24_MAIL_DB_PATH": str(tmp_path / "mail.sqlite"),
                       "PASS24_ATTACHMENTS_DIR": str(tmp_path / "attachments"),
                       "PASS24_TOKENS_FILE": str(tmp_path / "tokens.json"),
                       "PASS24_LOG_FORMAT": "text"}.items():
        monkeypatch.setenv(key, value)
    return Settings()


def test_the_parked_command_lists_retries_drops_and_keeps_an_audit_trail(
        sqlite_settings: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    from services.bootstrap import main_store

    lot = ParkingLot(main_store(sqlite_settings))
    guard = PoisonGuard(lot, "relay", tries=1)
    guard.failed(Item(3, "a:1", "a"), OverflowError("date value out of range"))
    guard.failed(Item(5, "b:1", "b"), ValueError("no schema"))

    assert main(["parked", "list", "--json"]) == 0
    listed = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(i["worker"], i["event_id"], i["state"]) for i in listed] == [
        ("relay", "a:1", "parked"), ("relay", "b:1", "parked")]
    assert "OverflowError" in listed[0]["error"] and "payload" not in listed[0]

    assert main(["parked", "retry", str(listed[0]["id"]), "--by", "ops.petrova"]) == 0
    assert main(["parked", "drop", str(listed[1]["id"]), "--by", "ops.ivanov",
                 "--reason", "event type retired"]) == 0
    capsys.readouterr()
    assert main(["parked", "list", "--json"]) == 0
    assert [json.loads(line)["state"] for line in capsys.readouterr().out.splitlines()] == ["retry"]
    assert main(["parked", "log"]) == 0
    trail = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(t["action"], t["actor"], t["reason"]) for t in trail] == [
        ("drop", "ops.ivanov", "event type retired"), ("retry", "ops.petrova", "")]
    with pytest.raises(SystemExit):
        main(["parked", "drop", "1"])  # who and why are required


def test_api_only_runs_no_worker_and_worker_only_runs_what_it_is_told(
        sqlite_settings: Settings) -> None:
    before = {t.name for t in threading.enumerate()}
    services = build_services(sqlite_settings)
    try:
        services.start(workers=False)
        assert services.workers == frozenset()
        assert {t.name for t in threading.enumerate()} - before == set()
        services.stop()
        services = build_services(sqlite_settings)
        services.start(workers=parse_workers("mailers,outbox"))
        started = {t.name for t in threading.enumerate()} - before
        assert started == {"outbox", "response-mailer", "staff-alerts"}
    finally:
        services.stop()
    assert parse_workers(None) == frozenset(WORKERS)
    with pytest.raises(ValueError):
        parse_workers("projections,smtp")
    assert main(["worker", "--only", "nonsense"]) == 2


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def desk_settings(request: pytest.FixtureRequest, tmp_path: Path,
                  monkeypatch: pytest.MonkeyPatch) -> Settings:
    values = {"PASS24_MAIL_DB_PATH": str(tmp_path / "mail.sqlite"),
              "PASS24_TOKENS_FILE": str(tmp_path / "tokens.json"), "PASS24_LOG_FORMAT": "text"}
    if request.param == "sqlite":
        values |= {"PASS24_PERSISTENCE": "sqlite", "PASS24_SQLITE_PATH": str(tmp_path / "desk.sqlite")}
    else:
        env = request.getfixturevalue("postgres_env")
        values |= {"PASS24_PERSISTENCE": "postgres"} | {
            f"PASS24_{key}": env[key] for key in ("POSTGRES_HOST", "POSTGRES_PORT",
                                                 "POSTGRES_DBNAME", "POSTGRES_USER",
                                                 "POSTGRES_PASSWORD")}
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    return Settings()


def test_the_parked_command_sees_what_the_kafka_fed_read_models_set_aside(
        desk_settings: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    from projections.store import store_for
    from services.bootstrap import main_store

    # Where `projections run --from-kafka` parks (projections.kafka_feed.build_kafka_feed):
    # its read store, on SQLite a file of its own beside the event store.
    feed = ParkingLot(store_for(desk_settings.eventsourcing_env(),
                                desk_settings.projections_sqlite_path))
    main_lot = ParkingLot(main_store(desk_settings))
    PoisonGuard(main_lot, "relay", tries=1).failed(Item(3, "a:1", "a"), ValueError("no schema"))
    feed_guard = PoisonGuard(feed, "kafka-feed:desk", tries=1)
    feed_guard.failed(Item(40, "t:7", "t"), OverflowError("date value out of range"))
    feed_guard.hold(Item(41, "t:8", "t"))

    assert main(["parked", "list", "--json"]) == 0
    listed = {i["event_id"]: i for i in map(json.loads, capsys.readouterr().out.splitlines())}
    assert {e: (i["worker"], i["state"]) for e, i in listed.items()} == {
        "a:1": ("relay", "parked"), "t:7": ("kafka-feed:desk", "parked"),
        "t:8": ("kafka-feed:desk", "held")}
    separate = desk_settings.persistence == "sqlite"
    assert listed["t:7"]["ref"] == (f"read:{listed['t:7']['id']}" if separate
                                    else str(listed["t:7"]["id"]))

    assert main(["parked", "retry", listed["t:7"]["ref"], "--by", "ops.petrova"]) == 0
    assert main(["parked", "drop", listed["t:8"]["ref"], "--by", "ops.ivanov",
                 "--reason", "superseded"]) == 0
    # The feed's own guard gets them back from its store, as its retry pass does.
    assert [r.event_id for r in feed.releasable("kafka-feed:desk")] == ["t:7"]
    assert feed_guard.retry_pass(lambda row: None) == 1
    assert feed.items(worker="kafka-feed:desk") == []
    capsys.readouterr()
    assert main(["parked", "log"]) == 0
    trail = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert sorted((t["action"], t["event_id"]) for t in trail) == [("drop", "t:8"), ("retry", "t:7")]
    feed.store.close()
    main_lot.store.close()


def test_parked_takes_a_read_store_path_and_refuses_read_ids_without_one(
        sqlite_settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    elsewhere = tmp_path / "feed" / "models.sqlite"
    PoisonGuard(ParkingLot(SQLiteReadStore(elsewhere)), "kafka-feed:x", tries=1).failed(
        Item(1, "u:1", "u"), ValueError("bad"))
    assert main(["parked", "list", "--json"]) == 0
    assert capsys.readouterr().out == ""  # not the configured store: not seen without the option
    assert main(["parked", "list", "--json", "--read-store", str(elsewhere)]) == 0
    (item,) = map(json.loads, capsys.readouterr().out.splitlines())
    assert item["ref"] == f"read:{item['id']}" and item["worker"] == "kafka-feed:x"
    with pytest.raises(SystemExit, match="read-store"):
        main(["parked", "retry", item["ref"], "--by", "ops"])
    assert main(["parked", "retry", item["ref"], "--by", "ops", "--read-store", str(elsewhere)]) == 0
    with pytest.raises(SystemExit):
        main(["parked", "retry", "main:1"])


def test_parked_follows_the_read_store_a_rebuild_switched_to(
        sqlite_settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from projections.store import pointer_for, read_store_path, store_for

    default = read_store_path(sqlite_settings.eventsourcing_env())
    SQLiteReadStore.write_pointer(pointer_for(default), tmp_path / "rebuilt.read.sqlite")
    feed_store = store_for(sqlite_settings.eventsourcing_env())  # as the Kafka feed opens it
    assert Path(feed_store.path).name == "rebuilt.read.sqlite"  # type: ignore[attr-defined]
    PoisonGuard(ParkingLot(feed_store), "kafka-feed:desk", tries=1).failed(
        Item(2, "v:1", "v"), ValueError("bad"))
    feed_store.close()
    assert main(["parked", "list", "--json"]) == 0
    (item,) = map(json.loads, capsys.readouterr().out.splitlines())
    assert (item["worker"], item["ref"]) == ("kafka-feed:desk", f"read:{item['id']}")
