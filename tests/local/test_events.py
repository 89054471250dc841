"""EventBridge with Lambda targets: S3 Object Created (also from Firehose) reaches the rule's function; events the
pattern does not match do not; undeliverable events and failed async invocations end in the dead-letter queue."""

from __future__ import annotations

import json
import time
from typing import Any

from local.aws import client
from local.gateway import Gateway
from local.provision import Stack


def _counted(gateway: Gateway, key: str, timeout: float = 10.0) -> dict[str, Any] | None:
    ddb = client("dynamodb", endpoint_url=gateway.url)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        item = ddb.get_item(TableName="fixture-Counts", Key={"pk": {"S": key}}).get("Item")
        if item:
            return item
        time.sleep(0.2)
    return None


def _queue_messages(gateway: Gateway, url: str, timeout: float = 10.0) -> list[dict[str, Any]]:
    sqs = client("sqs", endpoint_url=gateway.url)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", [])
        if messages:
            for m in messages:
                sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
            return [json.loads(m["Body"]) for m in messages]
    return []


def test_s3_object_created_reaches_the_rules_lambda_target(gateway: Gateway, fixture_stack: Stack) -> None:
    s3 = client("s3", endpoint_url=gateway.url)
    bucket = fixture_stack.outputs["BucketName"]
    s3.put_object(Bucket=bucket, Key="rewards/2026/11/23/01/direct-put", Body=b'{"event_id": "a", "reward": 1}\n')
    item = _counted(gateway, "rewards/2026/11/23/01/direct-put")
    assert item is not None, "the trigger-like function never saw the event"
    assert item["bucket"]["S"] == bucket and item["detail_type"]["S"] == "Object Created"
    assert item["time"]["S"].endswith("Z") and "T" in item["time"]["S"]  # EventBridge's ISO time, not epoch


def test_firehose_objects_notify_too(gateway: Gateway, fixture_stack: Stack) -> None:
    firehose = client("firehose", endpoint_url=gateway.url)
    s3 = client("s3", endpoint_url=gateway.url)
    bucket = fixture_stack.outputs["BucketName"]
    firehose.put_record(DeliveryStreamName="fixture-rewards", Record={"Data": b'{"event_id": "f", "reward": 0}'})
    deadline = time.monotonic() + 10
    keys: list[str] = []
    while time.monotonic() < deadline:
        keys = [
            o["Key"]
            for o in s3.list_objects_v2(Bucket=bucket, Prefix="rewards/").get("Contents", [])
            if "fixture-rewards-" in o["Key"]
        ]
        if keys and all(_counted(gateway, k, 0.1) for k in keys):
            break
        time.sleep(0.2)
    assert keys and all(_counted(gateway, k, 5) for k in keys)


def test_objects_outside_the_pattern_are_not_delivered(gateway: Gateway, fixture_stack: Stack) -> None:
    s3 = client("s3", endpoint_url=gateway.url)
    bucket = fixture_stack.outputs["BucketName"]
    s3.put_object(Bucket=bucket, Key="decisions/2026/11/23/01/not-a-reward", Body=b"{}\n")
    gateway.wait_idle(5)
    assert _counted(gateway, "decisions/2026/11/23/01/not-a-reward", timeout=1.0) is None


def test_undeliverable_events_and_failed_async_invocations_go_to_the_dead_letter_queue(
    gateway: Gateway, fixture_stack: Stack
) -> None:
    queue = fixture_stack.outputs["QueueUrl"]
    _queue_messages(gateway, queue, timeout=0.5)  # start empty
    client("events", endpoint_url=gateway.url).put_events(
        Entries=[{"Source": "fixture.test", "DetailType": "Ping", "Detail": json.dumps({"n": 1})}]
    )
    messages = _queue_messages(gateway, queue)
    assert messages and messages[0]["detail"] == {"n": 1}  # the rule's target function does not exist
    answer = client("lambda", endpoint_url=gateway.url).invoke(
        FunctionName="fixture-failing", InvocationType="Event", Payload=json.dumps({"please": "fail"})
    )
    assert answer["StatusCode"] == 202
    records = _queue_messages(gateway, queue)
    assert records, "the OnFailure destination got nothing"
    record = records[0]
    assert record["requestContext"]["condition"] == "RetriesExhausted"
    assert record["requestPayload"] == {"please": "fail"}
    assert record["responsePayload"]["errorType"] == "RuntimeError"


def _deliveries(gateway: Gateway, key: str, count: int, timeout: float = 10.0) -> list[dict[str, Any]]:
    """The raw events the fixture function received for `key`, oldest sequencer first."""
    ddb = client("dynamodb", endpoint_url=gateway.url)
    deadline = time.monotonic() + timeout
    events: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        items = ddb.scan(
            TableName="fixture-Counts",
            FilterExpression="begins_with(pk, :prefix)",
            ExpressionAttributeValues={":prefix": {"S": f"event#{key}#"}},
        )["Items"]
        events = [json.loads(item["raw"]["S"]) for item in items]
        if len(events) >= count:
            break
        time.sleep(0.2)
    return sorted(events, key=lambda e: int(e["detail"]["object"]["sequencer"], 16))


def test_s3_events_have_awss_shape_and_a_new_sequencer_per_put(gateway: Gateway, fixture_stack: Stack) -> None:
    """Amazon S3 User Guide, "EventBridge event message structure": `etag` (not moto's `eTag`), a sequencer that
    grows with each PUT of a key, a request id per request, `reason` naming the API. moto sends one fixed
    sequencer for every PUT, so a trigger keyed on it would count a re-upload of a key zero times."""
    import trigger

    s3 = client("s3", endpoint_url=gateway.url)
    bucket = fixture_stack.outputs["BucketName"]
    key = "rewards/2026/11/23/02/uploaded-twice"
    body = b'{"event_id": "r", "reward": 1}\n'
    s3.put_object(Bucket=bucket, Key=key, Body=body)
    s3.put_object(Bucket=bucket, Key=key, Body=body)  # the same bytes again: same ETag, a new PUT
    etag = s3.head_object(Bucket=bucket, Key=key)["ETag"].strip('"')
    first, second = _deliveries(gateway, key, 2)
    for event in (first, second):
        obj = event["detail"]["object"]
        assert "eTag" not in obj and obj["etag"] == etag and obj["size"] == len(body)
        assert "version-id" not in obj  # the fixture bucket is not versioned
        assert event["detail"]["reason"] == "PutObject" and event["detail"]["requester"] == event["account"]
        assert event["detail"]["source-ip-address"] and event["detail"]["version"] == "0"
        assert all(c in "0123456789ABCDEF" for c in obj["sequencer"])
    assert int(second["detail"]["object"]["sequencer"], 16) > int(first["detail"]["object"]["sequencer"], 16)
    assert first["detail"]["request-id"] != second["detail"]["request-id"]
    # what the trigger keys its idempotency on differs, so the re-upload is counted again
    keys = [trigger.RewardObject.from_event(event) for event in (first, second)]
    assert keys[0].etag == keys[1].etag and keys[0].sequencer != keys[1].sequencer


def test_a_versioned_buckets_events_carry_the_version_id(gateway: Gateway) -> None:
    from local import s3_events

    class Bucket:
        name, region_name, arn, is_versioned = "b", "us-east-1", "arn:aws:s3:::b", True

    class Key:
        name, size, etag, version_id = "rewards/x", 3, '"0cc175b9c0f1b6a831c399e269772661"', "3HL4kqtJlcpXroDTDmJ"

    event = s3_events.object_created_event("123456789012", Bucket(), "s3:ObjectCreated:CompleteMultipartUpload", Key())
    assert event["detail"]["object"]["version-id"] == "3HL4kqtJlcpXroDTDmJ"
    assert event["detail"]["object"]["etag"] == "0cc175b9c0f1b6a831c399e269772661"
    assert event["detail"]["reason"] == "CompleteMultipartUpload"
    assert s3_events.next_sequencer() < s3_events.next_sequencer()  # same length: string order is number order
