"""What an integration adapter uses to hand requests to the desk through ``pass24.intake``.

``publish`` returns only when the brokers acknowledged every message (``acks=all``),
retrying through broker outages: re-sending is safe because the desk makes one
ticket per (channel, intake key). A producer that failed is replaced, not reused:
an idempotent producer whose broker lost its state can be fenced for good.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence

from kafka import KafkaProducer
from kafka.errors import KafkaError

from adapters.kafka.intake import IntakeMessage
from adapters.kafka.relay import Backoff

log = logging.getLogger("pass24.intake.publisher")


class IntakeNotPublished(Exception):
    def __init__(self, pending: int, last_error: str) -> None:
        super().__init__(f"{pending} intake messages not acknowledged: {last_error}")
        self.pending = pending


class IntakePublisher:
    def __init__(
        self,
        producer_factory: Callable[[], KafkaProducer],
        topic: str,
        *,
        flush_timeout: float = 10.0,
        backoff: Backoff | None = None,
    ) -> None:
        self._factory = producer_factory
        self._producer: KafkaProducer | None = None
        self.topic = topic
        self.flush_timeout = flush_timeout
        self.backoff = backoff or Backoff(initial=0.2, maximum=5.0)

    def publish(self, messages: Sequence[IntakeMessage], *, timeout: float = 300.0) -> None:
        """Publish all ``messages``; raise ``IntakeNotPublished`` if ``timeout`` passes first."""
        pending = list(messages)
        deadline = time.monotonic() + timeout
        last_error = ""
        while pending:
            pending, last_error = self._attempt(pending)
            if not pending:
                break
            self._drop()
            if time.monotonic() > deadline:
                raise IntakeNotPublished(len(pending), last_error)
            delay = self.backoff.next_delay()
            log.warning("%d intake messages pending (%s); retry in %.1fs", len(pending), last_error, delay)
            time.sleep(delay)
        self.backoff.reset()

    def _attempt(self, messages: list[IntakeMessage]) -> tuple[list[IntakeMessage], str]:
        sent = []
        try:
            producer = self._producer = self._producer or self._factory()
            for message in messages:
                key = f"{message.channel.value}:{message.intake_key}".encode()
                sent.append((message, producer.send(self.topic, key=key, value=message.encode())))
            producer.flush(timeout=self.flush_timeout)
        except KafkaError as error:
            failed = [m for m, f in sent if not f.succeeded()] + messages[len(sent):]
            return failed, repr(error)
        failed = [m for m, f in sent if not f.succeeded()]
        errors = [repr(f.exception) for _, f in sent if f.failed()]
        return failed, errors[0] if errors else "not acknowledged"

    def _drop(self) -> None:
        producer, self._producer = self._producer, None
        if producer is not None:
            try:
                producer.close(timeout=0)
            except Exception:
                log.debug("closing a failed producer", exc_info=True)

    def close(self) -> None:
        producer, self._producer = self._producer, None
        if producer is not None:
            producer.close(timeout=self.flush_timeout)
