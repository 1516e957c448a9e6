"""Exactly-once processing on top of the relay's at-least-once delivery.

Each ticket's events carry consecutive originator versions (1, 2, 3, …) and stay
in one partition. A consumer that remembers the last version it applied per
originator applies an event only when it is the next one: a version it already
has is a duplicate (a re-published batch), and a version further ahead means an
earlier one was lost in flight, which the relay is bound to re-publish together
with everything after it, so waiting for that re-publication keeps order too.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from uuid import UUID

from adapters.kafka.envelope import Envelope


class Verdict(Enum):
    APPLY = "apply"
    DUPLICATE = "duplicate"
    AHEAD = "ahead"  # a gap before it: skip, the relay re-publishes from the gap


@dataclass
class Deduplicator:
    """Per-originator version watermark; persist ``versions`` with the read model for restarts."""

    versions: dict[UUID, int] = field(default_factory=dict)
    duplicates: int = 0
    ahead: int = 0

    def judge(self, originator_id: UUID, version: int) -> Verdict:
        last = self.versions.get(originator_id, 0)
        if version <= last:
            self.duplicates += 1
            return Verdict.DUPLICATE
        if version > last + 1:
            self.ahead += 1
            return Verdict.AHEAD
        self.versions[originator_id] = version
        return Verdict.APPLY

    def accept(self, event: Envelope) -> bool:
        """True when ``event`` is the next one of its ticket and should be applied."""
        return self.judge(event.originatorid, event.originatorversion) is Verdict.APPLY
