"""The decision log's lean `PutRecordBatch` client: the same request and answers as boto3's, against moto's server
and a stub that answers what moto never does (throttling, 5xx, a closed port)."""

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

from container.decision_log import Counters, DeliveryError, FirehoseSink, _retryable
from container.firehose import FirehoseClient, batch_body, error_code

FAKE = {"region_name": "us-east-1", "aws_access_key_id": "test", "aws_secret_access_key": "test"}


def _session() -> boto3.Session:
    return boto3.Session(**FAKE)


def test_the_body_is_the_json_boto3_sends() -> None:
    records = [b'{"event_id":"a"}\n', "\u00e9\u4e2d\n".encode(), b"\x00\xff binary"]
    body = json.loads(batch_body('odd "stream"', records))
    assert body == {
        "DeliveryStreamName": 'odd "stream"',
        "Records": [{"Data": base64.b64encode(r).decode()} for r in records],
    }


@pytest.mark.parametrize(
    ("status", "headers", "body", "expected"),
    [
        (400, {}, b'{"__type":"ThrottlingException","message":"slow down"}', ("ThrottlingException", "slow down")),
        (
            400,
            {},
            b'{"__type":"com.amazonaws.firehose#ResourceNotFoundException","Message":"no"}',
            ("ResourceNotFoundException", "no"),
        ),
        (
            503,
            {"x-amzn-ErrorType": "ServiceUnavailableException:http://x"},
            b"",
            ("ServiceUnavailableException", "HTTP 503"),
        ),
        (502, {}, b"<html>bad gateway</html>", ("InternalFailure", "HTTP 502")),
        (418, {}, b"", ("HTTP418", "HTTP 418")),
    ],
)
def test_error_codes_are_read_as_botocore_reads_them(
    status: int, headers: dict[str, str], body: bytes, expected: tuple[str, str]
) -> None:
    assert error_code(status, headers, body) == expected


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    firehose_to_s3(endpoint, "lean-lake", "lean-decisions")
    yield endpoint
    server.stop()


def test_records_land_byte_for_byte_through_moto(moto_endpoint: str) -> None:
    client = FirehoseClient(_session(), endpoint_url=moto_endpoint)
    records = [(json.dumps({"event_id": f"e{i}", "text": "\u00e9" * i}) + "\n").encode() for i in range(500)]
    answer = client.put_record_batch(DeliveryStreamName="lean-decisions", Records=[{"Data": r} for r in records])
    assert answer["FailedPutCount"] == 0 and len(answer["RequestResponses"]) == 500
    s3 = boto3.client("s3", endpoint_url=moto_endpoint, **FAKE)
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket="lean-lake", Prefix="decisions/")["Contents"]]
    landed = b"".join(s3.get_object(Bucket="lean-lake", Key=k)["Body"].read() for k in keys)
    assert landed == b"".join(records)


def test_a_missing_stream_is_a_client_error_the_sink_does_not_retry(moto_endpoint: str) -> None:
    client = FirehoseClient(_session(), endpoint_url=moto_endpoint)
    with pytest.raises(ClientError) as raised:
        client.put_record_batch(DeliveryStreamName="nope", Records=[{"Data": b"x\n"}])
    assert raised.value.response["Error"]["Code"] == "ResourceNotFoundException"
    assert not _retryable(raised.value)
    sink = FirehoseSink(client, "nope", Counters())
    with pytest.raises(DeliveryError, match="nope"):
        sink.deliver([b"x\n"], threading.Event())


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


def test_throttling_then_partial_failure_then_success_delivers_each_record_once() -> None:
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
        client = FirehoseClient(_session(), endpoint_url=f"http://127.0.0.1:{server.server_port}")
        counters = Counters()
        FirehoseSink(client, "lean-decisions", counters, base_delay=0.001).deliver(
            [b"a\n", b"b\n", b"c\n"], threading.Event()
        )
    finally:
        server.shutdown()
    bodies = [json.loads(body) for _, body in _Stub.seen]
    sent = [[base64.b64decode(r["Data"]) for r in body["Records"]] for body in bodies]
    assert sent == [[b"a\n", b"b\n", b"c\n"]] * 3 + [[b"b\n"]]  # the whole batch while throttled, then b alone
    assert counters.retried == 3 + 3 + 1
    headers = _Stub.seen[0][0]
    assert headers["X-Amz-Target"] == "Firehose_20150804.PutRecordBatch"
    assert headers["Content-Type"] == "application/x-amz-json-1.1"
    assert headers["Authorization"].startswith("AWS4-HMAC-SHA256 Credential=test/")
    assert "/us-east-1/firehose/aws4_request" in headers["Authorization"]


def test_a_closed_port_is_a_retryable_connection_error() -> None:
    client = FirehoseClient(_session(), endpoint_url=f"http://127.0.0.1:{free_port()}")
    with pytest.raises(ConnectionError) as raised:
        client.put_record_batch(DeliveryStreamName="lean-decisions", Records=[{"Data": b"x\n"}])
    assert _retryable(raised.value)


def test_no_credentials_is_said_at_start(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    with pytest.raises(ValueError, match="no AWS credentials"):
        FirehoseClient(boto3.Session(region_name="us-east-1"))
