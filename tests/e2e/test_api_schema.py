"""Property-based conformance: schemathesis throws generated requests at every endpoint.

Checks: no 5xx for any input, responses match the OpenAPI document (status
codes, content types, bodies), and problems are problem+json.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from projections.system import build_projections
from services.api import create_app
from services.api.auth import Role, TokenStore
from services.application import SupportDesk
from services.clock import ManualClock
from tests.helpers import CLIENT, REQUESTER, msk
from domain.values import Channel

_store = TokenStore(None)
_TOKEN = _store.issue(Role.SUPERVISOR, "schemathesis")


def _app():  # type: ignore[no-untyped-def]
    desk = SupportDesk(clock=ManualClock(msk("2025-04-28 10:00")))
    desk.receive(channel=Channel.EMAIL, requester=CLIENT, subject="Gate", description="Stuck",
                 actor=REQUESTER, product_version="1.0", at=msk("2025-04-28 09:30"))
    models, runner = build_projections(desk, calendar=desk.calendar, clock=desk.clock)
    runner.catch_up()
    return create_app(desk, tokens=_store, read_models=models)


schema = schemathesis.openapi.from_asgi("/openapi.json", _app())


@pytest.mark.slow
@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_every_endpoint_conforms_and_never_fails_on_bad_input(case: schemathesis.Case) -> None:
    # Cross-field rules (a requester needs an email or a phone, a reclassification
    # changes something) are not expressible in JSON Schema, so schema-valid
    # bodies may still be refused with a 422 problem: that check is left out.
    case.call_and_validate(
        headers={"Authorization": f"Bearer {_TOKEN}"},
        excluded_checks=[schemathesis.checks.positive_data_acceptance],
    )
