"""kafka-python clients configured the one way this project relies on.

Producer: ``acks="all"`` and the idempotent producer (kafka-python ≥ 2.1 implements
``enable_idempotence``), with one request in flight per connection, so a retried
batch can never overtake a later one and one ticket's events keep their order in
their partition even on a broker that ignores producer sequence numbers.

Consumers commit offsets by hand, after their work is stored.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
from kafka.admin import NewTopic
from kafka.errors import TopicAlreadyExistsError


@dataclass(frozen=True)
class KafkaConfig:
    """Where the brokers are and how patient the clients are."""

    bootstrap_servers: str
    client_id: str = "pass24-desk"
    request_timeout_ms: int = 15_000
    delivery_timeout_ms: int = 30_000
    max_block_ms: int = 10_000
    linger_ms: int = 5
    batch_size: int = 256 * 1024
    session_timeout_ms: int = 10_000
    heartbeat_interval_ms: int = 2_000
    max_poll_interval_ms: int = 30_000
    """kafka-python uses it as the group's rebalance timeout too; a few seconds keeps
    joins fast on brokers (Tansu) that wait the whole timeout before assigning."""
    extra: Mapping[str, Any] = field(default_factory=dict)
    security: Mapping[str, Any] = field(default_factory=dict)
    """kafka-python's ``security_protocol``, ``sasl_*`` and ``ssl_*`` options, the same for
    producers, consumers and the admin client (see ``security_options``)."""

    @property
    def servers(self) -> list[str]:
        return [s.strip() for s in self.bootstrap_servers.split(",") if s.strip()]

    def producer_options(self) -> dict[str, Any]:
        return {
            "bootstrap_servers": self.servers,
            "client_id": self.client_id,
            "acks": "all",
            "enable_idempotence": True,
            "max_in_flight_requests_per_connection": 1,
            "retries": 2**31 - 1,
            "retry_backoff_ms": 100,
            "request_timeout_ms": self.request_timeout_ms,
            "delivery_timeout_ms": self.delivery_timeout_ms,
            "max_block_ms": self.max_block_ms,
            "linger_ms": self.linger_ms,
            "batch_size": self.batch_size,
            **self.security,
            **self.extra,
        }

    def consumer_options(self, group_id: str | None) -> dict[str, Any]:
        return {
            "bootstrap_servers": self.servers,
            "client_id": self.client_id,
            "group_id": group_id,
            "enable_auto_commit": False,
            "auto_offset_reset": "earliest",
            "session_timeout_ms": self.session_timeout_ms,
            "heartbeat_interval_ms": self.heartbeat_interval_ms,
            "max_poll_interval_ms": self.max_poll_interval_ms,
            "request_timeout_ms": max(self.request_timeout_ms, self.session_timeout_ms + 1000),
            **self.security,
            **self.extra,
        }

    def producer(self) -> KafkaProducer:
        return KafkaProducer(**self.producer_options())

    def consumer(self, *topics: str, group_id: str | None = None) -> KafkaConsumer:
        return KafkaConsumer(*topics, **self.consumer_options(group_id))


def security_options(protocol: str = "PLAINTEXT", *, sasl_mechanism: str = "", username: str = "",
                     password: str = "", cafile: str | None = None) -> dict[str, Any]:
    """kafka-python options for ``PLAINTEXT``, ``SSL``, ``SASL_PLAINTEXT`` or ``SASL_SSL``
    (managed Kafka: usually ``SASL_SSL`` with SCRAM-SHA-512 or PLAIN)."""
    if protocol not in ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"):
        raise ValueError(f"unknown Kafka security protocol {protocol!r}")
    options: dict[str, Any] = {"security_protocol": protocol}
    if protocol.startswith("SASL_"):
        options.update(sasl_mechanism=sasl_mechanism or "PLAIN", sasl_plain_username=username,
                       sasl_plain_password=password)
    if protocol.endswith("SSL"):
        options["ssl_check_hostname"] = True
        if cafile:
            options["ssl_cafile"] = cafile
    return options


def ensure_topics(
    config: KafkaConfig, topics: Iterable[str], partitions: int, replication: int = 1
) -> None:
    """Create the topics that do not exist yet; existing ones are left as they are."""
    admin = KafkaAdminClient(
        bootstrap_servers=config.servers,
        client_id=config.client_id,
        request_timeout_ms=config.request_timeout_ms,
        **config.security,
    )
    try:
        existing = set(admin.list_topics())
        missing = [t for t in topics if t not in existing]
        if missing:
            with contextlib.suppress(TopicAlreadyExistsError):
                admin.create_topics(
                    [NewTopic(t, num_partitions=partitions, replication_factor=replication) for t in missing]
                )
    finally:
        admin.close()
