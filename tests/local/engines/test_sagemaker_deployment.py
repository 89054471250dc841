"""SageMaker's DeploymentConfig rules as the local engine applies them (`local.engines.deployment`): sizes against
the new config's instance count, the documented ranges, and the traffic steps each routing type runs."""

from __future__ import annotations

from typing import Any

import pytest

from local.engines.deployment import traffic_steps, validate_deployment, validate_variants
from local.errors import AwsError


def variants(count: int) -> list[dict[str, Any]]:
    return [
        {"VariantName": "AllTraffic", "ModelName": "m", "InstanceType": "ml.m5.large", "InitialInstanceCount": count}
    ]


def policy(routing: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"BlueGreenUpdatePolicy": {"TrafficRoutingConfiguration": routing, **extra}}


def canary(kind: str, value: int, wait: int = 60) -> dict[str, Any]:
    return {"Type": "CANARY", "CanarySize": {"Type": kind, "Value": value}, "WaitIntervalInSeconds": wait}


def linear(kind: str, value: int, wait: int = 60) -> dict[str, Any]:
    return {"Type": "LINEAR", "LinearStepSize": {"Type": kind, "Value": value}, "WaitIntervalInSeconds": wait}


@pytest.mark.parametrize(
    ("routing", "count"),
    [
        (canary("CAPACITY_PERCENT", 10), 1),  # the pipeline's old request: 10% of 1 instance is the instance
        (canary("INSTANCE_COUNT", 1), 1),
        (canary("CAPACITY_PERCENT", 60), 10),
        (canary("INSTANCE_COUNT", 2), 3),
        (linear("CAPACITY_PERCENT", 25), 1),
        (linear("INSTANCE_COUNT", 3), 4),  # 75% per step
        (linear("INSTANCE_COUNT", 1), 20),  # 5% per step
    ],
)
def test_sizes_beyond_sagemakers_limits_are_refused(routing: dict[str, Any], count: int) -> None:
    with pytest.raises(AwsError) as caught:
        validate_deployment(policy(routing), variants(count))
    assert caught.value.code == "ValidationException"
    assert "of the variant's total instance count" in caught.value.message


@pytest.mark.parametrize(
    ("routing", "count"),
    [
        (canary("CAPACITY_PERCENT", 50), 2),
        (canary("INSTANCE_COUNT", 1), 2),
        (canary("CAPACITY_PERCENT", 10), 10),
        (linear("CAPACITY_PERCENT", 50), 2),
        (linear("INSTANCE_COUNT", 1), 10),
        ({"Type": "ALL_AT_ONCE", "WaitIntervalInSeconds": 3600}, 1),
    ],
)
def test_sizes_within_the_limits_pass(routing: dict[str, Any], count: int) -> None:
    assert validate_deployment(policy(routing), variants(count)) == policy(routing)


@pytest.mark.parametrize(
    ("deployment", "wording"),
    [
        (policy({"Type": "ALL_AT_ONCE", "WaitIntervalInSeconds": 3601}), "less than or equal to 3600"),
        (policy({"Type": "ALL_AT_ONCE"}), "must not be null"),
        (policy({"Type": "BLUE", "WaitIntervalInSeconds": 0}), "enum value set"),
        (policy({"Type": "CANARY", "WaitIntervalInSeconds": 0}), "CanarySize must be specified"),
        (policy(canary("PERCENT", 10)), "enum value set"),
        (policy(canary("INSTANCE_COUNT", 0)), "greater than or equal to 1"),
        (
            policy({"Type": "ALL_AT_ONCE", "WaitIntervalInSeconds": 0}, MaximumExecutionTimeoutInSeconds=300),
            "greater than or equal to 600",
        ),
        (
            policy({"Type": "ALL_AT_ONCE", "WaitIntervalInSeconds": 0}, MaximumExecutionTimeoutInSeconds=28801),
            "less than or equal to 28800",
        ),
        (
            policy({"Type": "ALL_AT_ONCE", "WaitIntervalInSeconds": 0}, TerminationWaitInSeconds=3601),
            "less than or equal to 3600",
        ),
    ],
)
def test_documented_ranges_and_required_members(deployment: dict[str, Any], wording: str) -> None:
    with pytest.raises(AwsError, match=wording) as caught:
        validate_deployment(deployment, variants(4))
    assert caught.value.code == "ValidationException"


def test_no_policy_is_blue_green_all_at_once() -> None:
    routing = validate_deployment({}, variants(1))["BlueGreenUpdatePolicy"]["TrafficRoutingConfiguration"]
    assert routing == {"Type": "ALL_AT_ONCE", "WaitIntervalInSeconds": 0}


def test_a_variant_needs_an_instance() -> None:
    with pytest.raises(AwsError, match=r"initialInstanceCount.*greater than or equal to 1"):
        validate_variants(variants(0))
    validate_variants(variants(1))


@pytest.mark.parametrize(
    ("routing", "count", "steps"),
    [
        ({"Type": "ALL_AT_ONCE", "WaitIntervalInSeconds": 30}, 1, [(1.0, 30.0)]),
        (canary("INSTANCE_COUNT", 1, 30), 2, [(0.5, 30.0), (1.0, 0.0)]),
        (canary("CAPACITY_PERCENT", 10, 30), 10, [(0.1, 30.0), (1.0, 0.0)]),
        (canary("CAPACITY_PERCENT", 10, 30), 4, [(0.25, 30.0), (1.0, 0.0)]),  # a whole instance, rounded up
        (linear("INSTANCE_COUNT", 1, 5), 4, [(0.25, 5.0), (0.5, 5.0), (0.75, 5.0), (1.0, 0.0)]),
        (linear("CAPACITY_PERCENT", 30, 5), 10, [(0.3, 5.0), (0.6, 5.0), (0.9, 5.0), (1.0, 0.0)]),
    ],
)
def test_traffic_steps(routing: dict[str, Any], count: int, steps: list[tuple[float, float]]) -> None:
    assert traffic_steps(routing, count) == steps
