"""The composition root: the CLI, the API and every worker build the desk here."""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Collection, Iterator
from typing import TYPE_CHECKING, Any

from services.application import SupportDesk
from services.clock import Clock
from services.config import load_calendar, load_policy
from services.settings import Settings

if TYPE_CHECKING:
    from projections.store import ReadStore

WORKERS = ("projections", "mailers", "outbox", "watcher", "checkpoints")
"""The background workers a process can run (``pass24-desk worker --only``, docs/OPERATIONS.md)."""


def build_desk(settings: Settings | None = None, *, clock: Clock | None = None,
               create_tables: bool = True) -> SupportDesk:
    """``create_tables=False`` for tools that must only read an existing store (audit)."""
    settings = settings or Settings()
    env = settings.eventsourcing_env()
    if not create_tables:
        env["CREATE_TABLE"] = "n"
    with schema_lock(settings):
        return SupportDesk(
            env=env,
            policy=load_policy(settings.sla_policy_file),
            calendar=load_calendar(settings.calendar_file),
            clock=clock,
            attempts=settings.command_attempts,
            latest_versions=settings.latest(),
        )


@contextlib.contextmanager
def schema_lock(settings: Settings) -> Iterator[None]:
    """On PostgreSQL, hold the schema advisory lock while the event store creates its tables,
    so replicas starting together on a new database take turns (projections.schema)."""
    if settings.persistence != "postgres":
        yield
        return
    import psycopg

    from projections.schema import SCHEMA_LOCK

    with psycopg.connect(host=settings.postgres_host, port=settings.postgres_port,
                         dbname=settings.postgres_dbname, user=settings.postgres_user,
                         password=settings.postgres_password.get_secret_value(),
                         sslmode=settings.postgres_sslmode, autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (SCHEMA_LOCK,))
        try:
            yield
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (SCHEMA_LOCK,))


def main_store(settings: Settings) -> ReadStore:
    """The main database, for the outbox, the mailers' positions and what workers set aside:
    the event store's PostgreSQL database, or its SQLite file (an in-memory store: the mail
    database file)."""
    from projections.store import SQLiteReadStore, store_for

    if settings.persistence == "postgres":
        return store_for(settings.eventsourcing_env(), follow=False)
    if settings.persistence == "sqlite":
        settings.sqlite_path.parent.mkdir(parents=True, exist_ok=True)
        return SQLiteReadStore(settings.sqlite_path)
    return SQLiteReadStore(settings.mail_db_path)


def parse_workers(text: str | None) -> frozenset[str]:
    """``--only projections,mailers`` as a set of worker names (all of them for None)."""
    if text is None:
        return frozenset(WORKERS)
    names = {name.strip() for name in text.split(",") if name.strip()}
    unknown = names - set(WORKERS)
    if unknown or not names:
        raise ValueError(f"unknown worker(s) {sorted(unknown)}; choose from {', '.join(WORKERS)}")
    return frozenset(names)


class Services:
    """Everything one process runs: the desk, read models, their runner, the SLA watcher."""

    def __init__(self, settings: Settings, *, clock: Clock | None = None,
                 watcher_interval: float | None = None) -> None:
        from adapters.chatbot.http import build_chatbot_router
        from adapters.email.http import build_quarantine_router
        from adapters.form.fields import load_field_map
        from adapters.form.guard import FormGuard
        from adapters.form.http import build_form_router
        from adapters.phone.http import build_phone_router
        from projections.parking import ParkingLot, PoisonGuard
        from adapters.signing import ReplayCache, WebhookVerifier
        from projections.system import build_projections
        from services.api.attachments import build_attachments_router
        from services.api.auth import READERS, STAFF
        from services.api.deps import require
        from services.mail import build_mail
        from services.watcher import SlaWatcher

        self.settings = settings
        self.desk = build_desk(settings, clock=clock)
        self.store = main_store(settings)
        self.parking = ParkingLot(self.store)
        self.read_models, self.runner = build_projections(
            self.desk, calendar=self.desk.calendar, clock=self.desk.clock, settings=settings,
            # On PostgreSQL the read models get a store of their own in the same database:
            # it follows `projections switch` to a rebuilt schema, the main one never moves.
            parking=self.parking, poison_tries=settings.poison_tries,
        )
        self.watcher = SlaWatcher(self.desk, self.read_models, self.desk.clock,
                                  interval=watcher_interval or settings.watcher_interval,
                                  guard=PoisonGuard(self.parking, "watcher",
                                                    tries=settings.poison_tries))
        self.mail = build_mail(self.desk, settings, store=self.store, parking=self.parking)
        gate, email = self.mail.gate.submit, settings.support_email
        # One replay cache for every signed channel (its keys name the channel), in the main
        # database so every replica refuses a signature another one accepted; the form's
        # single-use page tokens live there too.
        replays = ReplayCache(self.store)

        def verifier(secret: str, channel: str) -> WebhookVerifier:
            return WebhookVerifier(secret, replays=replays, channel=channel,
                                   max_age=settings.webhook_max_age_seconds)

        form_secret = settings.form_secret.get_secret_value()
        phone_secret = settings.phone_secret.get_secret_value()
        chatbot_secret = settings.chatbot_secret.get_secret_value()
        # (router, roles): the API's role guards; None means the router authenticates its
        # callers itself (signed webhooks; the form page is public). Every intake router
        # is a translator into the one gate.
        self.routers: list[tuple[Any, frozenset[Any] | None]] = [
            (build_form_router(gate, secret=form_secret, support_email=email,
                               field_map=load_field_map(settings.form_field_map_file),
                               language=settings.locale, verifier=verifier(form_secret, "form"),
                               guard=FormGuard(replays, per_client=settings.form_client_rate_limit,
                                               per_address=settings.form_address_rate_limit,
                                               storage=settings.rate_limit_storage)),
             None),
            (build_phone_router(gate, secret=phone_secret, support_email=email,
                                verifier=verifier(phone_secret, "phone")), None),
            (build_chatbot_router(gate, secret=chatbot_secret, support_email=email,
                                  verifier=verifier(chatbot_secret, "chatbot")), None),
            (build_quarantine_router(self.mail.quarantine, self.mail.intake.retry,
                                     retry_guard=require(STAFF)), READERS),
            (build_attachments_router(self.mail.attachments), READERS),
        ]
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self, *, workers: bool | Collection[str] = True) -> None:
        """Start the background workers named in ``workers`` (``True``: all of ``WORKERS``;
        ``False``: none, an API-only replica)."""
        self._stop.clear()
        names = set(WORKERS) if workers is True else set() if workers is False else set(workers)
        self.workers = frozenset(names)
        if "projections" in names:
            # The API opens at once: the runner catches up in its thread while writes and
            # per-ticket reads (served from the event store) go on; /readyz says "not ready"
            # until it has.
            self.runner.start()
        if "watcher" in names:
            if "projections" in names:
                # The watcher acts on the read models, so it waits for them to catch up.
                self._thread("watcher-start", self._watch_when_caught_up)
            else:
                self.watcher.start()  # another process keeps the read models
        if "checkpoints" in names and self.settings.audit_checkpoint_seconds > 0:
            self._thread("audit-checkpoints", self._checkpoints)
        if "outbox" in names:
            self._thread("outbox", self.mail.worker.run, self._stop)
        if "mailers" in names:
            for mailer in self.mailers():
                self._thread(mailer.name, mailer.run, self._stop)

    workers: frozenset[str] = frozenset()

    def mailers(self) -> list[Any]:
        """Every log-following mailer (each a ``adapters.outbox.mailer.LogMailer``)."""
        return [self.mail.mailer] + ([self.mail.alerter] if self.mail.alerter is not None else [])

    def _thread(self, name: str, target: Any, *args: Any) -> None:
        thread = threading.Thread(target=target, args=args, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    def start_when_listening(self, host: str, port: int, *,
                             workers: bool | Collection[str] = True,
                             timeout: float = 120.0) -> None:
        """``start`` once the API's port accepts connections: a cold start's catch-up would
        otherwise compete with the server's own start-up (imports, binding) for the one
        interpreter lock, and the port would open later."""

        def wait_then_start() -> None:
            import socket
            import time

            deadline = time.monotonic() + timeout
            target = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host  # noqa: S104
            while not self._stop.is_set() and time.monotonic() < deadline:
                try:
                    with socket.create_connection((target, port), timeout=1):
                        break
                except OSError:
                    self._stop.wait(0.05)
            if not self._stop.is_set():
                self.start(workers=workers)

        threading.Thread(target=wait_then_start, name="start-workers", daemon=True).start()

    def _watch_when_caught_up(self) -> None:
        while not self._stop.is_set():
            if self.runner.caught_up.wait(0.5):
                self.watcher.start()
                return

    def _checkpoints(self) -> None:
        """Seal the notification log periodically (one writer: the process running the workers)."""
        from adapters.audit.checkpoints import CheckpointStore, write_checkpoints

        log = logging.getLogger("pass24.audit")
        store = CheckpointStore(self.desk.recorder)
        while not self._stop.is_set():
            try:
                for checkpoint in write_checkpoints(self.desk.recorder, store, self.desk.mapper.keyring):
                    log.info("checkpoint %s upto=%s rows=%s key=%s seal=%s", checkpoint.seq,
                             checkpoint.upto, checkpoint.count, checkpoint.kid, checkpoint.chain.hex())
            except Exception:  # noqa: BLE001 - try again next round
                log.exception("audit checkpoint failed")
            self._stop.wait(self.settings.audit_checkpoint_seconds)

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=10)
        self.watcher.stop()
        self.runner.stop()
        self.read_models.store.close()
        if self.store is not self.read_models.store:
            self.store.close()
        self.desk.close()


def build_services(settings: Settings | None = None, *, clock: Clock | None = None) -> Services:
    return Services(settings or Settings(), clock=clock)
