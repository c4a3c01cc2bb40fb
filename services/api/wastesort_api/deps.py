"""Typed dependencies (the full-stack template's pattern): routes declare what they need."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from wastesort_api.errors import ApiError
from wastesort_api.state import AppState

_bearer = HTTPBearer(auto_error=False, description="admin token (WASTESORT_API__ADMIN_TOKEN)")


def get_state(request: Request) -> AppState:
    return request.app.state.ws


StateDep = Annotated[AppState, Depends(get_state)]


UNAUTHORIZED = "admin endpoints need 'Authorization: Bearer <admin token>'"


def token_matches(expected: str | None, given: str) -> bool:
    """Constant-time check; ``expected`` is None only when open admin was allowed explicitly."""
    return expected is None or hmac.compare_digest(given.encode(), expected.encode())


def require_admin(state: StateDep,
                  creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> None:
    if not token_matches(state.settings.api.admin_token, creds.credentials if creds else ""):
        raise ApiError(401, "unauthorized", UNAUTHORIZED, headers={"WWW-Authenticate": "Bearer"})


AdminDep = Depends(require_admin)
