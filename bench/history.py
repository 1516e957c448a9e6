"""A desk's history, made the honest way: every event through the ``Ticket`` aggregate
and saved by ``SupportDesk`` (so sealed like production events), in time order.

About 274 tickets a day arrive around the clock; each lives through a realistic
lifecycle over hours or days (acknowledge, classify, assign, reply; sometimes a
request for information, an escalation and release, a postponement, a
reclassification, a recorded SLA breach; resolve, mostly close, sometimes
reopen), and about 3 % are left open. Steps of all tickets are applied in time
order and saved every ``save_every`` steps, so the log interleaves tickets as a
live desk's does (about 9 events per ticket: 1M events is about 110k tickets, a
year of a 50-agent desk).

Used by ``bench/scale.py`` and by the read-model tests (a few hundred tickets).
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from domain.errors import DeskError
from domain.ids import new_ticket_id
from domain.sla import ClockName, ClockStatus
from domain.ticket import Ticket
from domain.values import (
    Actor,
    Category,
    Channel,
    Level,
    PostponeReason,
    Product,
    Requester,
    RequiredInfo,
)
from services.application import SupportDesk

MSK = ZoneInfo("Europe/Moscow")
START = datetime(2025, 1, 9, 9, 0, tzinfo=MSK)
AGENT = Actor.staff("bench.agent")
SUPERVISOR = Actor.staff("bench.supervisor")
SYSTEM = Actor.system()
TICKETS_PER_DAY = 274
PRODUCTS = (Product.ONLINE, Product.CONTROL, Product.MOBILE_ONLINE, Product.MOBILE_KEY)


def _lifecycle(desk: SupportDesk, rng: random.Random, ticket: Ticket,
               at: datetime) -> Iterator[datetime]:
    """Apply the next step at each instant this yields (the caller resumes it then)."""
    rules = desk.rules
    step = lambda: timedelta(minutes=rng.randint(1, 240))  # noqa: E731
    at += timedelta(minutes=1)
    yield at
    ticket.acknowledge(at=at, actor=SYSTEM)
    at += step()
    yield at
    level = rng.choices([Level.EMERGENCY, Level.STANDARD, Level.CONSULTATION], [1, 6, 3])[0]
    ticket.classify(level=level, product=ticket.product, category=Category.OPERATIONAL_FAILURE,
                    at=at, actor=AGENT, rules=rules)
    if rng.random() < 0.05:
        at += step()
        yield at
        other = rng.choice([lv for lv in Level if lv is not level])
        ticket.reclassify(level=other, product=rng.choice(PRODUCTS), reason="second look",
                          at=at, actor=SUPERVISOR, rules=rules)
    at += step()
    yield at
    ticket.assign(assignee=f"agent.{rng.randint(1, 50)}", at=at, actor=AGENT)
    if rng.random() < 0.01:
        return  # never answered: stays open, running late
    at += step() * rng.choice([1, 1, 1, 3])
    yield at
    if ticket.sla(at, desk.calendar).reaction.status is ClockStatus.BREACHED:
        ticket.record_sla_alert(clock=ClockName.REACTION, breached=True, at=at, actor=SYSTEM,
                                calendar=desk.calendar)
    ticket.respond(text="Looking into it", at=at, actor=AGENT, rules=rules)
    if rng.random() < 0.4:
        at += step()
        yield at
        ticket.request_information(text="Logs?", items=[RequiredInfo.DESCRIPTION], at=at,
                                   actor=AGENT, rules=rules)
        at += step()
        yield at
        ticket.record_requester_reply(text="Attached", at=at, actor=Actor.requester("c"),
                                      rules=rules)
    if rng.random() < 0.15:
        at += step()
        yield at
        ticket.escalate(summary="Bug", at=at, actor=AGENT, rules=rules)
        at += step() * 3
        yield at
        ticket.record_fix_release(release="3.2", at=at, actor=AGENT, rules=rules)
    if rng.random() < 0.1:
        at += step()
        yield at
        ticket.postpone(reason=PostponeReason.CANNOT_REPRODUCE, at=at, actor=AGENT, rules=rules)
        at += step()
        yield at
        ticket.resume(at=at, actor=AGENT, rules=rules)
    if rng.random() < 0.02:
        return  # left open, waiting
    at += step()
    yield at
    ticket.resolve(resolution="Fixed", at=at, actor=AGENT, rules=rules)
    if rng.random() < 0.04:
        at += step()
        yield at
        ticket.reopen(reason="Back again", at=at, actor=Actor.requester("c"), rules=rules)
        at += step()
        yield at
        ticket.resolve(resolution="Fixed again", at=at, actor=AGENT, rules=rules)
    if rng.random() < 0.7:
        at += step()
        yield at
        ticket.close(at=at, actor=SYSTEM)


def generate(desk: SupportDesk, events: int, *, seed: int = 7, save_every: int = 2000,
             per_day: int = TICKETS_PER_DAY, progress: Callable[[int], None] | None = None) -> int:
    """Write about ``events`` ticket events into ``desk``; returns how many tickets."""
    rng = random.Random(seed)
    seen: set[str] = set()
    arrivals = 0
    written = 0
    gap = timedelta(seconds=86400 / per_day)
    queue: list[tuple[datetime, int, Iterator[datetime], Ticket]] = []
    dirty: dict[str, Ticket] = {}
    steps = 0
    next_arrival = START

    def flush() -> None:
        nonlocal written
        if dirty:
            written += sum(len(t.pending_events) for t in dirty.values())
            desk.save(*dirty.values())
            dirty.clear()
            if progress is not None:
                progress(written)

    while True:
        if steps % 256 == 0 and written + sum(len(t.pending_events) for t in dirty.values()) >= events:
            break
        if not queue or next_arrival <= queue[0][0]:
            at = next_arrival
            next_arrival += gap * rng.uniform(0.2, 1.8)
            while (ticket_id := new_ticket_id(rng)) in seen:
                pass
            seen.add(ticket_id)
            ticket = Ticket.receive(
                ticket_id=ticket_id, channel=rng.choice([Channel.EMAIL, Channel.FORM, Channel.PHONE]),
                requester=Requester(name="Клиент", email=f"c{rng.randint(1, 5000)}@example.ru"),
                subject="Не открывается шлагбаум", description="Passes are rejected at the gate.",
                product=rng.choice(PRODUCTS), product_version="3.1", device="Pixel 7 / Android 15",
                at=at, actor=SYSTEM, rules=desk.rules,
            )
            arrivals += 1
            lifecycle = _lifecycle(desk, rng, ticket, at)
            first = next(lifecycle)
            heapq.heappush(queue, (first, arrivals, lifecycle, ticket))
        else:
            _, n, lifecycle, ticket = heapq.heappop(queue)
            try:
                following = next(lifecycle)
            except StopIteration:
                pass
            except DeskError:
                pass  # a step the rules refuse (e.g. an alert not yet due): skip the rest
            else:
                heapq.heappush(queue, (following, n, lifecycle, ticket))
        dirty[ticket.ticket_id] = ticket
        steps += 1
        if steps % save_every == 0:
            flush()
    flush()
    return arrivals
