"""cdk-nag acknowledgments, each for one exact finding and with its reason.

cdk-nag 3 reports findings through CDK's policy-validation framework and takes acknowledgments through
`Validations.of(construct).acknowledge(...)`; an IAM5 finding is acknowledged by its full id
(`AwsSolutions-IAM5[Resource::<Logical.Arn>/prefix/*]`), so an acknowledgment never covers more than it names.
"""

from __future__ import annotations

from collections.abc import Iterable

from aws_cdk import Acknowledgment, CfnElement, Stack, Validations
from aws_cdk import aws_s3 as s3
from constructs import IConstruct


def acknowledge(construct: IConstruct, rule_id: str, reason: str) -> None:
    """Acknowledge one finding on `construct` (and the resources below it).

    The bare finding id is honoured both by the synth-time validation and by `AwsSolutionsChecks.validate_scope`
    (which the tests use); the `AwsSolutions::` form the report suggests is only honoured by the former.
    """
    Validations.of(construct).acknowledge(Acknowledgment(id=rule_id, reason=reason))


def logical_id(resource: IConstruct) -> str:
    """The template logical id of an L1 resource or of an L2's default child."""
    cfn = resource if isinstance(resource, CfnElement) else resource.node.default_child
    if not isinstance(cfn, CfnElement):
        raise TypeError(f"{resource.node.path} is not a template resource and has no default child that is one")
    stack = Stack.of(resource)
    return str(stack.resolve(stack.get_logical_id(cfn)))


def acknowledge_star(construct: IConstruct, reason: str) -> None:
    """`Resource: "*"` for actions that have no resource-level permissions."""
    acknowledge(construct, "AwsSolutions-IAM5[Resource::*]", reason)


def acknowledge_prefixes(construct: IConstruct, bucket: s3.IBucket, prefixes: Iterable[str], reason: str) -> None:
    """Object wildcards under named bucket prefixes: a prefix is the unit of access in the data lake."""
    bucket_id = logical_id(bucket)
    for prefix in prefixes:
        acknowledge(construct, f"AwsSolutions-IAM5[Resource::<{bucket_id}.Arn>/{prefix}*]", reason)


def acknowledge_resources(construct: IConstruct, resources: Iterable[str], reason: str) -> None:
    """Other wildcard resources, each named exactly as cdk-nag prints it."""
    for resource in resources:
        acknowledge(construct, f"AwsSolutions-IAM5[Resource::{resource}]", reason)
