"""Firehose's PutRecordBatch limits as the gateway applies them (PutRecordBatch, Amazon Data Firehose API Reference)."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from local.aws import client
from local.firehose import MAX_BATCH_RECORDS, MAX_RECORD_BYTES
from local.gateway import Gateway
from local.provision import Stack


def test_put_record_batch_refuses_batches_and_records_over_the_limits(gateway: Gateway, fixture_stack: Stack) -> None:
    firehose = client("firehose", endpoint_url=gateway.url)
    stream = fixture_stack.outputs["RewardsStreamName"]
    assert MAX_BATCH_RECORDS == 500 and MAX_RECORD_BYTES == 1000 * 1024
    too_many = [{"Data": b"{}\n"} for _ in range(MAX_BATCH_RECORDS + 1)]
    too_big = [{"Data": b"{}\n"}, {"Data": b"x" * (MAX_RECORD_BYTES + 1)}]
    for records in (too_many, too_big):
        with pytest.raises(ClientError) as refused:
            firehose.put_record_batch(DeliveryStreamName=stream, Records=records)
        assert refused.value.response["Error"]["Code"] == "ValidationException"
    answer = firehose.put_record_batch(
        DeliveryStreamName=stream, Records=[{"Data": b"{}\n"} for _ in range(MAX_BATCH_RECORDS)]
    )
    assert answer["FailedPutCount"] == 0 and len(answer["RequestResponses"]) == MAX_BATCH_RECORDS
