"""The InvokeEndpoint router's keep-alive HTTP connections to one serving process, and when a failed request may be
sent again (only when it cannot have reached the container)."""

from __future__ import annotations

import http.client
import threading


def _closed_while_idle(error: BaseException) -> bool:
    """A pooled keep-alive connection the server had closed: the request never reached it, so a retry is safe.

    Anything else (a timeout above all) may come after the server acted on the request: a decision made and logged
    that the client never sees. Retrying that served the client a second decision and left the first in the log.
    """
    return isinstance(error, (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError))


class ConnectionPool:
    """Keep-alive HTTP connections to one serving process (one per concurrent caller, reused)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self._idle: list[http.client.HTTPConnection] = []
        self._lock = threading.Lock()

    def request(
        self, method: str, path: str, body: bytes | None, headers: dict[str, str], timeout: float
    ) -> tuple[int, dict[str, str], bytes]:
        for attempt in range(2):
            with self._lock:
                conn = self._idle.pop() if self._idle else None
            fresh = conn is None
            if conn is None:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
            else:  # this call's timeout, not the one of the call that opened it (a 2 s health check)
                conn.timeout = timeout
                if conn.sock is not None:
                    conn.sock.settimeout(timeout)
            try:
                conn.request(method, path, body=body, headers=headers)
                response = conn.getresponse()
                data = response.read()
                result = (response.status, {k: v for k, v in response.getheaders()}, data)
            except (OSError, http.client.HTTPException) as error:
                conn.close()
                if fresh or attempt == 1 or not _closed_while_idle(error):
                    raise
                continue  # a pooled connection the server closed meanwhile: one retry on a fresh one
            if response.will_close:
                conn.close()
            else:
                with self._lock:
                    self._idle.append(conn)
            return result
        raise OSError("unreachable")

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()
