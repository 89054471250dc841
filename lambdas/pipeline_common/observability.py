"""One Logger, Tracer and Metrics per function (Powertools reads POWERTOOLS_SERVICE_NAME / _METRICS_NAMESPACE), and
the entry point every state-machine step's handler shares."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from pipeline_common.aws import aws_errors
from pipeline_common.payloads import Payload, Request

logger = Logger()
tracer = Tracer()
metrics = Metrics()

LambdaHandler = Callable[[Any, LambdaContext], Payload]
Step = Callable[[Request], Payload]


def step_handler(*verbs: str) -> Callable[[Step], LambdaHandler]:
    """Make `step(request)` a Lambda handler for the actions `verbs`: the event is read as a `Request` (a bad one
    raises `InvalidEvent` naming the field), logged, traced and correlated by run id, its metrics flushed, and an
    AWS error leaving it becomes the `AwsRetryable` / `AwsCallFailed` the state machine's Retry and Catch name."""

    def decorate(step: Step) -> LambdaHandler:
        @functools.wraps(step)
        def entry(event: Any, context: LambdaContext) -> Payload:
            request = Request(event, verbs)
            logger.set_correlation_id(request.run_id)
            return step(request)

        wrapped: LambdaHandler = metrics.log_metrics(aws_errors(entry))
        wrapped = tracer.capture_lambda_handler(wrapped)
        handler: LambdaHandler = logger.inject_lambda_context(wrapped, log_event=True)
        return handler

    return decorate


__all__ = ["MetricUnit", "logger", "metrics", "step_handler", "tracer"]
