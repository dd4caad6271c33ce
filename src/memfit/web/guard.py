"""The request guard, an ASGI middleware that runs before anything else: the ``Host`` check (against DNS
rebinding), the body cap (413, by ``Content-Length`` and by the bytes that arrive) and the security headers on
every response."""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from typing import Any

__all__ = ["CSP", "Guard"]

CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
       "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'")

Receive = Callable[[], Awaitable[Any]]
Send = Callable[[Any], Awaitable[None]]


class Guard:
    """ASGI middleware, outermost: the ``Host`` check, the body cap and the security headers."""

    def __init__(self, app: Any, max_bytes: int, allowed_hosts: Sequence[str] | None) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.hosts = None if allowed_hosts is None else {h.strip("[]").lower() for h in allowed_hosts}

    async def __call__(self, scope: MutableMapping[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        if self.hosts is not None:
            host = headers.get(b"host", b"").decode("latin-1")
            name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
            if name.strip("[]").lower() not in self.hosts:
                await send_json(send, 421, {"error": f"Host {host[:100]!r} is not served here; open the address "
                                                     "that 'memfit serve' printed"})
                return
        send_with_headers = _with_headers(send, time.perf_counter())
        if scope.get("method") in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send_with_headers)
            return
        declared = headers.get(b"content-length")
        if declared is not None:
            try:
                size = int(declared)
            except ValueError:
                await send_json(send, 400, {"error": "the Content-Length header is not a number"})
                return
            if size > self.max_bytes:
                await send_json(send, 413, _too_large(self.max_bytes, size))
                return
        body = await _read_body(receive, send, self.max_bytes)
        if body is None:
            return
        await self.app(scope, _replay(body, receive), send_with_headers)


def _with_headers(send: Send, started: float) -> Send:
    """``send``, adding the security headers (and the CSP on HTML) and the time taken to the response head."""

    async def send_with_headers(message: MutableMapping[str, Any]) -> None:
        if message["type"] == "http.response.start":
            took = (time.perf_counter() - started) * 1000
            extra = [(b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"no-referrer"),
                     (b"server-timing", f"app;dur={took:.3f}".encode())]
            if any(k == b"content-type" and v.startswith(b"text/html") for k, v in message.get("headers", [])):
                extra.append((b"content-security-policy", CSP.encode()))
            message["headers"] = [*message.get("headers", []), *extra]
        await send(message)

    return send_with_headers


async def _read_body(receive: Receive, send: Send, max_bytes: int) -> bytes | None:
    """The whole body, or None when the client left or the body passed ``max_bytes`` (a 413 is sent)."""
    chunks: list[bytes] = []
    total = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunk = message.get("body", b"")
        total += len(chunk)
        if total > max_bytes:
            await send_json(send, 413, _too_large(max_bytes, None))
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that hands the app the body already read, then defers to the real one (disconnects)."""
    replayed = False

    async def replay() -> Any:
        nonlocal replayed
        if not replayed:
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


def _too_large(limit: int, size: int | None) -> dict[str, Any]:
    got = f" ({size:,} bytes declared)" if size is not None else ""
    return {"error": f"request body too large{got}: the limit is {limit:,} bytes; a config.json is far smaller"}


async def send_json(send: Send, status: int, doc: dict[str, Any]) -> None:
    """A complete JSON response, sent straight to the client (the connection is closed after it)."""
    body = json.dumps(doc).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            (b"x-content-type-options", b"nosniff"), (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})
