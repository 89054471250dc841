"""EventBridge's side of the local runtime: a matched event is handed to its Lambda target's async queue (as
`events.amazonaws.com`, which the function's resource policy must allow), retried while the target cannot take it,
then sent to the target's dead-letter queue; Lambda's OnFailure destination records go to SQS the same way."""

from __future__ import annotations

import json
import sys
import threading
from typing import Any

from local.errors import AwsError
from local.faults import Faults
from local.gateway_auth import RequestAuthorizer
from local.iam import requests as iam_requests
from local.iam.authorizer import Identity
from local.lambdas import LambdaRuntime

EVENT_DELIVERY_DELAYS = (1.0, 2.0, 4.0)
"""Seconds between EventBridge's attempts to hand an event to a Lambda target that is not there (capped at 3)."""


class EventTargets:
    """Delivers events to Lambda targets and failure records to queues; counts what was delivered and lost."""

    def __init__(self, auth: RequestAuthorizer, faults: Faults) -> None:
        self.auth = auth
        self.faults = faults
        self.lambdas: LambdaRuntime | None = None
        """Set once the gateway has started its Lambda runtime."""
        self.delivered = 0
        self.failed = 0

    def deliver(self, target: dict[str, Any], event: dict[str, Any]) -> None:
        """A matched event for a Lambda target: hand it to Lambda's async queue; retry while the function is missing."""
        payload: Any = event
        if "Input" in target:
            payload = json.loads(target["Input"])
        elif "InputPath" in target:
            payload = _json_path(event, target["InputPath"])
        retry_policy = target.get("RetryPolicy") or {}
        attempts = 1 + min(int(retry_policy.get("MaximumRetryAttempts", 185)), len(EVENT_DELIVERY_DELAYS))
        for delay in self.faults.event_deliveries():  # one delivery unless duplicates / delays are injected
            if delay <= 0:
                self._attempt(target, payload, attempt=1, attempts=attempts)
                continue
            timer = threading.Timer(delay, self._attempt, (target, payload, 1, attempts))
            timer.daemon = True
            timer.start()

    def _attempt(self, target: dict[str, Any], payload: Any, attempt: int, attempts: int) -> None:
        assert self.lambdas is not None
        try:
            self.auth.authorize_event_target(target)
            self.lambdas.invoke_async(target["Arn"], payload)
            self.delivered += 1
            return
        except AwsError as err:
            reason = err.message
        if attempt < attempts:
            timer = threading.Timer(
                EVENT_DELIVERY_DELAYS[attempt - 1], self._attempt, (target, payload, attempt + 1, attempts)
            )
            timer.daemon = True
            timer.start()
            return
        self.failed += 1
        dlq = (target.get("DeadLetterConfig") or {}).get("Arn")
        print(f"local events: {target['Arn']} unreachable after {attempt} attempts: {reason}", file=sys.stderr)
        if dlq:
            try:  # EventBridge sends to the dead-letter queue as itself: the queue's policy must allow it
                rule = str(target.get("_RuleArn", ""))
                context = {"aws:SourceArn": rule, "aws:SourceAccount": dlq.split(":")[4]}
                self.auth.iam.authorize_service(
                    "events.amazonaws.com", iam_requests.Check("sqs:SendMessage", dlq, context)
                )
            except AwsError as err:
                print(
                    f"local events: the event is lost, the dead-letter queue refused it: {err.message}", file=sys.stderr
                )
                return
            self.send_to_queue(dlq, json.dumps(payload))

    def send_failed_invocation(self, queue_arn: str, body: str) -> None:
        """Lambda sends an OnFailure destination record with the function's execution role (sqs:SendMessage)."""
        function = str(json.loads(body).get("requestContext", {}).get("functionArn", "")).removesuffix(":$LATEST")
        catalog = self.auth.iam.catalog
        role = catalog.function_roles.get(function) if catalog else None
        if role:
            name = function.rsplit(":", 1)[-1]
            self.auth.iam.authorize(Identity(role, name), [iam_requests.Check("sqs:SendMessage", queue_arn)])
        self.send_to_queue(queue_arn, body)

    def send_to_queue(self, queue_arn: str, body: str) -> None:
        """Send to an SQS queue (OnFailure destination, dead-letter queue) in moto's backend, in-process."""
        from moto.sqs.models import sqs_backends

        parts = queue_arn.split(":")
        region, account, name = parts[3], parts[4], parts[5]
        sqs_backends[account][region].send_message(queue_name=name, message_body=body)


def _json_path(event: dict[str, Any], path: str) -> Any:
    value: Any = event
    for part in path.lstrip("$").strip(".").split("."):
        if part:
            value = value[part]
    return value
