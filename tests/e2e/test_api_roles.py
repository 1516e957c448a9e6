"""Every endpoint × every role: who may do what."""

from __future__ import annotations

import pytest

from services.api.auth import Role
from tests.e2e.conftest import Api

A, S, U, I = Role.AGENT, Role.SUPERVISOR, Role.AUDITOR, Role.INTEGRATION
STAFF = {A, S}
READERS = {A, S, U}

ALLOWED: dict[tuple[str, str], set[Role]] = {
    ("POST", "/tickets"): {A, S, I},
    ("GET", "/tickets/{ticket_id}"): READERS,
    ("GET", "/tickets/{ticket_id}/history"): READERS,
    ("GET", "/tickets/{ticket_id}/report"): READERS,
    ("POST", "/tickets/{ticket_id}/classify"): STAFF,
    ("POST", "/tickets/{ticket_id}/reclassify"): {S},
    ("POST", "/tickets/{ticket_id}/confirm-emergency"): {S},
    ("POST", "/tickets/{ticket_id}/assign"): STAFF,
    ("POST", "/tickets/{ticket_id}/respond"): STAFF,
    ("POST", "/tickets/{ticket_id}/request-information"): STAFF,
    ("POST", "/tickets/{ticket_id}/requester-reply"): {A, S, I},
    ("POST", "/tickets/{ticket_id}/contacts"): STAFF,
    ("POST", "/tickets/{ticket_id}/third-party-messages/{message_id}/accept"): STAFF,
    ("POST", "/tickets/{ticket_id}/escalate"): STAFF,
    ("POST", "/tickets/{ticket_id}/fix-release"): STAFF,
    ("POST", "/tickets/{ticket_id}/postpone"): STAFF,
    ("POST", "/tickets/{ticket_id}/resume"): STAFF,
    ("POST", "/tickets/{ticket_id}/resolve"): STAFF,
    ("POST", "/tickets/{ticket_id}/reopen"): STAFF,
    ("POST", "/tickets/{ticket_id}/close"): STAFF,
    ("GET", "/queue"): READERS,
    ("GET", "/sla/timers"): READERS,
    ("GET", "/sla/stats"): READERS,
    ("GET", "/review/third-party"): READERS,
}
PUBLIC = {("GET", "/healthz"), ("GET", "/readyz")}
# Opening a session takes any valid token (the cookie then carries that token's role);
# closing one only clears the cookie.
SESSION = {("POST", "/session"), ("DELETE", "/session")}


def routes(api: Api) -> set[tuple[str, str]]:
    paths = api.client.get("/openapi.json").json()["paths"]
    return {(method.upper(), path) for path, ops in paths.items() for method in ops}


def test_the_matrix_covers_every_endpoint(api: Api) -> None:
    assert routes(api) == set(ALLOWED) | PUBLIC | SESSION


@pytest.mark.parametrize("role", list(Role))
def test_each_role_reaches_exactly_its_endpoints(api: Api, role: Role) -> None:
    ticket_id = api.receive()
    for (method, template), allowed in ALLOWED.items():
        path = template.replace("{ticket_id}", ticket_id).replace("{message_id}", "L-0")
        # An empty body: allowed callers get past authorisation (and fail validation
        # or a rule), the others are stopped at 403 before anything is read.
        response = api.client.request(method, path, json={}, headers=api.headers(role))
        if role in allowed:
            assert response.status_code not in (401, 403), (role, method, template, response.text)
        else:
            assert response.status_code == 403, (role, method, template, response.status_code)
            assert response.headers["content-type"] == "application/problem+json"


def test_no_token_or_an_unknown_token_is_401(api: Api) -> None:
    ticket_id = api.receive()
    for (method, template) in ALLOWED:
        path = template.replace("{ticket_id}", ticket_id).replace("{message_id}", "L-0")
        bare = api.client.request(method, path, json={})
        assert bare.status_code == 401, (method, template)
        assert bare.headers["www-authenticate"].startswith("Bearer")
        forged = api.client.request(method, path, json={},
                                    headers={"Authorization": "Bearer p24_forged"})
        assert forged.status_code == 401


def test_tokens_are_stored_only_as_hashes(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from services.api.auth import TokenStore

    path = tmp_path / "tokens.json"
    token = TokenStore(path).issue(Role.AUDITOR, "auditor.kim")
    assert token not in path.read_text()
    reloaded = TokenStore(path)
    principal = reloaded.authenticate(token)
    assert principal is not None and principal.role is Role.AUDITOR
    assert (path.stat().st_mode & 0o777) == 0o600
