"""In-test HTTP stand-ins: a scripted `/invocations` server and a SageMaker-runtime gateway in front of `serve`."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

Responder = Callable[[str, bytes], tuple[int, bytes]]


@contextmanager
def http_server(respond: Responder) -> Iterator[str]:
    """Serve `respond(path, body) -> (status, body)` for POSTs on a free port; yields the base URL."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            status, payload = respond(self.path, body)
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args: object) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def forward_to(invocations_url: str, endpoint_name: str, seen: list[str]) -> Responder:
    """What the local gateway does for InvokeEndpoint: `POST /endpoints/{name}/invocations` -> serve."""

    def respond(path: str, body: bytes) -> tuple[int, bytes]:
        seen.append(path)
        if path != f"/endpoints/{endpoint_name}/invocations":
            message = {"__type": "ValidationError", "message": f"Endpoint {path} not found"}
            return 400, json.dumps(message).encode()
        request = urllib.request.Request(invocations_url, body, {"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as error:
            return error.code, error.read()

    return respond


def scripted(answers: list[tuple[int, dict]], calls: list[bytes]) -> Responder:
    """Answer POSTs with the given (status, JSON) in turn; the last one repeats."""

    def respond(path: str, body: bytes) -> tuple[int, bytes]:
        calls.append(body)
        status, payload = answers[min(len(calls), len(answers)) - 1]
        return status, json.dumps(payload).encode()

    return respond
