"""The producers' Firehose client is boto3's (`container.core.producer.firehose_client`): records land byte for byte
through moto's server, and against a stub that answers what moto never does (throttling, 5xx, partial failures, a
closed port) the producer's retry rules hold with botocore's own retries off."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from container_helpers import firehose_to_s3, free_port

from container.core.producer import DeliveryError, FirehoseProducer, RetryPolicy, firehose_client, retryable

FAKE = {"region_name": "us-east-1", "aws_access_key_id": "test", "aws_secret_access_key": "test"}


def _client(endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    """As `serve` builds it: a default session, the endpoint from `AWS_ENDPOINT_URL` (moto or a stub here)."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
    return firehose_client(boto3.Session(**FAKE))


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    firehose_to_s3(endpoint, "log-lake", "log-decisions")
    yield endpoint
    server.stop()


def test_records_land_byte_for_byte_through_moto(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> None:
    client = _client(moto_endpoint, monkeypatch)
    records = [(json.dumps({"event_id": f"e{i}", "text": "\u00e9" * i}) + "\n").encode() for i in range(500)]
    records.append(b"\x00\xff binary\n")  # moto's stream has no delimiter processor: these bring their own
    producer = FirehoseProducer(client, "log-decisions")
    producer.deliver(records)
    assert producer.calls == 2
    s3 = boto3.client("s3", endpoint_url=moto_endpoint, **FAKE)
    keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket="log-lake", Prefix="decisions/")["Contents"])
    landed = b"".join(s3.get_object(Bucket="log-lake", Key=k)["Body"].read() for k in keys)
    assert sorted(landed.splitlines(keepends=True)) == sorted(records)


def test_a_missing_stream_is_a_client_error_the_sink_does_not_retry(
    moto_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = _client(moto_endpoint, monkeypatch)
    with pytest.raises(ClientError) as raised:
        client.put_record_batch(DeliveryStreamName="nope", Records=[{"Data": b"x"}])
    assert raised.value.response["Error"]["Code"] == "ResourceNotFoundException"
    assert not retryable(raised.value)
    with pytest.raises(DeliveryError, match="nope"):
        FirehoseProducer(client, "nope").deliver([b"x"])


class _Stub(BaseHTTPRequestHandler):
    """Answers each POST with the next scripted (status, body), and keeps the requests' headers and bodies."""

    script: list[tuple[int, bytes]] = []
    seen: list[tuple[dict[str, str], bytes]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).seen.append((dict(self.headers.items()), body))
        status, answer = type(self).script.pop(0)
        self.send_response(status)
        self.send_header("Content-Type", "application/x-amz-json-1.1")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args: Any) -> None:
        pass


def test_throttling_then_5xx_then_partial_failure_delivers_each_record_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """One HTTP request per sink attempt (botocore retries nothing itself), the failed record alone resent."""
    server = HTTPServer(("127.0.0.1", 0), _Stub)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    ok = {"RecordId": "r"}
    _Stub.seen = []
    _Stub.script = [
        (400, b'{"__type":"ThrottlingException","message":"Rate exceeded"}'),
        (500, b'{"__type":"InternalFailure"}'),
        (
            200,
            json.dumps(
                {"FailedPutCount": 1, "RequestResponses": [ok, {"ErrorCode": "ServiceUnavailableException"}, ok]}
            ).encode(),
        ),
        (200, json.dumps({"FailedPutCount": 0, "RequestResponses": [ok]}).encode()),
    ]
    try:
        client = _client(f"http://127.0.0.1:{server.server_port}", monkeypatch)
        producer = FirehoseProducer(client, "log-decisions", RetryPolicy(base_delay=0.001))
        producer.deliver([b"a", b"b", b"c"])
    finally:
        server.shutdown()
    bodies = [json.loads(body) for _, body in _Stub.seen]
    sent = [[base64.b64decode(r["Data"]) for r in body["Records"]] for body in bodies]
    assert sent == [[b"a", b"b", b"c"]] * 3 + [[b"b"]]  # the whole batch while throttled, then b alone
    assert producer.resent == 3 + 3 + 1
    headers = _Stub.seen[0][0]
    assert headers["X-Amz-Target"] == "Firehose_20150804.PutRecordBatch"
    assert headers["Authorization"].startswith("AWS4-HMAC-SHA256 Credential=test/")
    assert "/us-east-1/firehose/aws4_request" in headers["Authorization"]


def test_a_closed_port_is_a_retryable_connection_error(monkeypatch: pytest.MonkeyPatch) -> None:
    client = _client(f"http://127.0.0.1:{free_port()}", monkeypatch)
    with pytest.raises(Exception) as raised:
        client.put_record_batch(DeliveryStreamName="log-decisions", Records=[{"Data": b"x"}])
    assert retryable(raised.value), type(raised.value).__name__
