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


def require_admin(state: StateDep,
                  creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> None:
    token = state.settings.api.admin_token
    if token is None:  # only reachable when allow_open_admin was set explicitly
        return
    given = creds.credentials if creds else ""
    if not hmac.compare_digest(given.encode(), token.encode()):
        raise ApiError(401, "unauthorized", "admin endpoints need 'Authorization: Bearer <admin token>'",
                       headers={"WWW-Authenticate": "Bearer"})


AdminDep = Depends(require_admin)
