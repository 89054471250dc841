"""IAM wildcard audit: no `*` or whole-service actions; `Resource: "*"` only for actions that allow nothing narrower."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

# Action -> why it is granted on `Resource: "*"`.
STAR_RESOURCE_ALLOWED = {
    "xray:PutTraceSegments": "X-Ray tracing (Lambda active tracing, Step Functions): no resource-level permissions",
    "xray:PutTelemetryRecords": "X-Ray tracing: no resource-level permissions",
    "xray:GetSamplingRules": "X-Ray sampling for Step Functions tracing: no resource-level permissions",
    "xray:GetSamplingTargets": "X-Ray sampling for Step Functions tracing: no resource-level permissions",
    "ecr:GetAuthorizationToken": "ECR login before pulling the policy image: account-wide token, no resource",
    "cloudwatch:PutMetricData": "SageMaker job/endpoint metrics: no resource-level permissions "
    "(restricted to the job's namespace by a cloudwatch:namespace condition)",
    "logs:CreateLogDelivery": "Step Functions log delivery (vended logs): no resource-level permissions",
    "logs:GetLogDelivery": "Step Functions log delivery: no resource-level permissions",
    "logs:UpdateLogDelivery": "Step Functions log delivery: no resource-level permissions",
    "logs:DeleteLogDelivery": "Step Functions log delivery: no resource-level permissions",
    "logs:ListLogDeliveries": "Step Functions log delivery: no resource-level permissions",
    "logs:PutResourcePolicy": "Step Functions log delivery sets the log group resource policy: account-level",
    "logs:DescribeResourcePolicies": "Step Functions log delivery: account-level",
    "logs:DescribeLogGroups": "Step Functions log delivery: listing action, no resource-level permissions",
}


def _identity_statements(resources: dict[str, dict[str, Any]]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every statement of every identity policy: AWS::IAM::Policy, ManagedPolicy and inline role policies."""
    for logical_id, resource in resources.items():
        props = resource.get("Properties", {})
        if resource["Type"] in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
            for statement in props["PolicyDocument"]["Statement"]:
                yield logical_id, statement
        elif resource["Type"] == "AWS::IAM::Role":
            for policy in props.get("Policies", []):
                for statement in policy["PolicyDocument"]["Statement"]:
                    yield logical_id, statement


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def test_roles_use_no_managed_policies(synth):
    for logical_id, role in synth.of_type("AWS::IAM::Role").items():
        assert not role["Properties"].get("ManagedPolicyArns"), logical_id


def test_no_wildcard_actions(synth):
    statements = list(_identity_statements(synth.resources))
    assert statements
    for logical_id, statement in statements:
        assert "NotAction" not in statement and "NotResource" not in statement, logical_id
        for action in _as_list(statement["Action"]):
            assert action != "*", logical_id
            _, _, name = action.partition(":")
            assert name and "*" not in name, f"{logical_id}: {action} is a wildcard action"


def test_star_resources_only_where_nothing_narrower_exists(synth):
    star_actions: set[str] = set()
    for logical_id, statement in _identity_statements(synth.resources):
        if "*" not in _as_list(statement["Resource"]):
            continue
        for action in _as_list(statement["Action"]):
            assert action in STAR_RESOURCE_ALLOWED, f'{logical_id}: {action} on Resource "*"'
            star_actions.add(action)
        if "cloudwatch:PutMetricData" in _as_list(statement["Action"]):
            namespaces = {"/aws/sagemaker/TrainingJobs", "/aws/sagemaker/Endpoints"}  # each role its own
            assert statement["Condition"]["StringEquals"]["cloudwatch:namespace"] in namespaces, statement
    assert "xray:PutTraceSegments" in star_actions  # the audit really saw the policies


def test_s3_object_access_is_by_prefix(synth):
    """No principal gets `bucket/*`: object ARNs always name a data-lake prefix."""
    for logical_id, statement in _identity_statements(synth.resources):
        for resource in _as_list(statement["Resource"]):
            text = json.dumps(resource)
            if any(a.startswith("s3:") for a in _as_list(statement["Action"])) and '"/*"' in text:
                raise AssertionError(f"{logical_id}: whole-bucket object access {text}")


def test_list_bucket_is_restricted_by_prefix_except_for_firehose(synth):
    for logical_id, statement in _identity_statements(synth.resources):
        if "s3:ListBucket" not in _as_list(statement["Action"]):
            continue
        if "Delivery" in logical_id:  # Firehose lists its own bucket; it is not given any read of other prefixes
            continue
        assert "s3:prefix" in json.dumps(statement.get("Condition", {})), logical_id
