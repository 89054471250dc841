"""Small exception types, so callers (CLI, benchmarks, tests) can tell what failed without parsing messages."""

from __future__ import annotations


class SimulatorError(Exception):
    """Base of every error the simulator raises on purpose."""


class DatasetError(SimulatorError):
    """A classification file cannot be read, or the reference data set cannot be fetched."""


class DecisionError(SimulatorError):
    """The endpoint refused a request or kept failing after the bounded retries."""


class RewardDeliveryError(SimulatorError):
    """Reward records could not be delivered to the stream after the bounded retries."""


class ScenarioError(SimulatorError):
    """A scenario name or option is not valid."""
