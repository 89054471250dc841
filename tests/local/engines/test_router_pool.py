"""The InvokeEndpoint router's keep-alive pool never sends one invocation twice.

The reliability suite caught it: a connection opened by a 2 s health check was reused for an invocation with the
health check's timeout, timed out while the serving process was busy, and the invocation was sent again on a fresh
connection; the first decision was made and logged, the client got the second one.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from local.engines.sagemaker.pool import ConnectionPool


class _SlowServing(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as `serve` answers
    delay = 0.0
    posts = 0

    def do_GET(self) -> None:
        self._answer(b'{"status":"ok"}')

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        type(self).posts += 1
        time.sleep(type(self).delay)
        self._answer(b'{"action":"a"}')

    def _answer(self, body: bytes) -> None:
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def serving() -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _SlowServing)
    _SlowServing.posts = 0
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


def test_a_connection_opened_by_a_health_check_takes_the_invocations_timeout(serving: ThreadingHTTPServer) -> None:
    pool = ConnectionPool(serving.server_port)
    assert pool.request("GET", "/ping", None, {}, timeout=0.2)[0] == 200  # opens the pooled connection
    _SlowServing.delay = 0.5  # slower than the health check's timeout, well within the invocation's
    status, _, body = pool.request("POST", "/invocations", b"{}", {"Content-Type": "application/json"}, timeout=5.0)
    assert (status, body) == (200, b'{"action":"a"}')
    assert _SlowServing.posts == 1
    pool.close()


def test_a_timed_out_invocation_is_not_sent_again(serving: ThreadingHTTPServer) -> None:
    pool = ConnectionPool(serving.server_port)
    assert pool.request("GET", "/ping", None, {}, timeout=5.0)[0] == 200
    _SlowServing.delay = 0.6
    with pytest.raises(TimeoutError):
        pool.request("POST", "/invocations", b"{}", {"Content-Type": "application/json"}, timeout=0.2)
    time.sleep(0.7)  # a resent request would have arrived by now
    assert _SlowServing.posts == 1
    pool.close()


def test_a_keep_alive_connection_the_server_closed_is_retried_once_on_a_fresh_one(
    serving: ThreadingHTTPServer,
) -> None:
    pool = ConnectionPool(serving.server_port)
    assert pool.request("GET", "/ping", None, {}, timeout=5.0)[0] == 200
    for conn in pool._idle:  # the server side closes the idle connection (its keep-alive timeout)
        conn.sock.shutdown(2)  # type: ignore[union-attr]
    _SlowServing.delay = 0.0
    assert pool.request("POST", "/invocations", b"{}", {"Content-Type": "application/json"}, timeout=5.0)[0] == 200
    assert _SlowServing.posts == 1
    pool.close()
