"""Shared FastAPI dependencies: the desk, the caller, read-your-writes.

Every dependency here is ``async``: none blocks (the token store at most stats its
file), and FastAPI runs a synchronous dependency in the thread pool, one hop each.
Under load a hop waits for a free thread behind other requests' endpoint work, so a
request with four synchronous dependencies queued five times instead of once.
"""

from __future__ import annotations

import hashlib
import types
import typing
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from services.api.auth import Principal, Role, TokenStore
from services.api.session import COOKIE, csrf_refusal, session_principal
from services.api.waits import PositionWaits, TooManyWaits
from services.application import SupportDesk

bearer = HTTPBearer(auto_error=False, description="a token from `pass24-desk token issue --role ROLE`")


async def get_desk(request: Request) -> SupportDesk:
    desk: SupportDesk = request.app.state.desk
    return desk


Desk = Annotated[SupportDesk, Depends(get_desk)]


def require(roles: frozenset[Role]) -> Callable[..., Awaitable[Principal]]:
    allowed = ", ".join(sorted(r.value for r in roles))

    async def caller(
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    ) -> Principal:
        principal = authenticated(request, credentials)
        if principal.role not in roles:
            raise HTTPException(403, f"role {principal.role.value} may not do this (needs: {allowed})")
        return principal

    return caller


def authenticated(request: Request, credentials: HTTPAuthorizationCredentials | None) -> Principal:
    """The caller by ``Authorization: Bearer`` or, failing that, by the session cookie."""
    tokens: TokenStore = request.app.state.tokens
    if credentials is not None and credentials.scheme.lower() == "bearer":
        principal = tokens.authenticate(credentials.credentials)
        if principal is None:
            raise HTTPException(401, "unknown or revoked token",
                                headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})
        return principal
    cookie = request.cookies.get(COOKIE)
    if cookie:
        edge = request.app.state.edge
        principal = session_principal(edge.session_secret, cookie, tokens)
        if principal is None:
            raise HTTPException(401, "the session expired or its token was revoked; sign in again",
                                headers={"WWW-Authenticate": "Bearer"})
        refusal = csrf_refusal(request)
        if refusal is not None:
            raise HTTPException(403, refusal)
        return principal
    raise HTTPException(401, "a bearer token is required",
                        headers={"WWW-Authenticate": "Bearer"})


async def read_models(request: Request) -> Any:
    models = getattr(request.app.state, "read_models", None)
    if models is None:
        raise HTTPException(503, "projections are not running in this process")
    return models


MinPosition = Annotated[
    int | None,
    Query(ge=0, description="wait until the read models have processed this notification position"),
]


async def caught_up(request: Request, min_position: MinPosition = None) -> None:
    """Read-your-writes: wait briefly, off the thread pool, until projections reach ``min_position``."""
    if min_position is None:
        return
    waits: PositionWaits | None = getattr(request.app.state, "waits", None)
    if waits is None:
        return
    timeout: float = request.app.state.catch_up_timeout
    try:
        reached = await waits.wait(caller_key(request), min_position, timeout)
    except TooManyWaits:
        raise HTTPException(429, f"at most {waits.per_caller} read-your-writes waits per caller "
                                 "at once", headers={"Retry-After": "1"}) from None
    if not reached:
        raise HTTPException(503, f"read models have not reached position {min_position} yet",
                            headers={"Retry-After": "1"})


def caller_key(request: Request) -> str:
    """Who holds a wait: the token's (or session cookie's) digest, never the secret itself."""
    credential = request.headers.get("authorization") or request.cookies.get(COOKIE, "")
    return hashlib.sha256(credential.encode("utf-8", "surrogateescape")).hexdigest()


async def known_query_only(request: Request) -> None:
    """Refuse query parameters the endpoint does not declare (a typo must not widen a filter)."""
    route = request.scope.get("route")
    dependant = getattr(route, "dependant", None)
    if dependant is None:
        return
    known, lists = _declared_query(dependant)
    names = request.query_params.keys()
    unknown = sorted(set(names) - known)
    # A repeated parameter that takes one value is an error, never "the last one wins".
    repeated = sorted({n for n in names if n not in lists and n in known
                       and len(request.query_params.getlist(n)) > 1})
    if unknown or repeated:
        raise RequestValidationError(
            [{"loc": ("query", name), "msg": "unknown query parameter", "type": "extra_forbidden"}
             for name in unknown]
            + [{"loc": ("query", name), "msg": "takes one value; it was given more than once",
                "type": "repeated_parameter"} for name in repeated]
        )


_DECLARED: dict[int, tuple[Any, frozenset[str], frozenset[str]]] = {}


def _declared_query(dependant: Any) -> tuple[frozenset[str], frozenset[str]]:
    """The query parameters an endpoint and its dependencies declare, and those taking
    several values; worked out once per endpoint (the dependant is kept with the answer,
    so its id is not reused while the entry lives)."""
    found = _DECLARED.get(id(dependant))
    if found is not None and found[0] is dependant:
        return found[1], found[2]
    known: set[str] = set()
    lists: set[str] = set()
    pending = [dependant]
    while pending:
        current = pending.pop()
        for param in current.query_params:
            known.add(param.alias)
            if _is_list(param.field_info.annotation):
                lists.add(param.alias)
        pending.extend(current.dependencies)
    _DECLARED[id(dependant)] = (dependant, frozenset(known), frozenset(lists))
    return frozenset(known), frozenset(lists)


def _is_list(annotation: Any) -> bool:
    """The parameter takes several values (``list[X]``, maybe optional or annotated)."""
    origin = typing.get_origin(annotation)
    if origin is Annotated:
        return _is_list(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        return any(_is_list(arg) for arg in typing.get_args(annotation))
    return origin in (list, tuple, set, frozenset)
