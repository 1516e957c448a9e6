"""Where a Kafka-fed read store records how far it got, in the rows' own transaction.

A Kafka feed has no single log position: each partition has its own offsets, and
the store's notification IDs (the envelope's ``sequence``) interleave across
partitions, so "everything up to N" is never known. Two tables instead, both
keyed by the feed (the consumer group):

* ``kafka_feed_offsets`` — per partition, the next offset to read and the highest
  ``sequence`` applied from it. On (re)assignment the feed seeks there, so the read
  store, not the group's committed offsets, decides where consumption resumes.
* ``kafka_feed_versions`` — per ticket, the last version applied and its
  ``sequence``. An event is applied only when it is the next version of its ticket
  (``adapters.kafka.dedup``), which drops the relay's re-publications and any
  redelivery, even one that reaches another group member after a rebalance.

``projection_tracking`` (the store runner's log position) is not written by a feed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from projections.store import Cursor, ReadStore

OFFSETS = "kafka_feed_offsets"
VERSIONS = "kafka_feed_versions"
TABLES = (OFFSETS, VERSIONS)
SCHEMA = (
    f"""CREATE TABLE IF NOT EXISTS {OFFSETS} (
        feed TEXT NOT NULL,
        topic TEXT NOT NULL,
        kafka_partition INTEGER NOT NULL,
        next_offset BIGINT NOT NULL,
        max_sequence BIGINT NOT NULL,
        PRIMARY KEY (feed, topic, kafka_partition))""",
    f"""CREATE TABLE IF NOT EXISTS {VERSIONS} (
        feed TEXT NOT NULL,
        ticket_uuid TEXT NOT NULL,
        version INTEGER NOT NULL,
        sequence BIGINT NOT NULL,
        PRIMARY KEY (feed, ticket_uuid))""",
)


@dataclass(frozen=True)
class PartitionMark:
    """How far one partition was applied."""

    next_offset: int
    max_sequence: int


@dataclass(frozen=True)
class TicketMark:
    """The last event of one ticket that was applied."""

    version: int
    sequence: int


class FeedTracking:
    """Reads and writes one feed's positions; writes only inside the caller's transaction."""

    def __init__(self, store: ReadStore, feed: str, topic: str) -> None:
        self.store = store
        self.feed = feed
        self.topic = topic

    def offsets(self) -> dict[int, PartitionMark]:
        rows = self.store.query(
            f"SELECT kafka_partition, next_offset, max_sequence FROM {OFFSETS} "  # noqa: S608
            "WHERE feed = ? AND topic = ?", (self.feed, self.topic))
        return {int(r["kafka_partition"]): PartitionMark(int(r["next_offset"]), int(r["max_sequence"]))
                for r in rows}

    def versions(self, cursor: Cursor, tickets: Sequence[str]) -> dict[str, int]:
        """The last applied version of each of ``tickets`` (absent: none applied)."""
        found: dict[str, int] = {}
        for start in range(0, len(tickets), 500):
            chunk = tickets[start:start + 500]
            marks = ",".join("?" * len(chunk))
            cursor.execute(f"SELECT ticket_uuid, version FROM {VERSIONS} "  # noqa: S608
                           f"WHERE feed = ? AND ticket_uuid IN ({marks})", [self.feed, *chunk])
            for row in cursor.fetchall():
                found[row["ticket_uuid"]] = int(row["version"])
        return found

    def save(self, cursor: Cursor, partitions: Mapping[int, PartitionMark],
             tickets: Mapping[str, TicketMark]) -> None:
        if partitions:
            cursor.executemany(
                f"INSERT INTO {OFFSETS} (feed, topic, kafka_partition, next_offset, max_sequence) "  # noqa: S608
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT (feed, topic, kafka_partition) DO UPDATE SET "
                "next_offset = excluded.next_offset, max_sequence = excluded.max_sequence",
                [(self.feed, self.topic, p, m.next_offset, m.max_sequence)
                 for p, m in partitions.items()])
        if tickets:
            cursor.executemany(
                f"INSERT INTO {VERSIONS} (feed, ticket_uuid, version, sequence) "  # noqa: S608
                "VALUES (?, ?, ?, ?) ON CONFLICT (feed, ticket_uuid) DO UPDATE SET "
                "version = excluded.version, sequence = excluded.sequence",
                [(self.feed, t, m.version, m.sequence) for t, m in tickets.items()])
