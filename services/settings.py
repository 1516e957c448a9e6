"""One Settings class: every knob of the service, read from the environment (PASS24_*).

``load_settings`` is what the CLI calls: a setting that is malformed or missing
for production becomes one ``SettingsError`` listing *every* problem by its
environment variable, never a traceback and never one problem at a time.
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from adapters.audit.seal import DEVELOPMENT_KEY
from domain.versions import LatestVersions

MAX_PROCESSES = 64


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PASS24_", env_file=".env", extra="ignore")

    environment: Literal["development", "production"] = "development"
    persistence: Literal["popo", "sqlite", "postgres"] = "sqlite"
    sqlite_path: Path = Path("var/pass24-desk.sqlite")
    postgres_dbname: str = "pass24_desk"
    postgres_host: str = "127.0.0.1"
    postgres_port: int = 5432
    postgres_user: str = "pass24"
    postgres_password: SecretStr = SecretStr("pass24")
    postgres_pool_size: int = Field(default=5, ge=1)
    postgres_sslmode: Literal["disable", "allow", "prefer", "require", "verify-ca",
                              "verify-full"] = "prefer"
    """libpq ``sslmode`` for every connection (event store, read models, relay position);
    ``verify-full`` with ``PASS24_POSTGRES_SSLROOTCERT`` for a managed database."""
    postgres_sslrootcert: Path | None = None
    """CA certificate file that signs the server's certificate (``verify-ca``/``verify-full``)."""
    aggregate_cache_size: int = Field(default=1000, ge=0)
    sla_policy_file: Path | None = None
    calendar_file: Path | None = None
    command_attempts: int = Field(default=5, ge=1, le=50)
    audit_checkpoint_seconds: float = Field(
        default=3600.0, ge=0, description="how often serve seals the log; 0 turns it off")
    # Kafka (docs/KAFKA.md): the relay publishes the store's events, the intake consumer reads requests.
    kafka_bootstrap_servers: str = "127.0.0.1:9092"
    kafka_client_id: str = "pass24-desk"
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    kafka_sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] = "SCRAM-SHA-512"
    """Used with ``SASL_PLAINTEXT``/``SASL_SSL``."""
    kafka_sasl_username: str = ""
    kafka_sasl_password: SecretStr = SecretStr("")
    kafka_ssl_cafile: Path | None = None
    """CA bundle for the brokers' certificates (``SSL``/``SASL_SSL``); default: the system's."""
    kafka_ticket_events_topic: str = "pass24.ticket-events"
    kafka_intake_topic: str = "pass24.intake"
    kafka_intake_dlq_topic: str = "pass24.intake.dlq"
    kafka_intake_group: str = "pass24-desk-intake"
    kafka_topic_partitions: int = Field(default=6, ge=1)
    kafka_relay_batch_size: int = Field(default=500, ge=1)
    kafka_relay_position_path: Path = Path("var/kafka-relay-position.sqlite")
    """Where the relay keeps its position under sqlite/popo persistence; on postgres it is a
    table in the desk's own database."""
    # Projections (read models) and the SLA watcher
    projections_sqlite_path: Path | None = None
    """Read-model SQLite file (sqlite/popo persistence); default: beside the event store as
    ``<name>.read.sqlite``. On postgres the read models are ``rm_*`` tables in the desk's database
    (in its own schema, or in the schema ``rm_NAME`` that ``projections switch NAME`` named)."""
    projections_batch_size: int = Field(default=500, ge=1, le=10_000)
    watcher_interval: float = Field(default=30.0, gt=0)
    # HTTP API
    api_host: str = "127.0.0.1"
    api_port: int = Field(default=8024, ge=1, le=65535)
    tokens_file: Path = Path("var/tokens.json")
    api_tokens: str = Field(default="", description="extra fixed tokens: role:name:sha256,...")
    catch_up_timeout: float = Field(default=5.0, gt=0, le=60)
    ready_max_lag: int = Field(default=1000, ge=0)
    """``/readyz`` answers 503 while the read models are more events than this behind the log."""
    api_workers: bool = True
    """``serve`` also runs every background worker in process (projections, mailers, outbox,
    SLA watcher, checkpoints); false where they run as ``pass24-desk worker`` (deploy/k8s)."""
    api_processes: int = Field(default=1, ge=1, le=MAX_PROCESSES)
    """API processes ``serve`` runs on its one port (``serve --processes``): a request is
    CPU-bound in Python, so one process serves at most one core's worth; set it to the
    cores the API may use. The workers stay in the supervising process."""
    api_readers: int = Field(default=0, ge=0, le=MAX_PROCESSES)
    """Processes that answer the dashboard queries (queue, SLA timers and statistics,
    third-party review) for each API process, first come first served (services/readers.py);
    0: the API process's own threads answer them."""
    api_threads: int = Field(default=4, ge=2, le=64)
    """Threads that run the API's synchronous endpoints at once in one process. Requests are
    CPU-bound in Python: more threads than this only queue on the interpreter lock and
    stretch every request's tail (docs/BENCHMARKS.md); two or more keep one slow query from
    holding up the rest. Scale with API processes."""
    # The HTTP edge (services/api/edge.py, docs: README "Settings")
    max_json_bytes: int = Field(default=1024 * 1024, ge=1024)
    """Largest request body the API reads, counted while it streams in; bigger is 413."""
    max_multipart_bytes: int = Field(default=16 * 1024 * 1024, ge=1024)
    """Largest ``multipart/form-data`` body (forms with files)."""
    forwarded_allow_ips: str = "127.0.0.1"
    """Proxies whose X-Forwarded-For/-Proto ``serve`` believes (comma-separated, or ``*``): the
    form's per-client limit and the session cookie's Secure flag need the real client."""
    waits_per_token: int = Field(default=8, ge=1)
    """``?min_position=`` waits one token may hold at once; more are 429 with Retry-After."""
    session_secret: SecretStr = SecretStr("")
    """Signs dashboard session cookies; empty derives one from PASS24_AUDIT_KEY."""
    session_max_age: int = Field(default=12 * 3600, ge=60)
    metrics_token: SecretStr = SecretStr("")
    """When set, ``/metrics`` needs ``Authorization: Bearer <it>``."""
    metrics_port: int | None = Field(default=None, ge=1, le=65535)
    """When set, ``serve`` serves ``/metrics`` on this port only (not on the API port)."""
    metrics_cache_seconds: float = Field(default=10.0, ge=0)
    """The store-derived gauges are recomputed at most this often, off the scrape path."""
    webhook_max_age_seconds: int = Field(default=300, ge=1)
    """Signed webhooks (X-Pass24-Timestamp) older or newer than this are refused."""
    form_client_rate_limit: str = "10/minute;60/hour"
    """Public form submissions per client IP address (``limits`` notation)."""
    form_address_rate_limit: str = "3/hour;10/day"
    """Public form submissions per requester email or phone."""
    rate_limit_storage: str = "memory://"
    """Where the ``limits`` counters live: ``memory://`` (per process) or a shared store such
    as ``redis://host:6379`` (needs the redis client) so replicas count together."""
    notice_rate_limit: str = "3/hour;10/day"
    """Registration notices per recipient address: an auto-responder cannot loop."""
    letter_max_attachments: int = Field(default=20, ge=0)
    """Attachments kept per letter; the rest are recorded as refused."""
    # Logs (services/logging.py)
    log_format: Literal["auto", "json", "text"] = "auto"
    """``auto``: readable lines on a terminal, JSON lines when stderr is not one (containers)."""
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    # Tamper-evident history (docs/AUDIT.md): the key that seals new events, and retired
    # keys (comma-separated) that still verify events sealed before a rotation.
    audit_key: SecretStr = SecretStr(DEVELOPMENT_KEY)
    audit_retired_keys: SecretStr = SecretStr("")

    # Intake adapters (email, form, phone) and outbound mail
    support_email: str = "support@pass24online.ru"
    support_phone: str = "+7 (495) 324-24-42"
    chatbot_url: str = "https://t.me/pass24online_bot"
    message_id_domain: str = "pass24online.ru"
    mail_db_path: Path = Path("var/mail.sqlite")
    """Quarantine and IMAP bookkeeping (SQLite). The outbox lives in the main database."""
    attachments_dir: Path = Path("var/attachments")
    attachment_max_bytes: int = Field(default=10 * 1024 * 1024, ge=0)
    letter_max_bytes: int = Field(default=30 * 1024 * 1024, ge=1024)
    reply_to_closed: Literal["reopen", "new_ticket"] = "reopen"
    trust_requester_domain: bool = False
    """R19: letters naming a ticket thread as the requester's also from anyone at the
    requester's email domain; off (strict: the requester and recorded contacts only)."""
    smtp_listen_host: str = "127.0.0.1"
    smtp_listen_port: int = Field(default=8025, ge=1, le=65535)
    smtp_accept_domains: str = "pass24online.ru"
    smtp_host: str = "127.0.0.1"
    smtp_port: int = Field(default=25, ge=1, le=65535)
    smtp_starttls: bool = False
    smtp_ssl: bool = False
    smtp_username: str = ""
    smtp_password: SecretStr = SecretStr("")
    outbox_max_attempts: int = Field(default=8, ge=1)
    outbox_lease_seconds: float = Field(default=300.0, gt=0)
    """How long a worker's claim on a letter lasts; past it another worker may send the letter."""
    poison_tries: int = Field(default=3, ge=1, le=100)
    """Failures of one item, the same way, before a worker sets it aside (docs/OPERATIONS.md)."""
    outbox_backoff_seconds: float = Field(default=30.0, gt=0)
    outbox_backoff_max_seconds: float = Field(default=3600.0, gt=0)
    imap_host: str = "127.0.0.1"
    imap_port: int = Field(default=993, ge=1, le=65535)
    imap_ssl: bool = True
    # PEM file of the CA (or the server's self-signed certificate) to trust for IMAP over TLS;
    # empty: the system's trusted CAs.
    imap_ca_file: str = ""
    imap_username: str = ""
    imap_password: SecretStr = SecretStr("")
    imap_mailbox: str = "INBOX"
    imap_poll_seconds: float = Field(default=60.0, gt=0)
    form_secret: SecretStr = SecretStr("")
    form_field_map_file: Path | None = None
    phone_secret: SecretStr = SecretStr("")
    chatbot_secret: SecretStr = SecretStr("")
    holiday_channels: str = "email"
    """Channels open on public holidays (R6), comma-separated."""
    latest_versions: str = ""
    """R2: the latest supported version per product, e.g. ``pass24_online=3.4,pass24_control=2.8``;
    a ticket naming an older one is flagged ``outdated_version`` in its view."""
    dev_secrets_file: Path = Path("var/dev-secrets.json")
    """Development only: form and phone secrets generated on first use and kept here, so the
    served form and the phone webhooks work out of the box (``serve`` prints them)."""

    @field_validator("latest_versions")
    @classmethod
    def _latest_versions(cls, value: str) -> str:
        LatestVersions.parse(value)  # refuse a typo at start-up, not on the first ticket
        return value

    def latest(self) -> LatestVersions:
        return LatestVersions.parse(self.latest_versions)

    # People (docs/LETTERS.md): language, letters, staff alerts
    locale: Literal["ru", "en"] = "ru"
    """Default language of the pages, API problems, letters and ``audit export``."""
    templates_dir: Path | None = None
    """An operator directory of letter templates (``<lang>/<name>.txt.j2``) overriding ours."""
    notice_from_name: str = "Техподдержка PASS24.online"
    """The sender name of the desk's letters (the address is ``support_email``)."""
    public_url: str = ""
    """The desk's address as staff open it, e.g. https://desk.pass24online.ru (links in alerts)."""
    alert_supervisors: str = ""
    """Comma-separated addresses told of SLA alerts on unassigned tickets."""
    alert_staff_addresses: str = ""
    """Assignee name → address: ``agent.kim=kim@pass24online.ru,...``."""
    alert_staff_domain: str = ""
    """Assignees not listed above are mailed at ``name@<this domain>``."""
    alert_webhook_url: str = ""
    alert_webhook_secret: SecretStr = SecretStr("")

    @model_validator(mode="after")
    def _refuse_unsafe_production(self) -> Settings:
        problems = self.production_problems()
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def production_problems(self) -> list[str]:
        """Every reason this configuration may not run in production (empty in development)."""
        if self.environment != "production":
            return []
        problems: list[str] = []
        if self.persistence == "popo":
            problems.append("PASS24_PERSISTENCE: production needs durable persistence "
                            "(sqlite or postgres), not popo")
        if self.persistence == "postgres" and self.postgres_password.get_secret_value() in ("", "pass24"):
            problems.append("PASS24_POSTGRES_PASSWORD: missing (the default password is refused)")
        for name in ("form_secret", "phone_secret"):
            if len(getattr(self, name).get_secret_value()) < 16:
                problems.append(f"PASS24_{name.upper()}: missing or shorter than 16 characters")
        audit_key = self.audit_key.get_secret_value()
        if audit_key == DEVELOPMENT_KEY or len(audit_key) < 32:
            problems.append("PASS24_AUDIT_KEY: missing or shorter than 32 characters "
                            "(the development key is refused)")
        if self.kafka_security_protocol.startswith("SASL_") and not (
                self.kafka_sasl_username and self.kafka_sasl_password.get_secret_value()):
            problems.append("PASS24_KAFKA_SASL_USERNAME/PASSWORD: needed with "
                            f"PASS24_KAFKA_SECURITY_PROTOCOL={self.kafka_security_protocol}")
        return problems

    def with_development_secrets(self) -> Settings:
        """In development, empty form/phone secrets are generated once and kept in
        ``dev_secrets_file``; production keeps what it was given (and refuses empty ones)."""
        if self.environment != "development":
            return self
        missing = [n for n in ("form_secret", "phone_secret") if not getattr(self, n).get_secret_value()]
        if not missing:
            return self
        path = self.dev_secrets_file
        try:
            kept: dict[str, str] = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            kept = {}
        if any(n not in kept for n in missing):
            kept.update({n: secrets.token_urlsafe(24) for n in missing if n not in kept})
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(kept, indent=2), encoding="utf-8")
            os.chmod(path, 0o600)
        return self.model_copy(update={n: SecretStr(kept[n]) for n in missing})

    def kafka_security(self) -> dict[str, Any]:
        """kafka-python security options (``KafkaConfig.security``)."""
        from adapters.kafka.clients import security_options

        return security_options(
            self.kafka_security_protocol, sasl_mechanism=self.kafka_sasl_mechanism,
            username=self.kafka_sasl_username,
            password=self.kafka_sasl_password.get_secret_value(),
            cafile=str(self.kafka_ssl_cafile) if self.kafka_ssl_cafile else None)

    def libpq_environment(self) -> dict[str, str]:
        """TLS for every PostgreSQL connection, as libpq reads it from the environment
        (eventsourcing's pool, the read models and the relay position all use libpq)."""
        env: dict[str, str] = {"PGSSLMODE": self.postgres_sslmode}
        if self.postgres_sslrootcert is not None:
            env["PGSSLROOTCERT"] = str(self.postgres_sslrootcert)
        return env

    def eventsourcing_env(self) -> dict[str, str]:
        """The environment eventsourcing's Application reads its persistence from."""
        env = {
            "AGGREGATE_CACHE_MAXSIZE": str(self.aggregate_cache_size),
            "DEEPCOPY_FROM_AGGREGATE_CACHE": "y",
            "AUDIT_KEY": self.audit_key.get_secret_value(),
            "AUDIT_RETIRED_KEYS": self.audit_retired_keys.get_secret_value(),
        }
        if self.persistence == "popo":
            env["PERSISTENCE_MODULE"] = "eventsourcing.popo"
        elif self.persistence == "sqlite":
            self.sqlite_path.parent.mkdir(parents=True, exist_ok=True)
            env["PERSISTENCE_MODULE"] = "eventsourcing.sqlite"
            env["SQLITE_DBNAME"] = str(self.sqlite_path)
            env["SQLITE_LOCK_TIMEOUT"] = "10"
        else:
            # eventsourcing passes no sslmode of its own; libpq takes it from the process
            # environment, so it is set there (and so reaches every other connection too).
            os.environ.update(self.libpq_environment())
            env.update(
                PERSISTENCE_MODULE="eventsourcing.postgres",
                POSTGRES_DBNAME=self.postgres_dbname,
                POSTGRES_HOST=self.postgres_host,
                POSTGRES_PORT=str(self.postgres_port),
                POSTGRES_USER=self.postgres_user,
                POSTGRES_PASSWORD=self.postgres_password.get_secret_value(),
                POSTGRES_POOL_SIZE=str(self.postgres_pool_size),
            )
        return env


class SettingsError(Exception):
    """Settings that cannot be used; ``problems`` names each by its environment variable."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))

    def __str__(self) -> str:
        return "settings are not usable:\n" + "\n".join(f"  - {p}" for p in self.problems)


def load_settings(**overrides: Any) -> Settings:
    """``Settings()`` with every problem reported at once as a ``SettingsError``."""
    try:
        return Settings(**overrides)
    except ValidationError as error:
        raise SettingsError(_problems(error)) from None


def _problems(error: ValidationError) -> list[str]:
    problems: list[str] = []
    for item in error.errors():
        if item["loc"]:
            name = "PASS24_" + str(item["loc"][0]).upper()
            given = item.get("input")
            shown = "" if isinstance(given, SecretStr) or "secret" in name.lower() or \
                "password" in name.lower() or "key" in name.lower() else f" (got {given!r})"
            problems.append(f"{name}: {item['msg']}{shown}")
        else:
            # The production check: its message holds the list, "; "-separated.
            message = str(item["msg"]).removeprefix("Value error, ")
            problems.extend(message.split("; "))
    return problems
