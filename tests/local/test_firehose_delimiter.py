"""Firehose's AppendDelimiterToRecord processor in the local Firehose (Processor, Amazon Data Firehose API Reference).

A producer that forgets its record's newline must not merge its record with the next producer's: with the processor
every record gets a newline at delivery; without it Firehose (and the gateway) concatenate the records as sent.
"""

from __future__ import annotations

import json
import uuid

from local.aws import client
from local.gateway import Gateway


def _stream(gateway: Gateway, bucket: str, prefix: str, processing: dict | None) -> str:
    name = f"delim-{uuid.uuid4().hex[:8]}"
    destination = {
        "BucketARN": f"arn:aws:s3:::{bucket}",
        "RoleARN": "arn:aws:iam::123456789012:role/firehose",
        "Prefix": prefix,
    }
    if processing is not None:
        destination["ProcessingConfiguration"] = processing
    client("firehose", endpoint_url=gateway.url).create_delivery_stream(
        DeliveryStreamName=name, DeliveryStreamType="DirectPut", ExtendedS3DestinationConfiguration=destination
    )
    return name


def _delivered(gateway: Gateway, bucket: str, stream: str, prefix: str) -> bytes:
    firehose = client("firehose", endpoint_url=gateway.url)
    # two producers, neither ends its record with a newline: a decision and a victim's reward
    firehose.put_record_batch(DeliveryStreamName=stream, Records=[{"Data": b'{"event_id":"a","reward":1}'}])
    firehose.put_record(DeliveryStreamName=stream, Record={"Data": b'{"event_id":"b","reward":0}'})
    assert gateway.firehose is not None
    gateway.firehose.flush_all()
    s3 = client("s3", endpoint_url=gateway.url)
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])]
    return b"".join(s3.get_object(Bucket=bucket, Key=key)["Body"].read() for key in sorted(keys))


def test_append_delimiter_processor_keeps_two_producers_records_on_two_lines(gateway: Gateway) -> None:
    bucket = f"delim-{uuid.uuid4().hex[:8]}"
    client("s3", endpoint_url=gateway.url).create_bucket(Bucket=bucket)
    processing = {"Enabled": True, "Processors": [{"Type": "AppendDelimiterToRecord"}]}
    with_processor = _stream(gateway, bucket, "with/", processing)
    body = _delivered(gateway, bucket, with_processor, "with/")
    lines = body.decode().splitlines()
    assert [json.loads(line) for line in lines] == [{"event_id": "a", "reward": 1}, {"event_id": "b", "reward": 0}]


def test_without_the_processor_records_are_concatenated_as_firehose_does(gateway: Gateway) -> None:
    bucket = f"delim-{uuid.uuid4().hex[:8]}"
    client("s3", endpoint_url=gateway.url).create_bucket(Bucket=bucket)
    for processing in (None, {"Enabled": False, "Processors": [{"Type": "AppendDelimiterToRecord"}]}):
        prefix = f"p{uuid.uuid4().hex[:6]}/"
        stream = _stream(gateway, bucket, prefix, processing)
        assert _delivered(gateway, bucket, stream, prefix) == b'{"event_id":"a","reward":1}{"event_id":"b","reward":0}'
