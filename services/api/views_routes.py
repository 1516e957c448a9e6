"""Queries over the read models: queue, SLA timers, SLA statistics."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response

from domain.values import Category, Level, Product, Status
from services.api.auth import READERS, Principal
from services.api.deps import caught_up, read_models, require
from services.api.models import IsoInstant, PageOut, StatsOut, json_response
from services.api.problems import problem_responses

router = APIRouter(tags=["views"])

Reader = Annotated[Principal, Depends(require(READERS))]
Models = Annotated[Any, Depends(read_models)]
CaughtUp = Annotated[None, Depends(caught_up)]
Limit = Annotated[int, Query(ge=1, le=500)]
Offset = Annotated[int, Query(ge=0, le=1_000_000_000)]
ERRORS = problem_responses(401, 403, 422, 429, 503)


def _page(page: Any, models: Any) -> Response:
    return json_response({"items": page.items, "total": page.total, "limit": page.limit,
                          "offset": page.offset, "position": models.position()})


@router.get("/queue", response_model=PageOut, responses=ERRORS)
def queue(
    _: Reader, models: Models, __: CaughtUp,
    level: Level | None = None, product: Product | None = None,
    assignee: Annotated[str | None, Query(max_length=200)] = None,
    status: Annotated[list[Status] | None, Query(
        description="one or more, e.g. status=new&status=open")] = None,
    category: Category | None = None, limit: Limit = 50, offset: Offset = 0,
) -> Response:
    """Open tickets in handling order (R11): confirmed emergencies first, then by arrival."""
    page = models.queue(level=level.value if level else None,
                        product=product.value if product else None, assignee=assignee,
                        status=[s.value for s in status] if status else None,
                        category=category.value if category else None,
                        limit=limit, offset=offset)
    return _page(page, models)


@router.get("/review/third-party", response_model=PageOut, responses=ERRORS)
def third_party_review(
    _: Reader, models: Models, __: CaughtUp,
    pending: bool = True, limit: Limit = 50, offset: Offset = 0,
) -> Response:
    """Letters that carried a ticket's ID from someone who is not its contact (R19), oldest
    first: waiting for staff to accept them (``pending=false``: those already accepted)."""
    return _page(models.third_party_letters(pending=pending, limit=limit, offset=offset), models)


@router.get("/sla/timers", response_model=PageOut, responses=ERRORS)
def sla_timers(
    _: Reader, models: Models, __: CaughtUp,
    ticket_id: Annotated[str | None, Query(max_length=40)] = None,
    status: Annotated[str | None, Query(pattern="^(on_track|at_risk|breached|paused|met)$")] = None,
    limit: Limit = 50, offset: Offset = 0,
) -> Response:
    """Both SLA clocks of every open ticket, evaluated now."""
    return _page(models.sla_timers(ticket_id=ticket_id, status=status, limit=limit,
                                   offset=offset), models)


@router.get("/sla/stats", response_model=StatsOut, responses=ERRORS)
def sla_stats(
    _: Reader, models: Models, __: CaughtUp,
    level: Level | None = None, product: Product | None = None,
    since: IsoInstant | None = None, until: IsoInstant | None = None,
) -> Response:
    """Counts received/resolved/breached/met, median and p90 working time to first reply and to resolution."""
    rows = models.stats(level=level.value if level else None,
                        product=product.value if product else None, since=since, until=until)
    return json_response({"rows": rows, "position": models.position()})
