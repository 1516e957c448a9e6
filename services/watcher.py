"""The SLA watcher: as time passes, record SlaAtRisk / SlaBreached on the tickets.

It reads candidate clocks from the SLA timer read model (cheap), and records
through ``SupportDesk.record_sla_alert``, whose aggregate checks the clock's
state again at that instant and records each alert once per clock cycle.
Two watchers at once, or a watcher restarted, therefore never record an alert
twice: the second attempt either meets the alert already in the ticket or
loses the optimistic-concurrency race and, retried, meets it then.

An alert that fails for another reason than the store not answering is tried
again at the next passes, then set aside (worker ``watcher``,
``projections.parking``): the ticket's alerts wait, every other ticket's go on.
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime

from domain.errors import RuleViolated
from domain.sla import ClockName
from domain.values import Actor
from projections.parking import Item, Parked, PoisonGuard, is_transient
from projections.readmodels import ReadModels
from projections.sla_timers import Alert
from services.application import SupportDesk
from services.clock import Clock

log = logging.getLogger("pass24.watcher")


class SlaWatcher:
    def __init__(
        self,
        desk: SupportDesk,
        read_models: ReadModels,
        clock: Clock,
        *,
        actor: Actor | None = None,
        interval: float = 30.0,
        guard: PoisonGuard | None = None,
    ) -> None:
        self.guard = guard or PoisonGuard(None, "watcher")
        self.desk = desk
        self.read_models = read_models
        self.clock = clock
        self.actor = actor or Actor.system()
        self.interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def due_alerts(self, now: datetime) -> list[Alert]:
        """Clocks whose at-risk or due instant has passed and whose alert the read model lacks."""
        return self.read_models.due_alerts(now)

    def run_once(self) -> int:
        """Record every alert that is due now; returns how many were recorded."""
        now = self.clock.now()
        recorded = 0
        self.guard.retry_pass(self._record_parked)
        held = self.guard.active()
        for alert in self.due_alerts(now):
            if alert.ticket_id in held:
                continue
            item = Item(0, f"{alert.ticket_id}:{alert.clock.value}:"
                        f"{'breached' if alert.breached else 'at_risk'}", alert.ticket_id)
            try:
                result = self.desk.record_sla_alert(
                    alert.ticket_id, clock=alert.clock, breached=alert.breached,
                    actor=self.actor, at=now,
                )
            except RuleViolated as refused:
                # The read model lagged: the ticket moved on (answered, paused).
                log.info("skipped %s: %s", alert, refused)
                continue
            except Exception as error:
                if is_transient(error):
                    raise
                if self.guard.failed(item, error):
                    held.add(alert.ticket_id)  # its other alerts wait behind it
                else:
                    log.exception("could not record %s", alert)
                continue
            self.guard.succeeded(item)
            if result is not None:
                recorded += 1
                log.warning("SLA %s: %s clock of %s", "breached" if alert.breached else "at risk",
                            alert.clock.value, alert.ticket_id)
        return recorded

    def _record_parked(self, row: Parked) -> None:
        ticket_id, clock, kind = row.event_id.rsplit(":", 2)
        try:
            self.desk.record_sla_alert(ticket_id, clock=ClockName(clock),
                                       breached=kind == "breached", actor=self.actor,
                                       at=self.clock.now())
        except RuleViolated as refused:
            log.info("retried alert %s no longer applies: %s", row.event_id, refused)

    def start(self) -> None:
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="sla-watcher", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 10) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.run_once()
            except Exception:  # noqa: BLE001 - keep watching
                log.exception("watcher pass failed")
            self._stop.wait(self.interval)

