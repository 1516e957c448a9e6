"""Readiness (``/readyz``) and read-your-writes for API processes that run no projections.

``/healthz`` (liveness, in ``app.py``) only says the process answers; ``/readyz``
says it should receive traffic: the event store answers and the read models
are no more than ``ready_max_lag`` events behind its log. Kubernetes takes a
lagging replica out of the Service instead of restarting it. When a worker has
set something aside (``pass24-desk parked list``) the answer is still 200, with
``"status": "degraded"``: the API keeps serving (docs/OPERATIONS.md).
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from fastapi import APIRouter, HTTPException, Request

log = logging.getLogger("pass24.health")
router = APIRouter(tags=["ops"])


@router.get("/readyz", responses={503: {"description": "store unreachable or projections lagging"}})
def readyz(request: Request) -> dict[str, Any]:
    """Ready for traffic: the event store answers and the read models keep up with it."""
    state = request.app.state
    try:
        head = int(state.desk.recorder.max_notification_id() or 0)
    except Exception as error:  # noqa: BLE001 - any store failure means "not ready"
        log.warning("readyz: event store unreachable: %s", error)
        raise HTTPException(503, "the event store does not answer",
                            headers={"Retry-After": "5"}) from None
    models = state.read_models
    if models is None:
        return _with_parked(state, {"status": "ready", "head": head,
                                    "projections_position": None, "lag": None})
    try:
        position = int(models.position())
    except Exception as error:  # noqa: BLE001
        log.warning("readyz: read store unreachable: %s", error)
        raise HTTPException(503, "the read store does not answer",
                            headers={"Retry-After": "5"}) from None
    lag = max(head - position, 0)
    caught_up = getattr(getattr(state, "runner", None), "caught_up", None)
    if caught_up is not None and not caught_up.is_set():
        # Starting or rebuilding: writes and per-ticket reads work, lists are not complete.
        raise HTTPException(503, f"read models catching up: position {position} of {head}",
                            headers={"Retry-After": "5"})
    limit: int = getattr(state, "ready_max_lag", 1000)
    if lag > limit:
        raise HTTPException(503, f"read models are {lag} events behind (limit {limit})",
                            headers={"Retry-After": "5"})
    return _with_parked(state, {"status": "ready", "head": head, "projections_position": position,
                                "lag": lag})


def _with_parked(state: Any, body: dict[str, Any]) -> dict[str, Any]:
    """``degraded`` while any worker has items set aside."""
    parking = getattr(state, "parking", None)
    if parking is None:
        return body
    try:
        counts = parking.counts()
    except Exception as error:  # noqa: BLE001 - the store answered above; do not flap on this
        log.warning("readyz: parked items unreadable: %s", error)
        return body
    by_worker: dict[str, int] = {}
    for (worker, _state), count in counts.items():
        by_worker[worker] = by_worker.get(worker, 0) + count
    total = sum(by_worker.values())
    body["parked"] = total
    if total:
        body["status"] = "degraded"
        body["parked_by_worker"] = by_worker
    return body


class StorePositions:
    """``runner.wait_for`` for an API process whose projections run elsewhere.

    It polls the positions the projection workers record in the read store, so
    ``?min_position=`` keeps its read-your-writes promise across processes.
    """

    def __init__(self, read_models: Any, *, poll_interval: float = 0.05) -> None:
        self.read_models = read_models
        self.poll_interval = poll_interval
        self._sleep = threading.Event()

    def position(self) -> int:
        """What the projection workers have recorded (read by ``PositionWaits``)."""
        return int(self.read_models.position())

    def wait_for(self, position: int, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while int(self.read_models.position()) < position:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            self._sleep.wait(min(remaining, self.poll_interval))
        return True
