"""Check the chains: every stored event, the checkpoints, and the snapshots.

Reads the raw rows in notification order and stops at the first thing that
does not hold, naming the event (originator, version, notification ID) and
what is wrong with it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass, field, replace
from typing import Any
from uuid import UUID

from eventsourcing.persistence import JSONTranscoder, StoredEvent

from adapters.audit.checkpoints import (
    Checkpoint,
    CheckpointStore,
    notifications,
    row_digest,
    seal_checkpoint,
)
from adapters.audit.mapper import ChainedMapper
from adapters.audit.seal import GENESIS, detach, seal


@dataclass(frozen=True)
class Break:
    """The first event (or checkpoint) that breaks the chains."""

    originator_id: str
    version: int | None
    notification_id: int | None
    problem: str
    label: str = ""
    """What people call the originator: ``ticket P24-4K7Q9M``, ``intake record …``."""

    def __str__(self) -> str:
        where = [self.label or f"originator {self.originator_id}"] if self.originator_id else []
        if self.version is not None:
            where.append(f"version {self.version}")
        if self.notification_id is not None:
            where.append(f"notification {self.notification_id}")
        return f"{', '.join(where)}: {self.problem}"


@dataclass
class Report:
    events: int = 0
    originators: int = 0
    checkpoints: int = 0
    unchecked_tail: int = 0
    snapshots: int = 0
    broken: Break | None = None
    seals: dict[Any, tuple[int, bytes]] = field(default_factory=dict, repr=False)

    @property
    def ok(self) -> bool:
        return self.broken is None


class _RowChecker:
    def __init__(self, mapper: ChainedMapper[Any]) -> None:
        self.mapper = mapper
        self.keys = mapper.keyring.by_id()

    def check(self, row: StoredEvent, last: tuple[int, bytes] | None,
              notification_id: int | None) -> tuple[Break | None, bytes]:
        oid, version = row.originator_id, row.originator_version

        def broken(problem: str) -> tuple[Break, bytes]:
            return Break(str(oid), version, notification_id, problem), b""

        expected = last[0] + 1 if last else 1
        if version > expected:
            missing = f"{expected}" if version == expected + 1 else f"{expected}..{version - 1}"
            return broken(f"follows version {expected - 1}: version {missing} missing (deleted)")
        if version < expected:
            return broken(f"comes after version {expected - 1}: events out of order "
                          "(reordered or duplicated)")
        try:
            body, kid, chain = detach(self.mapper.open(row.state))
        except Exception as error:  # a damaged envelope is a finding, not a crash
            return broken(f"state cannot be opened: {error}")
        if chain is None or kid is None:
            return broken("not sealed: no audit chain in the stored state (edited or forged)")
        key = self.keys.get(kid)
        if key is None:
            return broken(f"sealed with unknown key {kid!r} (forged, or a key missing from "
                          "PASS24_AUDIT_RETIRED_KEYS)")
        previous = last[1] if last else GENESIS
        expected_chain = seal(key, previous, str(oid), version, row.topic, body)
        if not hmac.compare_digest(expected_chain, chain):
            return broken("stored event does not match its seal: a field was edited, or the "
                          "event was forged or moved")
        return None, chain


def originator_label(app: Any, originator_id: Any) -> str:
    """``ticket P24-…`` (from the first stored event, read raw, since the chain may be broken
    further on), or the aggregate's kind and UUID; never raises."""
    try:
        if isinstance(originator_id, str):
            originator_id = UUID(originator_id)
        rows = app.recorder.select_events(originator_id, limit=1)
        if rows:
            body, _, _ = detach(app.mapper.open(rows[0].state))
            state = json.loads(body)
            if isinstance(state, dict) and isinstance(state.get("ticket_id"), str):
                return f"ticket {state['ticket_id']} ({originator_id})"
            kind = rows[0].topic.rpartition(":")[2].partition(".")[0] or "aggregate"
            return f"{kind} {originator_id}"
    except Exception:  # noqa: BLE001 - a label must not hide the finding it labels
        pass
    return f"originator {originator_id}"


def _labelled(app: Any, broken: Break | None) -> Break | None:
    if broken is None or not broken.originator_id:
        return broken
    return replace(broken, label=originator_label(app, broken.originator_id))


def verify_store(app: Any, *, snapshots: bool = True) -> Report:
    """Every event of the store in log order, the checkpoint chain, then snapshots."""
    report = _verify_store(app, snapshots=snapshots)
    report.broken = _labelled(app, report.broken)
    return report


def verify_originator(app: Any, originator_id: Any) -> Report:
    """One originator's chain (and snapshots); the checkpoints need the whole log."""
    report = _verify_originator(app, originator_id)
    report.broken = _labelled(app, report.broken)
    return report


def _verify_store(app: Any, *, snapshots: bool = True) -> Report:
    """Every event of the store in log order, the checkpoint chain, then snapshots."""
    mapper: ChainedMapper[Any] = app.mapper
    checker = _RowChecker(mapper)
    report = Report()
    last = report.seals
    checkpoints = CheckpointStore(app.recorder).all()
    pending: list[Checkpoint] = list(checkpoints)
    previous_cp, start, digest, count = GENESIS, 0, hashlib.sha256(), 0

    def close_checkpoint(cp: Checkpoint) -> Break | None:
        nonlocal previous_cp, start, digest, count
        key = checker.keys.get(cp.kid)
        if key is None:
            return Break("", None, cp.upto, f"checkpoint {cp.seq} sealed with unknown key")
        expected = seal_checkpoint(key, previous_cp, cp.seq, start, cp.upto, count,
                                   digest.digest())
        if count != cp.count or not hmac.compare_digest(expected, cp.chain):
            return Break("", None, cp.upto,
                         f"checkpoint {cp.seq} over notifications {start + 1}..{cp.upto} "
                         f"does not match: it sealed {cp.count} rows, {count} are stored "
                         "(events deleted, inserted or altered in that range)")
        previous_cp, start, digest, count = cp.chain, cp.upto, hashlib.sha256(), 0
        report.checkpoints += 1
        return None

    for n in notifications(app.recorder, 0):
        while pending and n.id > pending[0].upto:
            report.broken = close_checkpoint(pending.pop(0))
            if report.broken:
                return report
        problem, chain = checker.check(n, last.get(n.originator_id), n.id)
        if problem:
            report.broken = problem
            return report
        last[n.originator_id] = (n.originator_version, chain)
        report.events += 1
        if pending:
            row_digest(digest, n)
            count += 1
        else:
            report.unchecked_tail += 1
    while pending:
        report.broken = close_checkpoint(pending.pop(0))
        if report.broken:
            return report
    report.originators = len(last)
    if snapshots:
        for oid in last:
            report.broken = _check_snapshots(app, oid, report)
            if report.broken:
                return report
    return report


def _verify_originator(app: Any, originator_id: Any) -> Report:
    checker = _RowChecker(app.mapper)
    report = Report()
    last: tuple[int, bytes] | None = None
    for row in app.recorder.select_events(originator_id):
        problem, chain = checker.check(row, last, None)
        if problem:
            report.broken = problem
            return report
        last = (row.originator_version, chain)
        report.events += 1
    report.originators = 1 if last else 0
    if last:
        report.broken = _check_snapshots(app, originator_id, report)
    return report


def _check_snapshots(app: Any, originator_id: Any, report: Report) -> Break | None:
    """Each snapshot must equal the state replayed from the (verified) events."""
    store = getattr(app, "snapshots", None)
    if store is None:
        return None
    stored = {s.originator_version: s for s in store.get(originator_id)}
    if not stored:
        return None
    transcoder: JSONTranscoder = app.mapper.transcoder
    aggregate: Any = None
    for event in app.events.get(originator_id, lte=max(stored)):
        aggregate = event.mutate(aggregate)
        snapshot = stored.get(event.originator_version)
        if snapshot is None:
            continue
        replayed = type(snapshot).take(aggregate)
        expected = transcoder.decode(transcoder.encode(replayed.state))
        if transcoder.decode(transcoder.encode(snapshot.state)) != expected:
            return Break(str(originator_id), snapshot.originator_version, None,
                         "snapshot differs from the state replayed from the events")
        report.snapshots += 1
    return None
