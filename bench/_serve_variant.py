"""`python -m bench._serve_variant SERVER CLIENT`: `container serve` with its HTTP server or Firehose client swapped.

SERVER is `uvicorn` (what `container/serving/server.py` runs: uvicorn with httptools and uvloop, the decision app as a
minimal ASGI app) or `handwritten` (`bench/_handwritten_server.py`: asyncio + uvloop + httptools, the server `serve`
ran before); CLIENT is `boto3` (the decision log's boto3 Firehose client) or `lean` (`bench/_lean_firehose.py`, the
hand-written `PutRecordBatch` client it used before). Everything else is `container.serving.serve.main`: the same
pre-forked workers on one socket, the same decision logger, the same SIGTERM handling and flush.
"""

from __future__ import annotations

import socket
import sys
from typing import Any

from container.serving import decision_log, serve
from container.serving.app import DecisionApp


def handwritten_serve_app(app: DecisionApp, sock: socket.socket) -> None:
    from bench import _handwritten_server

    _handwritten_server.run(_handwritten_server.Server(app.handle, sock))


def lean_firehose_client(session: Any) -> Any:
    from bench._lean_firehose import FirehoseClient

    return FirehoseClient(session)


def main(argv: list[str]) -> int:
    server, client = argv
    if server == "handwritten":
        serve.serve_app = handwritten_serve_app
    elif server != "uvicorn":
        raise SystemExit(f"unknown server {server!r}: handwritten or uvicorn")
    if client == "lean":
        decision_log.firehose_client = lean_firehose_client
    elif client != "boto3":
        raise SystemExit(f"unknown Firehose client {client!r}: boto3 or lean")
    return serve.main()


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
