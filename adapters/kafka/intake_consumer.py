"""The intake consumer: ``pass24.intake`` → the intake gate, in a consumer group.

Offsets are committed only after a message's ticket is stored (or the message is
safely in the dead-letter topic), so a crash re-delivers; ``receive`` is
idempotent by (channel, intake key), so a re-delivery, a duplicate or an
out-of-order delivery never makes a second ticket.

A *poison* message — not JSON, not an intake message, or refused by the gate
(no way to reach the requester, an empty request, a channel closed on the day it
was received (R6)…) — will never succeed: it goes
to ``pass24.intake.dlq`` unchanged, with the reason in its headers, and the
consumer goes on. Anything else (the database is down, a concurrent write kept
winning) is transient: the partition is rewound to that message and retried
after a pause, and nothing after it in the partition is committed before it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

from kafka import KafkaConsumer, KafkaProducer
from kafka.consumer.fetcher import ConsumerRecord
from kafka.errors import KafkaError
from kafka.structs import OffsetAndMetadata, TopicPartition
from pydantic import ValidationError

from adapters.kafka.intake import IntakeMessage, to_request
from domain.errors import InvalidValue, RuleViolated
from domain.intake import Decision, IntakeOutcome, IntakeRequest

log = logging.getLogger("pass24.intake")

POISON = (ValueError, InvalidValue, RuleViolated)  # ValidationError and JSON errors are ValueErrors
"""Errors that the same message will raise every time."""
Gate = Callable[[IntakeRequest], IntakeOutcome]


class Refused(Exception):
    """The gate refused the message (R6, or input the desk does not take): dead-letter it."""

    def __init__(self, outcome: IntakeOutcome) -> None:
        super().__init__(outcome.detail)
        self.outcome = outcome


@dataclass
class IntakeStats:
    created: int = 0
    duplicates: int = 0
    dead_lettered: int = 0
    retried: int = 0


class IntakeConsumer:
    """Turns intake messages into tickets; one instance per consumer-group member."""

    def __init__(
        self,
        gate: Gate,
        consumer: KafkaConsumer,
        dlq_producer: KafkaProducer,
        *,
        dlq_topic: str,
        poll_timeout_ms: int = 500,
        max_records: int = 200,
        retry_pause: float = 1.0,
        flush_timeout: float = 30.0,
        on_receipt: Callable[[IntakeMessage, bool], None] | None = None,
    ) -> None:
        self.gate = gate
        self.consumer = consumer
        self.dlq = dlq_producer
        self.dlq_topic = dlq_topic
        self.poll_timeout_ms = poll_timeout_ms
        self.max_records = max_records
        self.retry_pause = retry_pause
        self.flush_timeout = flush_timeout
        self.on_receipt = on_receipt
        self.stats = IntakeStats()

    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                self.poll_once()
            except KafkaError as error:
                # The broker went away or the group rebalanced under us: uncommitted messages
                # come back to whichever member owns their partition next, and receive is
                # idempotent, so pausing and polling again is all there is to do.
                log.warning("intake consumer: %r; polling again in %.1fs", error, self.retry_pause)
                self._must_pause = True
            if self._must_pause:
                stop.wait(self.retry_pause)

    def poll_once(self) -> int:
        """Handle one poll's worth of messages; the number handled (stored or dead-lettered)."""
        self._must_pause = False
        batches = self.consumer.poll(timeout_ms=self.poll_timeout_ms, max_records=self.max_records)
        handled = 0
        commit: dict[TopicPartition, OffsetAndMetadata] = {}
        dead_letters = []
        for partition, records in batches.items():
            for record in records:
                outcome = self._handle(record)
                if outcome is None:  # transient: retry this one, keep the rest for later too
                    self.consumer.seek(partition, record.offset)
                    self.stats.retried += 1
                    self._must_pause = True
                    break
                if outcome is not True:
                    dead_letters.append(outcome)
                commit[partition] = OffsetAndMetadata(record.offset + 1, "", -1)
                handled += 1
        if dead_letters:
            try:
                self.dlq.flush(timeout=self.flush_timeout)
            except KafkaError:
                log.warning("dead-letter topic unavailable; the messages will be handled again")
                for partition in commit:
                    self.consumer.seek(partition, _first_offset(batches[partition]))
                self._must_pause = True
                return 0
            for future in dead_letters:
                if not future.succeeded():
                    log.warning("dead-lettering failed: %r; will be handled again", future.exception)
                    for partition in commit:
                        self.consumer.seek(partition, _first_offset(batches[partition]))
                    self._must_pause = True
                    return 0
        if commit:
            self.consumer.commit(offsets=commit)
        return handled

    _must_pause = False

    def _handle(self, record: ConsumerRecord):  # type: ignore[no-untyped-def]
        """True when stored, a DLQ send future for poison, None for a transient failure."""
        try:
            message = IntakeMessage.decode(record.value)
            outcome = self.gate(to_request(message))
            if outcome.decision in (Decision.REFUSED, Decision.INVALID):
                raise Refused(outcome)
        except (*POISON, Refused) as error:
            return self._dead_letter(record, error)
        except Exception:
            log.exception("intake message %s/%d/%d failed; will retry",
                          record.topic, record.partition, record.offset)
            return None
        if outcome.created:
            self.stats.created += 1
        else:
            self.stats.duplicates += 1
        if self.on_receipt is not None:
            self.on_receipt(message, outcome.created)
        return True

    def _dead_letter(self, record: ConsumerRecord, error: Exception):  # type: ignore[no-untyped-def]
        reason = _reason(error)
        log.warning("intake message %s/%d/%d dead-lettered: %s",
                    record.topic, record.partition, record.offset, reason)
        self.stats.dead_lettered += 1
        headers = [
            ("dlq.reason", reason.encode()),
            ("dlq.error", type(error).__name__.encode()),
            ("dlq.topic", record.topic.encode()),
            ("dlq.partition", str(record.partition).encode()),
            ("dlq.offset", str(record.offset).encode()),
        ]
        return self.dlq.send(self.dlq_topic, key=record.key, value=record.value, headers=headers)


def _first_offset(records: list[ConsumerRecord]) -> int:
    return int(records[0].offset)


def _reason(error: Exception) -> str:
    if isinstance(error, ValidationError):
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '(message)'}: {e['msg']}"
            for e in error.errors()[:5]
        )
        return f"invalid intake message: {problems}"[:1000]
    if isinstance(error, InvalidValue):
        return f"refused by the desk: {error.field}: {error.reason}"[:1000]
    if isinstance(error, RuleViolated):
        return f"refused by the desk: {error.rule}: {error}"[:1000]
    if isinstance(error, Refused):
        outcome = error.outcome
        return f"refused by the desk: {outcome.field}: {outcome.detail}"[:1000]
    return f"unreadable: {error}"[:1000]
