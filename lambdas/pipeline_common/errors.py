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
