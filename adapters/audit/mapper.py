"""A Mapper that seals every event it stores into its originator's chain.

The previous seal of an originator comes from a small cache, filled when
events are read and when a save commits; on a miss it is read from the
previous stored row. A writer whose cache is stale is safe: it is writing on
a stale aggregate too, and the store's version check refuses the write.
Seals computed for a save that failed never reach the cache (see
``AuditedApplication._record``), so a lost race cannot poison the next save.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any, Generic

from eventsourcing.application import Application, ProcessingEvent
from eventsourcing.persistence import Recording
from eventsourcing.domain import DomainEventProtocol, Snapshot, TAggregateID
from eventsourcing.persistence import (
    AggregateRecorder,
    Cipher,
    Compressor,
    Mapper,
    StoredEvent,
    Transcoder,
)
from eventsourcing.utils import EnvType

from adapters.audit.seal import DEVELOPMENT_KEY, GENESIS, Keyring, attach, detach, seal

_Entry = tuple[int, bytes]  # (version, seal)


class ChainedMapper(Mapper[TAggregateID], Generic[TAggregateID]):
    """Seals aggregate events on the way out, strips the seal on the way in.

    Snapshots are a cache, not history: they pass through unsealed.
    """

    def __init__(
        self,
        transcoder: Transcoder,
        *,
        keyring: Keyring,
        compressor: Compressor | None = None,
        cipher: Cipher | None = None,
        cache_size: int = 10_000,
    ) -> None:
        # The seal goes inside the compressed/encrypted envelope; the base class
        # only ever sees plain JSON.
        super().__init__(transcoder)
        self.outer_compressor = compressor
        self.outer_cipher = cipher
        self.keyring = keyring
        self._key = keyring.current
        self._kid = keyring.current_id
        self._recorder: AggregateRecorder | None = None
        self._committed: OrderedDict[Any, _Entry] = OrderedDict()
        self._cache_size = cache_size
        self._lock = threading.Lock()
        self._local = threading.local()

    def bind(self, recorder: AggregateRecorder) -> None:
        self._recorder = recorder

    # -- envelope ------------------------------------------------------------------

    def open(self, state: bytes) -> bytes:
        """Stored bytes → sealed JSON (decrypt, decompress)."""
        if self.outer_cipher:
            state = self.outer_cipher.decrypt(state)
        if self.outer_compressor:
            state = self.outer_compressor.decompress(state)
        return state

    def _close(self, state: bytes) -> bytes:
        if self.outer_compressor:
            state = self.outer_compressor.compress(state)
        if self.outer_cipher:
            state = self.outer_cipher.encrypt(state)
        return state

    # -- writing ---------------------------------------------------------------------

    def to_stored_event(self, domain_event: DomainEventProtocol[TAggregateID]) -> StoredEvent:
        plain = super().to_stored_event(domain_event)
        if isinstance(domain_event, Snapshot):
            return StoredEvent(plain.originator_id, plain.originator_version, plain.topic,
                               self._close(plain.state))
        originator_id, version = plain.originator_id, plain.originator_version
        batch = self._batch()
        chain = seal(self._key, self._previous(originator_id, version, batch),
                     str(originator_id), version, plain.topic, plain.state)
        batch[originator_id] = (version, chain)
        return StoredEvent(originator_id, version, plain.topic,
                           self._close(attach(plain.state, self._kid, chain)))

    def _batch(self) -> dict[Any, _Entry]:
        """Seals computed by this thread for a save not yet committed."""
        batch: dict[Any, _Entry] | None = getattr(self._local, "batch", None)
        if batch is None or len(batch) > 1000:
            batch = self._local.batch = {}
        return batch

    def _previous(self, originator_id: Any, version: int, batch: dict[Any, _Entry]) -> bytes:
        wanted = version - 1
        entry = batch.get(originator_id)
        if entry is None or entry[0] != wanted:
            with self._lock:
                entry = self._committed.get(originator_id)
        if entry is not None and entry[0] == wanted:
            return entry[1]
        if self._recorder is None or wanted < 1:
            return GENESIS
        rows = self._recorder.select_events(originator_id, lte=wanted, desc=True, limit=1)
        if not rows or rows[0].originator_version != wanted:
            return GENESIS
        previous = detach(self.open(rows[0].state))[2]
        return previous if previous is not None else GENESIS

    def committed(self) -> None:
        """The save that used this thread's seals is stored: later saves may chain on them."""
        batch = self._batch()
        for originator_id, entry in batch.items():
            self._remember(originator_id, entry)
        batch.clear()

    def abandoned(self) -> None:
        """The save failed: its seals were never stored."""
        self._batch().clear()

    def _remember(self, originator_id: Any, entry: _Entry) -> None:
        with self._lock:
            known = self._committed.get(originator_id)
            if known is None or known[0] < entry[0]:
                self._committed[originator_id] = entry
                self._committed.move_to_end(originator_id)
                if len(self._committed) > self._cache_size:
                    self._committed.popitem(last=False)

    # -- reading -----------------------------------------------------------------------

    def to_domain_event(self, stored_event: StoredEvent) -> DomainEventProtocol[TAggregateID]:
        body, _, chain = detach(self.open(stored_event.state))
        if chain is not None:
            self._remember(stored_event.originator_id, (stored_event.originator_version, chain))
        return super().to_domain_event(StoredEvent(
            stored_event.originator_id, stored_event.originator_version, stored_event.topic, body,
        ))


def keyring_from_env(env: Any) -> Keyring:
    current = env.get("AUDIT_KEY") or DEVELOPMENT_KEY
    retired = (env.get("AUDIT_RETIRED_KEYS") or "").split(",")
    return Keyring.from_secrets(current, retired)


class AuditedApplication(Application[TAggregateID]):
    """An Application whose events are sealed into per-originator hash chains.

    The key comes from the environment (``AUDIT_KEY``, ``AUDIT_RETIRED_KEYS``),
    which ``Settings.eventsourcing_env`` fills from ``PASS24_AUDIT_*``.
    """

    mapper: ChainedMapper[TAggregateID]

    def __init__(self, env: EnvType | None = None) -> None:
        super().__init__(env)
        self.mapper.bind(self.recorder)

    def construct_mapper(self) -> ChainedMapper[TAggregateID]:
        base: Mapper[TAggregateID] = self.factory.mapper(transcoder=self.construct_transcoder())
        return ChainedMapper(base.transcoder, keyring=keyring_from_env(self.env),
                             compressor=base.compressor, cipher=base.cipher)

    def _record(
        self, processing_event: ProcessingEvent[TAggregateID]
    ) -> list[Recording[TAggregateID]]:
        try:
            recordings = super()._record(processing_event)
        except BaseException:
            self.mapper.abandoned()
            raise
        self.mapper.committed()
        return recordings
