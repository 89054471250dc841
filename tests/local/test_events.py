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
    firehose.put_record(DeliveryStreamName="fixture-rewards", Record={"Data": b'{"event_id": "f", "reward": 0}\n'})
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
