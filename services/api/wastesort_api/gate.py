"""The door every request passes before FastAPI reads its body.

FastAPI parses a JSON body before it runs dependencies, so the admin check of a route comes after the
parse: a 30 MB JSON array to /v1/change cost seconds of event-loop time without a token. Here, before
one body byte is read: only upload routes get the upload-sized limit (others 64 KiB), and a POST to
anything but an upload route (they are all admin routes) needs the admin token. A method no route
takes is not an admin request: it goes on to the router for its 405 (or 404), body still bounded.
"""

from __future__ import annotations

from collections.abc import Sequence

from starlette.routing import BaseRoute, Match, Mount
from starlette.types import ASGIApp, Receive, Scope, Send

from wastesort_api import errors
from wastesort_api.deps import UNAUTHORIZED, token_matches

UPLOAD_PATHS = frozenset({"/v1/predict", "/predict"})  # public, and the only routes that take files
SMALL_BODY = 64 * 1024


def _bearer(scope: Scope) -> str:
    value = dict(scope["headers"]).get(b"authorization", b"").decode("latin-1")
    scheme, _, token = value.partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


class RequestGate:
    def __init__(self, app: ASGIApp, *, upload_bytes: int, admin_token: str | None, routes: Sequence[BaseRoute]):
        self.app, self.upload_bytes, self.admin_token = app, upload_bytes, admin_token
        self.routes = routes

    def _routed(self, scope: Scope) -> bool:
        """True when a route takes this exact path and method (the router's own matcher, no copy of it).

        Mounts (static files) match any method, so they are not routes an admin token could unlock."""
        return any(not isinstance(r, Mount) and r.matches(scope)[0] == Match.FULL for r in self.routes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        upload = scope["path"] in UPLOAD_PATHS
        if (scope["method"] == "POST" and not upload and self._routed(scope)
                and not token_matches(self.admin_token, _bearer(scope))):
            return await _answer(send, 401, "unauthorized", UNAUTHORIZED, [(b"www-authenticate", b"Bearer")])
        limit = self.upload_bytes if upload else SMALL_BODY
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > limit):
            return await _too_large(send, limit)
        seen, over = 0, False

        async def limited() -> dict:
            nonlocal seen, over
            if over:
                return {"type": "http.request", "body": b"", "more_body": False}
            msg = await receive()
            if msg["type"] == "http.request":
                seen += len(msg.get("body", b""))
                if seen > limit:  # stop reading: end the body here, answer 413 below
                    over = True
                    return {"type": "http.request", "body": b"", "more_body": False}
            return msg

        async def guarded_send(msg: dict) -> None:
            if not over:
                await send(msg)
            elif msg["type"] == "http.response.start":
                await _too_large(send, limit)

        await self.app(scope, limited, guarded_send)


async def _too_large(send: Send, limit: int) -> None:
    await _answer(send, 413, "too_large", f"request body over {limit} bytes")


async def _answer(send: Send, status: int, code: str, message: str,
                  headers: list[tuple[bytes, bytes]] | None = None) -> None:
    resp = errors.error_response(status, code, message)
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(resp.body)).encode()), *(headers or [])]})
    await send({"type": "http.response.body", "body": resp.body})
