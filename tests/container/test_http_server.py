"""The lean HTTP/1.1 server at the socket level: pipelining, limits, malformed input, keep-alive and shutdown."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest
from container_helpers import serving

from container.serving.invocations import MAX_BODY_BYTES, InvalidRequest


def _echo(method: str, path: str, body: bytes | InvalidRequest) -> tuple[int, bytes]:
    if isinstance(body, InvalidRequest):
        return 400, b'{"field":"body"}'
    if path == "/boom":
        raise RuntimeError("bug")
    return 200, b'{"method":"%s","path":"%s","size":%d}' % (method.encode(), path.encode(), len(body))


@pytest.fixture
def port() -> Iterator[int]:
    with serving(_echo) as (_, port):
        yield port


def _exchange(port: int, raw: bytes, expect_close: bool = False) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
        conn.sendall(raw)
        data = b""
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            try:
                chunk = conn.recv(65536)
            except TimeoutError:
                break
            if not chunk:
                break
            data += chunk
            if not expect_close and data.count(b"HTTP/1.1") >= raw.count(b"HTTP/1.") and data.endswith(b"}"):
                break
        return data


def test_pipelined_requests_are_answered_in_order(port: int) -> None:
    one = b"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}"
    two = b"GET /b HTTP/1.1\r\nHost: x\r\n\r\n"
    data = _exchange(port, one + two)
    assert data.index(b'"path":"/a"') < data.index(b'"path":"/b"')
    assert data.count(b"HTTP/1.1 200 OK") == 2


def test_malformed_request_gets_400_and_the_connection_closes(port: int) -> None:
    data = _exchange(port, b"NOT-HTTP\r\n\r\n", expect_close=True)
    assert data.startswith(b"HTTP/1.1 400 Bad Request") and b"connection: close" in data
    assert b'"field":"request"' in data


def test_declared_oversized_body_is_refused_and_closed(port: int) -> None:
    head = b"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % (MAX_BODY_BYTES + 1)
    data = _exchange(port, head + b" " * (MAX_BODY_BYTES + 1), expect_close=True)
    assert data.startswith(b"HTTP/1.1 400") and b"connection: close" in data


def test_huge_headers_are_refused(port: int) -> None:
    raw = b"GET /ping HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * (70 * 1024) + b"\r\n\r\n"
    assert _exchange(port, raw, expect_close=True).startswith(b"HTTP/1.1 400")


def test_connection_close_and_http_1_0_are_honoured(port: int) -> None:
    data = _exchange(port, b"GET /x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", expect_close=True)
    assert b"connection: close" in data and data.endswith(b"}")
    data = _exchange(port, b"GET /x HTTP/1.0\r\n\r\n", expect_close=True)
    assert data.startswith(b"HTTP/1.1 200") and b"connection: close" in data


def test_head_has_no_body(port: int) -> None:
    data = _exchange(port, b"HEAD /ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", expect_close=True)
    assert data.endswith(b"\r\n\r\n") and b"content-length: " in data


def test_a_handler_bug_is_a_500_and_the_server_keeps_serving(port: int) -> None:
    data = _exchange(port, b"GET /boom HTTP/1.1\r\nHost: x\r\n\r\nGET /ok HTTP/1.1\r\nHost: x\r\n\r\n")
    assert data.startswith(b"HTTP/1.1 500") and b'"path":"/ok"' in data


def test_idle_keep_alive_connections_are_closed_at_shutdown() -> None:
    with serving(_echo) as (server, port):
        client = socket.create_connection(("127.0.0.1", port), timeout=5)
        client.sendall(b"GET /x HTTP/1.1\r\nHost: x\r\n\r\n")
        assert client.recv(65536).startswith(b"HTTP/1.1 200")
        server.request_stop()
        assert client.recv(65536) == b""  # the server closed the idle connection
        client.close()


def test_a_client_stalled_mid_request_does_not_block_shutdown_forever(monkeypatch) -> None:
    import container.serving.server as server_module

    monkeypatch.setattr(server_module, "DRAIN_SECONDS", 0.3)
    with serving(_echo) as (server, port):
        client = socket.create_connection(("127.0.0.1", port), timeout=5)
        client.sendall(b"POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{")  # never finished
        time.sleep(0.1)
        started = time.monotonic()
        server.request_stop()
    assert time.monotonic() - started < 5
    client.close()


def _closed_within(client: socket.socket, seconds: float) -> bool:
    """Whether the server closes `client` within `seconds` (nothing but the close may arrive)."""
    client.settimeout(seconds)
    try:
        return client.recv(65536) == b""
    except TimeoutError:
        return False


@pytest.mark.parametrize(
    "sent",
    [
        b"",  # connected, never sent a byte
        b"POST /x HTTP/1.1\r\nHost: x\r\n",  # headers never completed
        b"POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{",  # body never completed
        b"GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost:",  # a second request cut short
    ],
)
def test_a_half_sent_request_is_timed_out_like_an_idle_connection(sent: bytes) -> None:
    """uvicorn alone times out only an idle connection after a response: a slow client could hold a connection
    (and its file descriptor) forever by never finishing a request."""
    with serving(_echo, idle_timeout=0.5) as (_, port):
        client = socket.create_connection(("127.0.0.1", port), timeout=5)
        client.sendall(sent)
        if sent.startswith(b"GET /a"):
            assert client.recv(65536).startswith(b"HTTP/1.1 200")  # the complete first request is answered
        started = time.monotonic()
        assert _closed_within(client, 5.0)
        assert time.monotonic() - started < 3.0
        client.close()


def test_a_request_that_keeps_arriving_is_not_cut_off_before_the_timeout() -> None:
    """The timer bounds the whole request, not each read: a request completed in time is answered."""
    with serving(_echo, idle_timeout=2.0) as (_, port):
        client = socket.create_connection(("127.0.0.1", port), timeout=5)
        for piece in (b"POST /x HTTP/1.1\r\n", b"Host: x\r\nContent-Length: 2\r\n\r\n", b"{", b"}"):
            client.sendall(piece)
            time.sleep(0.2)
        assert client.recv(65536).startswith(b"HTTP/1.1 200")
        client.close()
