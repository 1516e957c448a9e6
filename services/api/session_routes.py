"""``POST /session`` (bearer token in, HttpOnly cookie out) and ``DELETE /session``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request, Response
from fastapi.security import HTTPAuthorizationCredentials

from services.api.auth import TokenStore
from services.api.deps import bearer
from services.api.problems import problem_responses
from services.api.session import COOKIE, session_value

router = APIRouter(prefix="/session", tags=["session"])


@router.post("", status_code=204, response_class=Response, responses=problem_responses(401))
def sign_in(request: Request,
            credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]) -> Response:
    """Sign a browser in: send ``Authorization: Bearer <token>``, get an HttpOnly,
    SameSite=Strict session cookie (Secure over https) that stands for the token."""
    tokens: TokenStore = request.app.state.tokens
    if credentials is None or tokens.authenticate(credentials.credentials) is None:
        raise HTTPException(401, "a valid bearer token is required to open a session",
                            headers={"WWW-Authenticate": "Bearer"})
    edge = request.app.state.edge
    response = Response(status_code=204, headers={"Cache-Control": "no-store"})
    response.set_cookie(
        COOKIE, session_value(edge.session_secret, credentials.credentials,
                              max_age=edge.session_max_age),
        max_age=edge.session_max_age, httponly=True, samesite="strict",
        secure=request.url.scheme == "https", path="/")
    return response


@router.delete("", status_code=204, response_class=Response)
def sign_out(request: Request) -> Response:
    """Sign out: the session cookie is cleared."""
    response = Response(status_code=204, headers={"Cache-Control": "no-store"})
    response.delete_cookie(COOKIE, httponly=True, samesite="strict",
                           secure=request.url.scheme == "https", path="/")
    return response
