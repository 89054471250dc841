"""Why an evaluation cannot produce a number: each case has its own type, so the job's failure says what to fix."""

from __future__ import annotations

from container.core.errors import ContainerError


class EvaluationError(ContainerError, ValueError):
    """The evaluation cannot give a trustworthy estimate; the message says what to fix."""


class EmptyHoldoutError(EvaluationError):
    """Too few usable holdout rows to estimate anything (an empty or fully malformed holdout)."""


class PropensityError(EvaluationError):
    """A logged propensity is missing, zero or not a probability: importance weights would be undefined."""


class SingleActionError(EvaluationError):
    """Every decision had one candidate: no policy can differ from another, so there is nothing to compare."""


class DistributionError(EvaluationError):
    """A policy's distribution does not match its candidates (wrong length, negative or not summing to 1)."""


class HyperparameterError(EvaluationError):
    """An evaluation hyperparameter is missing a valid value."""
