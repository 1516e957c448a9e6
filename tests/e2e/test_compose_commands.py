"""The very commands of deploy/docker-compose.yml, run as local processes.

No container engine exists here, so this is the next best thing to
``docker compose up``: every pass24-desk service of the compose file is started
with its own command and its own environment (interpolated from an operator's
variables the way compose does it), with only the *addresses* changed: the
``postgres`` and ``kafka`` service names become the test PostgreSQL server and
Tansu broker on loopback, the published ports become free loopback ports and
``/data`` a temporary directory. A process that exits is restarted, as
``restart: unless-stopped`` does. Then one ticket goes the whole way: a letter by
SMTP → the API's queue → an agent's answer → ``pass24.ticket-events`` on Kafka →
the answer letter in the requester's mailbox; and every service's health check
(the compose ``healthcheck`` command) passes.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import smtplib
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from uuid import uuid4

import httpx
import pytest

from tests.compose import MissingVariable, Service, desk_services
from tests.fixtures.kafka import KafkaBroker, read_topic
from tests.fixtures.mail import MailCatcher, free_port, mail_catcher, plain_letter  # noqa: F401
from tests.fixtures.postgres import PostgresServer

ROOT = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-m", "services.cli"]
RUNNING = ("api", "projections", "watcher", "relay", "intake-consumer", "smtp-intake", "mail")


def operator_env(pg: PostgresServer, catcher: MailCatcher) -> dict[str, str]:
    """What an operator puts in deploy/.env (deploy/README.md)."""
    return {
        "PASS24_POSTGRES_PASSWORD": pg.password,
        "PASS24_FORM_SECRET": secrets.token_urlsafe(24),
        "PASS24_PHONE_SECRET": secrets.token_urlsafe(24),
        "PASS24_AUDIT_KEY": secrets.token_urlsafe(40),
        "PASS24_SMTP_HOST": "mail-relay",
        "PASS24_SMTP_PORT": str(catcher.port),
        "PASS24_SMTP_STARTTLS": "false",
    }


@dataclass
class LocalCompose:
    """The desk services as processes, restarted when they exit (``restart: unless-stopped``)."""

    services: dict[str, Service]
    workdir: Path
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    restarts: dict[str, int] = field(default_factory=dict)

    def env(self, service: Service) -> dict[str, str]:
        base = {k: v for k, v in os.environ.items() if not k.startswith("PASS24_")}
        return {**base, **service.environment}

    def start(self, name: str) -> None:
        service = self.services[name]
        log = (self.workdir / f"{name}.log").open("ab")
        self.processes[name] = subprocess.Popen(
            [*CLI, *service.command], env=self.env(service), cwd=ROOT, stdout=log,
            stderr=subprocess.STDOUT, start_new_session=True)
        log.close()

    def supervise(self) -> None:
        for name, process in list(self.processes.items()):
            if process.poll() is not None:
                self.restarts[name] = self.restarts.get(name, 0) + 1
                assert self.restarts[name] <= 5, f"{name} keeps exiting:\n{self.log(name)}"
                self.start(name)

    def run(self, service: str, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*CLI, *args], env=self.env(self.services[service]), cwd=ROOT,
                              capture_output=True, text=True, timeout=timeout)

    def healthy(self, name: str) -> bool:
        check = self.services[name].healthcheck
        assert check[0] == "pass24-desk", check
        return self.run(name, *check[1:]).returncode == 0

    def wait(self, condition: Any, what: str, timeout: float = 120.0) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.supervise()
            value = condition()
            if value:
                return value
            time.sleep(0.5)
        raise AssertionError(f"{what} within {timeout:.0f}s; logs:\n" + "\n".join(
            f"--- {n}\n{self.log(n)[-3000:]}" for n in self.processes))

    def log(self, name: str) -> str:
        path = self.workdir / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.processes.values():
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(5)


def on_loopback(services: dict[str, Service], pg: PostgresServer, kafka: KafkaBroker,
                data: Path) -> tuple[dict[str, Service], dict[str, int]]:
    """The same services with every address moved to loopback; answers the published ports."""
    published: dict[str, int] = {}
    for service in services.values():
        for mapping in service.ports:
            inner = int(mapping.rsplit(":", 1)[1])
            published.setdefault(str(inner), free_port())
    moved: dict[str, Service] = {}
    for name, service in services.items():
        env = dict(service.environment)
        assert env["PASS24_POSTGRES_HOST"] == "postgres" and env["PASS24_POSTGRES_USER"] == pg.user
        env["PASS24_POSTGRES_HOST"], env["PASS24_POSTGRES_PORT"] = pg.host, str(pg.port)
        env["PASS24_POSTGRES_DBNAME"] = pg.dbname
        assert env["PASS24_KAFKA_BOOTSTRAP_SERVERS"] == "kafka:9092"
        env["PASS24_KAFKA_BOOTSTRAP_SERVERS"] = kafka.bootstrap_servers
        assert env["PASS24_SMTP_HOST"] == "mail-relay"
        env["PASS24_SMTP_HOST"] = "127.0.0.1"
        for key, value in env.items():
            if value.startswith("/data/"):
                env[key] = str(data / value.removeprefix("/data/"))

        def moved_args(args: list[str]) -> list[str]:
            out = []
            for arg in args:
                arg = "127.0.0.1" if arg == "0.0.0.0" else arg
                for inner, outer in published.items():
                    arg = arg.replace(f"127.0.0.1:{inner}", f"127.0.0.1:{outer}")
                out.append(str(published[arg]) if arg in published and out and out[-1] == "--port"
                           else arg)
            return out

        moved[name] = Service(name, moved_args(service.command), env,
                              moved_args(service.healthcheck), service.profiles, service.ports)
    return moved, published


def test_compose_refuses_to_start_without_the_secrets() -> None:
    with pytest.raises(MissingVariable, match="PASS24_POSTGRES_PASSWORD"):
        desk_services({})


@pytest.fixture
def compose(postgres_server: PostgresServer, kafka_broker: KafkaBroker, mail_catcher: MailCatcher,
            tmp_path: Path) -> Iterator[tuple[LocalCompose, dict[str, int]]]:
    name = f"compose_{uuid4().hex[:8]}"
    pg = postgres_server.create_database(name)
    services, published = on_loopback(desk_services(operator_env(pg, mail_catcher)), pg,
                                      kafka_broker, tmp_path / "data")
    running = {n: s for n, s in services.items() if not s.profiles}
    assert set(running) == set(RUNNING)
    stack = LocalCompose(running, tmp_path)
    try:
        for service in running:
            stack.start(service)
        yield stack, published
    finally:
        stack.stop()
        postgres_server.drop_database(name)


@pytest.mark.slow
def test_one_ticket_through_every_compose_service(compose: tuple[LocalCompose, dict[str, int]],
                                                  kafka_broker: KafkaBroker,
                                                  mail_catcher: MailCatcher) -> None:
    stack, published = compose
    base = f"http://127.0.0.1:{published['8024']}"
    stack.wait(lambda: stack.healthy("api"), "the API is ready")
    token = stack.run("api", "token", "issue", "--role", "agent", "--name", "agent.smoke")
    assert token.returncode == 0, token.stderr
    agent = {"Authorization": f"Bearer {token.stdout.strip()}"}

    # 1. A letter to the support address, by SMTP, to the smtp-intake service.
    subject = f"Не открывается шлагбаум {uuid4().hex[:6]}"
    letter = plain_letter(message_id=f"<{uuid4().hex}@example.ru>", subject=subject,
                          text="С утра пропуска не открывают шлагбаум. PASS24.control 3.14.2",
                          sender="Ольга <olga.compose@example.ru>")
    stack.wait(lambda: stack.healthy("smtp-intake"), "the SMTP listener accepts")
    with smtplib.SMTP("127.0.0.1", published["8025"], timeout=10) as smtp:
        smtp.sendmail("olga.compose@example.ru", ["support@pass24online.ru"], letter)

    # 2. The projections service puts it in the API's queue.
    def queued() -> str | None:
        answer = httpx.get(f"{base}/queue", headers=agent, timeout=5)
        if answer.status_code != 200:
            return None
        return next((i.get("id") or i.get("ticket_id") for i in answer.json()["items"]
                     if i["subject"] == subject), None)

    ticket_id = stack.wait(queued, "the letter's ticket in /queue")

    # 3. An agent answers through the API.
    answer_text = f"Перезапустили контроллер, проверьте, пожалуйста. {uuid4().hex[:6]}"
    responded = httpx.post(f"{base}/tickets/{ticket_id}/respond", headers=agent,
                           json={"text": answer_text}, timeout=10)
    assert responded.status_code == 200, responded.text

    # 4. The relay publishes the ticket's events to pass24.ticket-events.
    config = kafka_broker.config()

    def published_types() -> set[str]:
        try:
            records = read_topic(config, "pass24.ticket-events", timeout=10)
        except Exception:  # noqa: BLE001 - the topic may not exist yet
            return set()
        types = set()
        for record in records:
            value = json.loads(record.value)
            if ticket_id.encode() in record.value:
                types.add(str(value.get("type") or value.get("event_type") or value))
        return types if any("Responded" in t for t in types) else set()

    types = stack.wait(published_types, "Received and Responded on pass24.ticket-events")
    assert any("Received" in t for t in types), types

    # 5. The outbox service sends the acknowledgement and the answer to the requester.
    def answered() -> bool:
        letters = mail_catcher.to("olga.compose@example.ru")
        return any(answer_text in l.message.get_body(("plain",)).get_content() for l in letters)

    stack.wait(answered, "the answer letter in the requester's mailbox")
    letters = mail_catcher.to("olga.compose@example.ru")
    assert any(ticket_id in str(l.message["Subject"]) for l in letters)

    # 6. Every service reports healthy through its own compose health check.
    for name in RUNNING:
        stack.wait(lambda name=name: stack.healthy(name), f"{name} healthy", timeout=60)
    history = httpx.get(f"{base}/tickets/{ticket_id}/history", headers=agent, timeout=10).json()
    assert [e["type"] for e in history["events"]][:1] == ["Received"]
    assert "Responded" in [e["type"] for e in history["events"]]
