"""Request size and body-read deadline for the hub's HTTP edges (read API and callback endpoint).

An ASGI middleware, so no route can forget it: a body larger than the limit is answered 413 before any
route sees it, from its declared Content-Length when there is one, or counted as it streams (nothing is
read past the limit); a body still arriving after ``read_timeout_s`` is answered 408, so a client that
trickles bytes cannot hold a connection open. Bodies within both are handed to the app unchanged.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["BodyLimit"]


def _default_reply(path: str, max_bytes: int) -> dict[str, Any]:
    return {"detail": f"request body larger than {max_bytes} bytes"}


class BodyLimit:
    def __init__(
        self,
        app: ASGIApp,
        max_bytes: int,
        reply: Callable[[str, int], dict[str, Any]] = _default_reply,
        read_timeout_s: float = 10.0,
    ) -> None:
        self.app, self.max_bytes, self.reply, self.read_timeout_s = app, max_bytes, reply, read_timeout_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(scope, receive, send)
            return
        body, more = bytearray(), True
        try:
            async with asyncio.timeout(self.read_timeout_s):
                while more:
                    message = await receive()
                    if message["type"] != "http.request":
                        return  # the client went away
                    body += message.get("body", b"")
                    more = message.get("more_body", False)
                    if len(body) > self.max_bytes:
                        await self._refuse(scope, receive, send)
                        return
        except TimeoutError:
            late = JSONResponse({"detail": f"request body not received within {self.read_timeout_s:g} s"}, 408)
            await late(scope, receive, send)
            return
        handed = False

        async def replay() -> Message:
            nonlocal handed
            if handed:
                return await receive()
            handed = True
            return {"type": "http.request", "body": bytes(body), "more_body": False}

        await self.app(scope, replay, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = JSONResponse(self.reply(scope.get("path", ""), self.max_bytes), status_code=413)
        await response(scope, receive, send)
