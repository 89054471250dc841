"""The hand-written HTTP/1.1 server `serve` ran on before uvicorn (asyncio, uvloop, httptools' parser): kept for
`bench/serve_compare.py`, which measures both with the same decision app in one run (`docs/benchmarks.md`).

Keep-alive and pipelining (in order), bounded URL, headers and body, malformed requests answered 400 and closed,
write backpressure, idle timeout, graceful drain on SIGTERM: the contract `container/serving/server.py` keeps.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
import sys
import time
import traceback
from collections.abc import Callable
from http import HTTPStatus

import httptools

from container.serving.invocations import MAX_BODY_BYTES, InvalidRequest

Handler = Callable[[str, str, "bytes | InvalidRequest"], tuple[int, bytes]]
MAX_URL_BYTES = 8 * 1024
MAX_HEADER_BYTES = 64 * 1024
IDLE_TIMEOUT_SECONDS = 75.0  # longer than SageMaker's 60 s front-end idle timeout: the client closes first
DRAIN_SECONDS = 30.0
_REASONS = {status.value: status.phrase.encode() for status in HTTPStatus}
_MALFORMED = b'{"error":"malformed HTTP request","field":"request"}'


def _response(status: int, body: bytes, keep_alive: bool, head: bool = False) -> bytes:
    """Status line, headers and body as one write (one syscall, no Nagle interplay)."""
    connection = b"" if keep_alive else b"connection: close\r\n"
    return b"HTTP/1.1 %d %s\r\ncontent-type: application/json\r\ncontent-length: %d\r\n%s\r\n%s" % (
        status,
        _REASONS.get(status, b"Unknown"),
        len(body),
        connection,
        b"" if head else body,
    )


class HttpProtocol(asyncio.Protocol):
    """One connection: parse requests with httptools, answer each with the handler, in order."""

    def __init__(self, handler: Handler, server: Server) -> None:
        self._handler = handler
        self._server = server
        self._parser = httptools.HttpRequestParser(self)
        self._transport: asyncio.Transport | None = None
        self._url = b""
        self._header_bytes = 0
        self._body: list[bytes] = []
        self._body_size = 0
        self._too_large = False
        self._in_request = False
        self.last_active = time.monotonic()

    # -- asyncio ---------------------------------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]
        self._server.connections.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self._server.connections.discard(self)
        self._transport = None

    def data_received(self, data: bytes) -> None:
        self.last_active = time.monotonic()
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._fail()
        except httptools.HttpParserError:
            self._fail()

    def pause_writing(self) -> None:
        if self._transport is not None:
            self._transport.pause_reading()  # a client that does not read its answers stops being read

    def resume_writing(self) -> None:
        if self._transport is not None:
            self._transport.resume_reading()

    # -- httptools callbacks -----------------------------------------------------------------------------------------

    def on_message_begin(self) -> None:
        self._in_request = True
        self._url = b""
        self._header_bytes = 0
        self._body = []
        self._body_size = 0
        self._too_large = False

    def on_url(self, url: bytes) -> None:
        self._url += url
        if len(self._url) > MAX_URL_BYTES:
            raise httptools.HttpParserError("URL too long")

    def on_header(self, name: bytes, value: bytes) -> None:
        self._header_bytes += len(name) + len(value)
        if self._header_bytes > MAX_HEADER_BYTES:
            raise httptools.HttpParserError("headers too large")
        if name.lower() == b"content-length" and value.strip().isdigit() and int(value) > MAX_BODY_BYTES:
            self._too_large = True

    def on_body(self, body: bytes) -> None:
        if self._too_large:
            return
        self._body_size += len(body)
        if self._body_size > MAX_BODY_BYTES:
            self._too_large = True
            self._body = []
        else:
            self._body.append(body)

    def on_message_complete(self) -> None:
        self._in_request = False
        method = self._parser.get_method().decode("latin-1")
        keep_alive = self._parser.should_keep_alive() and not self._server.closing
        body: bytes | InvalidRequest = (
            InvalidRequest("body", f"is over {MAX_BODY_BYTES} bytes") if self._too_large else b"".join(self._body)
        )
        path = httptools.parse_url(self._url).path.decode("latin-1")
        try:
            status, payload = self._handler(method, path, body)
        except Exception:  # a bug, not bad input (validation is pure and total): 500, logged, connection kept
            traceback.print_exc(file=sys.stderr)
            status, payload = 500, b'{"error":"internal error","field":null}'
        if self._too_large:
            keep_alive = False  # the rest of an oversized body would be read as the next request
        if self._transport is None or self._transport.is_closing():
            return
        self._transport.write(_response(status, payload, keep_alive, head=method == "HEAD"))
        if not keep_alive:
            self._transport.close()

    # -- helpers -----------------------------------------------------------------------------------------------------

    def _fail(self) -> None:
        if self._transport is not None and not self._transport.is_closing():
            self._transport.write(_response(400, _MALFORMED, keep_alive=False))
            self._transport.close()

    def abort(self) -> None:
        if self._transport is not None:
            self._transport.abort()

    def close_if_idle(self, now: float, idle_after: float) -> None:
        """Close between requests: at shutdown (idle_after=0) or after the keep-alive idle timeout."""
        if self._transport is not None and not self._in_request and now - self.last_active >= idle_after:
            self._transport.close()


class Server:
    """Serves `handler` on an already bound socket until SIGTERM/SIGINT, then drains connections."""

    def __init__(self, handler: Handler, sock: socket.socket) -> None:
        self.handler = handler
        self.sock = sock
        self.connections: set[HttpProtocol] = set()
        self.closing = False
        self.running = False
        self._stop: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def request_stop(self) -> None:
        """Thread-safe: begin the graceful shutdown."""
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)

    async def serve(self, install_signal_handlers: bool = True) -> None:
        """Accept until stopped; then stop accepting, close idle connections and wait for the rest to finish."""
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        if install_signal_handlers:
            for signum in (signal.SIGTERM, signal.SIGINT):
                self._loop.add_signal_handler(signum, self._stop.set)
        server = await self._loop.create_server(lambda: HttpProtocol(self.handler, self), sock=self.sock)
        sweeper = self._loop.create_task(self._sweep())
        self.running = True
        await self._stop.wait()
        self.closing = True
        server.close()  # no new connections; answers in progress finish (a decision is answered synchronously)
        sweeper.cancel()
        deadline = time.monotonic() + DRAIN_SECONDS
        while self.connections and time.monotonic() < deadline:
            now = time.monotonic()
            for connection in list(self.connections):
                connection.close_if_idle(now, 0.0)
            await asyncio.sleep(0.01)
        for connection in list(self.connections):  # a client that stalled mid-request past the drain time
            connection.abort()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(server.wait_closed(), 5.0)

    async def _sweep(self) -> None:
        while True:
            await asyncio.sleep(5.0)
            now = time.monotonic()
            for connection in list(self.connections):
                connection.close_if_idle(now, IDLE_TIMEOUT_SECONDS)


def run(server: Server, install_signal_handlers: bool = True) -> None:
    """Run the server in this thread (uvloop when installed) until SIGTERM/SIGINT or `request_stop()`."""
    try:
        import uvloop
    except ImportError:
        asyncio.run(server.serve(install_signal_handlers))
    else:
        uvloop.run(server.serve(install_signal_handlers))
