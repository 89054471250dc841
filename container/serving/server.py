"""`serve`'s HTTP layer: uvicorn (httptools' parser, uvloop) running the decision handler as a minimal ASGI app.

uvicorn replaced a hand-written asyncio + httptools server when a same-run benchmark did not show that one 1.5x
faster (`bench/serve_compare.py`, `docs/benchmarks.md`). What this endpoint adds to uvicorn's defaults, as the
hand-written server did: URL, headers and body bounded (400, connection closed), a malformed request answered with
the JSON error body, a handler bug answered 500 with the connection kept, a keep-alive idle timeout longer than
SageMaker's 60 s that also ends a half-sent request, and on SIGTERM a drain bounded by `DRAIN_SECONDS` that returns
to the caller (which then flushes the decision log) instead of re-raising the signal.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
import sys
import threading
import traceback
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import httptools
import uvicorn
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from container.serving.invocations import MAX_BODY_BYTES, InvalidRequest

Handler = Callable[[str, str, "bytes | InvalidRequest"], tuple[int, bytes]]
AsyncHandler = Callable[[str, str, "bytes | InvalidRequest"], Awaitable[tuple[int, bytes]]]
Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
MAX_URL_BYTES = 8 * 1024
MAX_HEADER_BYTES = 64 * 1024
IDLE_TIMEOUT_SECONDS = 75  # longer than SageMaker's 60 s front-end idle timeout: the client closes first
DRAIN_SECONDS = 30.0
_MALFORMED = b'{"error":"malformed HTTP request","field":"request"}'
_INTERNAL = b'{"error":"internal error","field":null}'
_JSON = (b"content-type", b"application/json")
_CLOSE = (b"connection", b"close")


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with bounded URL and headers, a JSON body on its 400 for malformed input, and
    a half-sent request timed out like an idle connection.

    uvicorn arms its keep-alive timer only after a response and cancels it on the next byte, so a connection that
    never completes its first request, or stops halfway through the headers or the body of a later one, would hold
    its slot forever. Here a request timer (the keep-alive timeout) runs from the connection's start, or from the
    first byte of a request that one read did not complete, until the request is complete; when it fires, the
    connection is closed. A request that arrives whole in one read never arms it (no cost on the fast path)."""

    _header_bytes = 0
    _in_message = False
    _request_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_request_timer()  # until its first request is complete, a new connection is an idle one

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self._in_message and self._request_timer is None and not self.transport.is_closing():
            self._arm_request_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_request_timer()
        super().connection_lost(exc)

    def _arm_request_timer(self) -> None:
        self._request_timer = self.loop.call_later(self.timeout_keep_alive, self._request_timed_out)

    def _cancel_request_timer(self) -> None:
        if self._request_timer is not None:
            self._request_timer.cancel()
            self._request_timer = None

    def _request_timed_out(self) -> None:
        self._request_timer = None
        if not self.transport.is_closing():
            self.transport.close()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._header_bytes = 0
        self._in_message = True

    def on_message_complete(self) -> None:
        self._in_message = False
        self._cancel_request_timer()
        super().on_message_complete()

    def on_url(self, url: bytes) -> None:
        super().on_url(url)
        if len(self.url) > MAX_URL_BYTES:
            raise httptools.HttpParserError("URL too long")

    def on_header(self, name: bytes, value: bytes) -> None:
        self._header_bytes += len(name) + len(value)
        if self._header_bytes > MAX_HEADER_BYTES:
            raise httptools.HttpParserError("headers too large")
        super().on_header(name, value)

    def send_400_response(self, msg: str) -> None:
        head = STATUS_LINE[400] + b"content-type: application/json\r\ncontent-length: %d\r\n" % len(_MALFORMED)
        self.transport.write(head + b"connection: close\r\n\r\n" + _MALFORMED)
        self.transport.close()


def _declared_length(scope: Scope) -> int:
    for name, value in scope["headers"]:
        if name == b"content-length" and value.strip().isdigit():
            return int(value)
    return 0


def asgi_app(handler: Handler | AsyncHandler) -> Callable[[Scope, Receive, Send], Awaitable[None]]:
    """The handler as ASGI: the body read whole (kept up to `MAX_BODY_BYTES`), the answer as JSON. A coroutine
    handler is awaited (other requests go on meanwhile); a plain one is called in the loop (no task switch)."""
    awaited = asyncio.iscoroutinefunction(handler)

    async def application(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        # An oversized body is still read to its end (and dropped): closing with unread bytes would reset the
        # connection before the client reads the 400.
        too_large = _declared_length(scope) > MAX_BODY_BYTES
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            too_large = too_large or size > MAX_BODY_BYTES
            if chunk and not too_large:
                chunks.append(chunk)
            if not message.get("more_body"):
                break
        body: bytes | InvalidRequest = (
            InvalidRequest("body", f"is over {MAX_BODY_BYTES} bytes") if too_large else b"".join(chunks)
        )
        try:
            if awaited:
                status, payload = await handler(scope["method"], scope["path"], body)  # type: ignore[misc]
            else:
                status, payload = handler(scope["method"], scope["path"], body)  # type: ignore[misc]
        except Exception:  # a bug, not bad input (validation is pure and total): 500, logged, connection kept
            traceback.print_exc(file=sys.stderr)
            status, payload = 500, _INTERNAL
        headers = [_JSON, (b"content-length", b"%d" % len(payload))]
        if too_large:
            headers.append(_CLOSE)  # the rest of an oversized body would be read as the next request
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": payload})

    return application


class _Uvicorn(uvicorn.Server):
    """uvicorn's server; on SIGTERM/SIGINT it drains and returns (uvicorn alone re-raises the signal afterwards,
    which with the default action would end the worker before its decision log is flushed)."""

    def __init__(self, config: uvicorn.Config, install_signal_handlers: bool) -> None:
        super().__init__(config)
        self.install_signal_handlers = install_signal_handlers

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        if not self.install_signal_handlers or threading.current_thread() is not threading.main_thread():
            yield
            return
        previous = {signum: signal.signal(signum, self.handle_exit) for signum in (signal.SIGTERM, signal.SIGINT)}
        try:
            yield
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)


class Server:
    """Serves `handler` on an already bound socket until SIGTERM/SIGINT or `request_stop()`, then drains."""

    def __init__(
        self, handler: Handler | AsyncHandler, sock: socket.socket, idle_timeout: float = IDLE_TIMEOUT_SECONDS
    ) -> None:
        self.handler = handler
        self.sock = sock
        self.idle_timeout = idle_timeout
        self._uvicorn: _Uvicorn | None = None

    @property
    def running(self) -> bool:
        return self._uvicorn is not None and self._uvicorn.started

    def request_stop(self) -> None:
        """Thread-safe: begin the graceful shutdown (uvicorn checks the flag every 0.1 s)."""
        if self._uvicorn is not None:
            self._uvicorn.should_exit = True

    def serve_forever(self, install_signal_handlers: bool = True) -> None:
        config = uvicorn.Config(
            asgi_app(self.handler),
            http=BoundedHttpToolsProtocol,
            loop="uvloop",
            lifespan="off",
            access_log=False,
            log_level="warning",
            server_header=False,
            date_header=False,
            timeout_keep_alive=self.idle_timeout,  # type: ignore[arg-type]  # a float works: loop.call_later
            timeout_graceful_shutdown=DRAIN_SECONDS,  # type: ignore[arg-type]  # a float works: asyncio.wait_for
        )
        self._uvicorn = _Uvicorn(config, install_signal_handlers)
        self._uvicorn.run(sockets=[self.sock])


def run(server: Server, install_signal_handlers: bool = True) -> None:
    """Run the server in this thread until SIGTERM/SIGINT or `request_stop()`."""
    server.serve_forever(install_signal_handlers)
