"""The stack's log groups: each with the settings' retention, deleted with the stack, writable by its one writer."""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from constructs import Construct


def log_group(
    scope: Construct,
    construct_id: str,
    *,
    retention: logs.RetentionDays,
    writer: iam.IGrantable | None = None,
    name: str | None = None,
) -> logs.LogGroup:
    """A log group the stack owns (its logs go with it; the data lake and the registry are what is retained)."""
    group = logs.LogGroup(
        scope, construct_id, log_group_name=name, retention=retention, removal_policy=RemovalPolicy.DESTROY
    )
    if writer is not None:
        group.grant_write(writer)
    return group
