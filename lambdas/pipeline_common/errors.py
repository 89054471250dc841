"""Small exception types: the state machine sees their class name as the error, so each names what went wrong."""

from __future__ import annotations


class PipelineError(Exception):
    """Base class of the pipeline's own errors."""


class ConfigError(PipelineError):
    """An environment variable or `SETTINGS_JSON` is missing or invalid (a deployment problem, not a data problem)."""


class InvalidEvent(PipelineError):
    """The Lambda was invoked with an event it cannot read; retrying the same event would fail the same way."""


class NotFound(PipelineError):
    """A registry row the run refers to does not exist."""


class NotDeployable(PipelineError):
    """The model asked for (e.g. by `rollback_to`) never finished training, so it has nothing to serve."""


class JoinQueryFailed(PipelineError):
    """The Athena join or count query ended FAILED or CANCELLED."""


class TrainingJobFailed(PipelineError):
    """The SageMaker training job ended Failed or Stopped."""


class EvaluationJobFailed(PipelineError):
    """The evaluation job ended Failed or Stopped, or its output could not be read."""


class DeploymentFailed(PipelineError):
    """The endpoint ended Failed (neither the new config nor a rollback is serving)."""


class AwsRetryable(PipelineError):
    """An AWS call failed in a way that succeeds when repeated later (throttling, a 5xx, a documented eventual-
    consistency case), after botocore's own retries; the state machine retries the step with backoff."""


class AwsCallFailed(PipelineError):
    """An AWS call was refused for a reason repeating it will not change (access denied, validation, quota): the
    run fails at once with the service, operation, error code and AWS's message."""

    def __init__(self, service: str, operation: str, code: str, message: str) -> None:
        super().__init__(f"{service}.{operation} failed: {code}: {message}")
        self.service = service
        self.operation = operation
        self.code = code


class StepTimedOut(PipelineError):
    """A polling loop (join, training, evaluation, deployment) ran past its time limit from the settings."""
