"""EventBridge rules with Lambda targets, delivered to the local Lambda runtime.

moto matches events against rules and sends them to SQS, CloudWatch Logs, other buses and archives, but its
`Rule.send_to_targets` refuses a Lambda target as not implemented. Every path that puts an event on a bus goes
through that one method: `PutEvents`, and S3's EventBridge notifications (`moto.s3.notifications.
_send_event_bridge_message`, called from `S3Backend.put_object` etc. when the bucket's `NotificationConfiguration`
has `EventBridgeConfiguration`; Firehose's S3 delivery calls `put_object` in-process, so its objects notify too).

`install(deliver)` wraps `moto.events.models.Rule.send_to_targets`: the rule's own event pattern (moto's matcher)
decides; Lambda targets are handed to `deliver(target, event)` (asynchronously, like EventBridge) and the other
targets go to moto's original code. The event is normalised to EventBridge's wire shape (`time` as ISO-8601 `Z`,
a fresh `id`). S3's events themselves are built in AWS's shape by `local.s3_events` (`etag`, a sequencer per PUT).
"""

from __future__ import annotations

import copy
import datetime as dt
import threading
import uuid
from collections.abc import Callable
from typing import Any

from moto.events.models import Rule
from moto.events.utils import EventMessageType

from local import s3_events

_original_send_to_targets = Rule.send_to_targets
_deliver: Callable[[dict[str, Any], dict[str, Any]], None] | None = None
_install_lock = threading.Lock()
_targets_lock = threading.Lock()


def _wire_event(event: EventMessageType) -> dict[str, Any]:
    out: dict[str, Any] = dict(copy.deepcopy(event))
    when = out.get("time")
    if isinstance(when, (int, float)):
        out["time"] = dt.datetime.fromtimestamp(when, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    out.setdefault("version", "0")
    out["id"] = str(uuid.uuid4())
    return out


def is_lambda_target(target: dict[str, Any]) -> bool:
    arn = str(target.get("Arn", ""))
    return arn.startswith("arn:") and arn.split(":")[2] == "lambda"


def _send_to_targets(self: Rule, original_event: EventMessageType, transform_input: bool = True) -> None:
    deliver = _deliver
    lambda_targets = [t for t in self.targets if is_lambda_target(t)] if deliver is not None else []
    if lambda_targets and self.state == "ENABLED" and self.event_pattern.matches_event(original_event):
        event = _wire_event(original_event)
        for target in lambda_targets:
            deliver({**target, "_RuleArn": self.arn}, event)  # type: ignore[misc]  # the rule: the invoke's SourceArn
    if len(lambda_targets) == len(self.targets):
        return
    if not lambda_targets:
        _original_send_to_targets(self, original_event, transform_input)
        return
    with _targets_lock:  # moto's code iterates self.targets: hand it only the kinds it supports
        saved = self.targets
        self.targets = [t for t in saved if not is_lambda_target(t)]
        try:
            _original_send_to_targets(self, original_event, transform_input)
        finally:
            self.targets = saved


def install(deliver: Callable[[dict[str, Any], dict[str, Any]], None]) -> None:
    """Route Lambda targets of every rule (all accounts and regions of this process) to `deliver`."""
    global _deliver
    with _install_lock:
        _deliver = deliver
        Rule.send_to_targets = _send_to_targets  # type: ignore[method-assign]
        s3_events.install()


def uninstall(deliver: Callable[[dict[str, Any], dict[str, Any]], None] | None = None) -> None:
    """Undo `install`; with `deliver`, only when that is still the installed one (one gateway per process)."""
    global _deliver
    with _install_lock:
        if deliver is not None and _deliver != deliver:
            return
        _deliver = None
        Rule.send_to_targets = _original_send_to_targets  # type: ignore[method-assign]
        s3_events.uninstall()
