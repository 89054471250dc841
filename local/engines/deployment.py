"""SageMaker's rules for an endpoint's `DeploymentConfig` and `ProductionVariants`, and the traffic steps of a
blue/green update: what the local SageMaker engine refuses and how it shifts traffic.

Sources (SageMaker API reference): BlueGreenUpdatePolicy (`MaximumExecutionTimeoutInSeconds` 600-28800,
`TerminationWaitInSeconds` 0-3600), TrafficRoutingConfig (`Type` ALL_AT_ONCE | CANARY | LINEAR,
`WaitIntervalInSeconds` 0-3600, `CanarySize` "must be less than or equal to 50% of the variant's total instance
count", `LinearStepSize` "must be 10-50% of the variant's total instance count"), CapacitySize (`Type`
INSTANCE_COUNT | CAPACITY_PERCENT, `Value` >= 1), ProductionVariant (`InitialInstanceCount` >= 1,
`InitialVariantWeight` >= 0). Range violations answer in AWS's validation wording ("1 validation error detected:
Value '…' at '…' failed to satisfy constraint: …").

A capacity percentage becomes whole instances rounded up (SageMaker turns on instances, not fractions; the
rounding itself is not documented): 10% of 1 instance is 1 instance, 100% of the variant, so no canary is valid
on one instance, which is the rule the issue's defect hit on AWS.
"""

from __future__ import annotations

import math
from typing import Any

from local.errors import AwsError

ROUTING_TYPES = ("ALL_AT_ONCE", "CANARY", "LINEAR")
SIZE_TYPES = ("INSTANCE_COUNT", "CAPACITY_PERCENT")
WAIT_RANGE = (0, 3600)
TERMINATION_WAIT_RANGE = (0, 3600)
TIMEOUT_RANGE = (600, 28800)
DEFAULT_TIMEOUT = 28800
DEFAULT_POLICY: dict[str, Any] = {
    "BlueGreenUpdatePolicy": {"TrafficRoutingConfiguration": {"Type": "ALL_AT_ONCE", "WaitIntervalInSeconds": 0}}
}
"""No DeploymentConfig: "SageMaker uses a blue/green deployment strategy with all at once traffic shifting"."""

_POLICY = "deploymentConfig.blueGreenUpdatePolicy"
_ROUTING = f"{_POLICY}.trafficRoutingConfiguration"


def _invalid(message: str) -> AwsError:
    return AwsError("ValidationException", message)


def _constraint(value: Any, path: str, constraint: str) -> AwsError:
    return _invalid(
        f"1 validation error detected: Value '{value}' at '{path}' failed to satisfy constraint: {constraint}"
    )


def _integer(container: dict[str, Any], key: str, path: str, bounds: tuple[int, int], required: bool) -> int | None:
    value = container.get(key)
    if value is None:
        if required:
            raise _constraint("null", path, "Member must not be null")
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise _constraint(value, path, "Member must be an integer")
    low, high = bounds
    if value < low:
        raise _constraint(value, path, f"Member must have value greater than or equal to {low}")
    if value > high:
        raise _constraint(value, path, f"Member must have value less than or equal to {high}")
    return value


def variant_instances(variant: dict[str, Any]) -> int:
    """`InitialInstanceCount` of a production variant (validated by `validate_variants`)."""
    return int(variant.get("InitialInstanceCount", 0))


def validate_variants(variants: list[dict[str, Any]]) -> None:
    """CreateEndpointConfig's instance-based variants: a name, an instance type, at least one instance."""
    for index, variant in enumerate(variants, start=1):
        path = f"productionVariants.{index}"
        if not variant.get("VariantName"):
            raise _constraint("null", f"{path}.member.variantName", "Member must not be null")
        if not variant.get("InstanceType"):
            raise _invalid(f"InstanceType is required for production variant {variant['VariantName']}.")
        _integer(variant, "InitialInstanceCount", f"{path}.member.initialInstanceCount", (1, 10**6), required=True)
        weight = variant.get("InitialVariantWeight", 1.0)
        if not isinstance(weight, (int, float)) or weight < 0:
            raise _constraint(
                weight, f"{path}.member.initialVariantWeight", "Member must have value greater than or equal to 0"
            )


def _size_instances(size: dict[str, Any], instance_count: int, path: str) -> int:
    """A CapacitySize as whole instances of a variant of `instance_count` (a percentage rounded up)."""
    kind = size.get("Type")
    if kind not in SIZE_TYPES:
        raise _constraint(kind, f"{path}.type", f"Member must satisfy enum value set: [{', '.join(SIZE_TYPES)}]")
    value = _integer(size, "Value", f"{path}.value", (1, 10**6), required=True)
    assert value is not None
    if kind == "INSTANCE_COUNT":
        return value
    return math.ceil(instance_count * value / 100)


def _describe(size: dict[str, Any]) -> str:
    return f"{size.get('Type')} {size.get('Value')}"


def validate_deployment(deployment: dict[str, Any], variants: list[dict[str, Any]]) -> dict[str, Any]:
    """The DeploymentConfig of UpdateEndpoint/CreateEndpoint against the new config's variants; the policy to run.

    Raises `AwsError("ValidationException", …)` where SageMaker refuses the request.
    """
    if "RollingUpdatePolicy" in deployment and "BlueGreenUpdatePolicy" not in deployment:
        rolling = deployment["RollingUpdatePolicy"]
        wait = _integer(
            rolling,
            "WaitIntervalInSeconds",
            "deploymentConfig.rollingUpdatePolicy.waitIntervalInSeconds",
            WAIT_RANGE,
            True,
        )
        return {
            **deployment,
            "BlueGreenUpdatePolicy": {
                "TrafficRoutingConfiguration": {"Type": "ALL_AT_ONCE", "WaitIntervalInSeconds": wait}
            },
        }
    policy = deployment.get("BlueGreenUpdatePolicy")
    if policy is None:
        return {**deployment, **DEFAULT_POLICY}
    routing = policy.get("TrafficRoutingConfiguration")
    if not isinstance(routing, dict):
        raise _constraint("null", _ROUTING, "Member must not be null")
    _integer(policy, "TerminationWaitInSeconds", f"{_POLICY}.terminationWaitInSeconds", TERMINATION_WAIT_RANGE, False)
    _integer(
        policy, "MaximumExecutionTimeoutInSeconds", f"{_POLICY}.maximumExecutionTimeoutInSeconds", TIMEOUT_RANGE, False
    )
    kind = routing.get("Type")
    if kind not in ROUTING_TYPES:
        raise _constraint(kind, f"{_ROUTING}.type", f"Member must satisfy enum value set: [{', '.join(ROUTING_TYPES)}]")
    _integer(routing, "WaitIntervalInSeconds", f"{_ROUTING}.waitIntervalInSeconds", WAIT_RANGE, required=True)
    field = {"CANARY": "CanarySize", "LINEAR": "LinearStepSize"}.get(kind)
    if field is None:
        return deployment
    size = routing.get(field)
    if not isinstance(size, dict):
        raise _invalid(f"{field} must be specified for traffic routing type {kind}.")
    path = f"{_ROUTING}.{field[0].lower()}{field[1:]}"
    for variant in variants:
        count = variant_instances(variant)
        instances = _size_instances(size, count, path)
        name = variant.get("VariantName")
        if kind == "CANARY" and 2 * instances > count:
            raise _invalid(
                f"The CanarySize {_describe(size)} is {instances} of the {count} instance(s) of production variant "
                f"{name}: it must be less than or equal to 50% of the variant's total instance count."
            )
        if kind == "LINEAR" and not (count <= 10 * instances and 2 * instances <= count):
            raise _invalid(
                f"The LinearStepSize {_describe(size)} is {instances} of the {count} instance(s) of production "
                f"variant {name}: it must be 10-50% of the variant's total instance count."
            )
    return deployment


def traffic_steps(routing: dict[str, Any], instance_count: int) -> list[tuple[float, float]]:
    """(green's share of traffic, bake seconds) per step, for a (validated) routing on `instance_count` instances.

    ALL_AT_ONCE: everything, baked `WaitIntervalInSeconds`. CANARY: the canary's instances, baked, then the rest.
    LINEAR: one `LinearStepSize` of instances more per step, each step but the last baked. The final bake is the
    policy's `TerminationWaitInSeconds`, which the controller watches before it stops blue.
    """
    kind = routing.get("Type", "ALL_AT_ONCE")
    wait = float(routing.get("WaitIntervalInSeconds", 0))
    count = max(1, instance_count)
    if kind == "CANARY":
        canary = _size_instances(routing["CanarySize"], count, _ROUTING)
        return [(canary / count, wait), (1.0, 0.0)]
    if kind == "LINEAR":
        step = _size_instances(routing["LinearStepSize"], count, _ROUTING)
        steps = []
        for active in range(step, count + step, step):
            share = min(count, active) / count
            steps.append((share, wait if share < 1.0 else 0.0))
        return steps
    return [(1.0, wait)]
