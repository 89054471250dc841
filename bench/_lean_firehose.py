"""The hand-written `PutRecordBatch` client the decision log used until boto3's replaced it: kept for
`bench/serve_compare.py`, which measures both in one run (the decision and its figures: `docs/benchmarks.md`).

It wrote the JSON body in one pass, signed it with botocore's SigV4 signer and credentials, sent it over a pooled
keep-alive urllib3 connection and read the answer with orjson, answering like boto3's `put_record_batch` and raising
`botocore.exceptions.ClientError` for service errors, so `container.core.producer.FirehoseProducer` treats both
alike.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from typing import Any

import orjson
import urllib3
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.exceptions import ClientError

TARGET = "Firehose_20150804.PutRecordBatch"
CONTENT_TYPE = "application/x-amz-json-1.1"
CONNECT_SECONDS = 5.0
READ_SECONDS = 30.0


def batch_body(stream: str, records: Sequence[bytes]) -> bytes:
    """The request body: `{"DeliveryStreamName": ..., "Records": [{"Data": <base64>}, ...]}`."""
    b64 = base64.b64encode
    data = b'"},{"Data":"'.join(b64(record) for record in records)
    return b'{"DeliveryStreamName":%s,"Records":[{"Data":"%s"}]}' % (orjson.dumps(stream), data)


def error_code(status: int, headers: Any, body: bytes) -> tuple[str, str]:
    """The AWS JSON protocol's error code and message (`__type` may be prefixed `namespace#Code`)."""
    code = ""
    message = f"HTTP {status}"
    try:
        parsed = orjson.loads(body) if body else {}
    except orjson.JSONDecodeError:
        parsed = {}
    if isinstance(parsed, dict):
        code = str(parsed.get("__type") or parsed.get("code") or "")
        message = str(parsed.get("message") or parsed.get("Message") or message)
    code = code or str(headers.get("x-amzn-ErrorType", "") or "")
    code = code.split("#")[-1].split(":")[0]
    if not code:
        code = "InternalFailure" if status >= 500 else f"HTTP{status}"
    return code, message


class FirehoseClient:
    """`put_record_batch(DeliveryStreamName=..., Records=[{"Data": bytes}, ...])` as boto3 answers it.

    Built from a boto3 session: its credentials, region and resolved Firehose endpoint (which honours
    `AWS_ENDPOINT_URL`), so it goes where a boto3 client would, signed as a boto3 client would sign.
    """

    def __init__(self, session: Any, endpoint_url: str | None = None, region: str | None = None) -> None:
        resolved = session.client("firehose", endpoint_url=endpoint_url, region_name=region)
        self.endpoint_url: str = resolved.meta.endpoint_url
        self.region: str = resolved.meta.region_name
        self._credentials = session.get_credentials()
        if self._credentials is None:
            raise ValueError("no AWS credentials found for the decision log's Firehose client")
        self._pool = urllib3.PoolManager(
            num_pools=1, maxsize=1, retries=False, timeout=urllib3.Timeout(connect=CONNECT_SECONDS, read=READ_SECONDS)
        )

    def _signed_headers(self, body: bytes) -> dict[str, str]:
        request = AWSRequest(
            method="POST",
            url=self.endpoint_url,
            data=body,
            headers={"Content-Type": CONTENT_TYPE, "X-Amz-Target": TARGET},
        )
        SigV4Auth(self._credentials.get_frozen_credentials(), "firehose", self.region).add_auth(request)
        return dict(request.headers.items())

    def put_record_batch(self, DeliveryStreamName: str, Records: Sequence[dict[str, bytes]]) -> dict[str, Any]:
        body = batch_body(DeliveryStreamName, [record["Data"] for record in Records])
        try:
            response = self._pool.urlopen(
                "POST", self.endpoint_url, body=body, headers=self._signed_headers(body), redirect=False
            )
        except urllib3.exceptions.HTTPError as error:  # connection refused, reset, timed out: worth a retry
            raise ConnectionError(f"PutRecordBatch to {self.endpoint_url}: {error}") from error
        if response.status == 200:
            return orjson.loads(response.data)
        code, message = error_code(response.status, response.headers, response.data)
        raise ClientError(
            {"Error": {"Code": code, "Message": message}, "ResponseMetadata": {"HTTPStatusCode": response.status}},
            "PutRecordBatch",
        )
