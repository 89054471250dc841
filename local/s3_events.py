"""S3 `Object Created` events in the shape Amazon S3 sends to EventBridge, built from moto's notifications.

moto's own builder (`moto.s3.notifications._send_event_bridge_message`) differs from AWS where the pipeline's
idempotency looks: it writes `eTag` where AWS writes `etag`, the same `sequencer` ("617f08299329d189") for every
PUT, `version-id` "null" on an unversioned bucket, a fixed `request-id` and `source-ip-address`, and `reason`
"ObjectCreated" where AWS names the API ("PutObject"). A trigger keyed on moto's event would lose every re-upload
of a key locally and still pass. Here the event is AWS's (Amazon S3 User Guide, "EventBridge event message
structure", https://docs.aws.amazon.com/AmazonS3/latest/userguide/ev-events.html):

- `etag`: the object's ETag without quotes (lower-case hex; `-N` suffix for multipart uploads);
- `sequencer`: a hexadecimal string that grows with every event of a key (S3 User Guide, "Event message structure":
  the sequencer orders the events of one object key), fresh per PUT even when the bytes are the same;
- `version-id` only when the bucket is versioned; a fresh `request-id` per request; `requester` the account;
- `reason`: PutObject, POST Object, CopyObject or CompleteMultipartUpload.

Other detail types (Object Deleted, Restore, ...) keep moto's builder: the pipeline does not consume them.
"""

from __future__ import annotations

import copy
import logging
import secrets
import threading
import time
from typing import Any

import moto.s3.notifications as s3_notifications
from moto.core.utils import unix_time
from moto.events.utils import _BASE_EVENT_MESSAGE, EventMessageType

REASONS = {
    "s3:ObjectCreated:Put": "PutObject",
    "s3:ObjectCreated:Post": "POST Object",
    "s3:ObjectCreated:Copy": "CopyObject",
    "s3:ObjectCreated:CompleteMultipartUpload": "CompleteMultipartUpload",
}
"""moto's event name -> the API S3 names in `detail.reason`."""
LOCAL_SOURCE_IP = "127.0.0.1"

LOG = logging.getLogger(__name__)
_original_send = s3_notifications._send_event_bridge_message
_sequence_lock = threading.Lock()
_last_sequence = 0


def next_sequencer() -> str:
    """An upper-case hex string, greater than every one before it in this process (so per key as well)."""
    global _last_sequence
    with _sequence_lock:
        _last_sequence = max(time.time_ns(), _last_sequence + 1)
        return f"{_last_sequence:018X}"


def request_id() -> str:
    """16 upper-case characters, like S3's `x-amz-request-id`."""
    return secrets.token_hex(8).upper()


def object_created_event(account_id: str, bucket: Any, event_name: str, key: Any) -> EventMessageType:
    """The EventBridge event AWS would send for `event_name` (an `s3:ObjectCreated:*` name) on moto's `key`."""
    obj: dict[str, Any] = {"key": key.name, "size": key.size, "etag": key.etag.strip('"')}
    if bucket.is_versioned:
        obj["version-id"] = key.version_id
    obj["sequencer"] = next_sequencer()
    event = copy.deepcopy(_BASE_EVENT_MESSAGE)
    event.update(
        {
            "detail-type": "Object Created",
            "source": "aws.s3",
            "account": account_id,
            "time": unix_time(),
            "region": bucket.region_name,
            "resources": [bucket.arn],
            "detail": {
                "version": "0",
                "bucket": {"name": bucket.name},
                "object": obj,
                "request-id": request_id(),
                "requester": account_id,
                "source-ip-address": LOCAL_SOURCE_IP,
                "reason": REASONS.get(str(event_name), str(event_name).rsplit(":", 1)[-1]),
            },
        }
    )
    return event


def _send_event_bridge_message(account_id: str, bucket: Any, event_name: Any, key: Any) -> None:
    """moto's hook, with AWS's Object Created event, handed to every rule as moto does (each rule's pattern decides)."""
    name = getattr(event_name, "value", event_name)
    if not str(name).startswith("s3:ObjectCreated:"):
        _original_send(account_id, bucket, event_name, key)
        return
    from moto.events.models import events_backends

    try:
        event = object_created_event(account_id, bucket, str(name), key)
        backend = events_backends[account_id][bucket.region_name]
        for bus in list(backend.event_buses.values()):
            for rule in list(bus.rules.values()):
                rule.send_to_targets(event, transform_input=False)
    except Exception:  # delivery is asynchronous on AWS: the PUT succeeds whatever happens here, but not silently
        LOG.exception("could not deliver the S3 event for s3://%s/%s", bucket.name, key.name)


def install() -> None:
    """Make moto's S3 send AWS's Object Created events (process-wide, like moto's backends)."""
    s3_notifications._send_event_bridge_message = _send_event_bridge_message


def uninstall() -> None:
    s3_notifications._send_event_bridge_message = _original_send
