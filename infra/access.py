"""Least-privilege IAM building blocks shared by the constructs.

CDK's `bucket.grant_read`/`grant_write` give `s3:GetObject*`, `s3:List*` and friends on the whole bucket; the
pipeline's principals each touch a few prefixes, so the statements here name exact actions on exact prefixes.
"""

from __future__ import annotations

from collections.abc import Iterable

from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3


def object_arns(bucket: s3.IBucket, prefixes: Iterable[str]) -> list[str]:
    """ARNs of the objects under each prefix (`decisions/` -> `arn:...:bucket/decisions/*`)."""
    return [bucket.arn_for_objects(f"{prefix}*") for prefix in prefixes]


def read_prefixes(principal: iam.IGrantable, bucket: s3.IBucket, prefixes: Iterable[str]) -> None:
    """Get objects under `prefixes` and list only those prefixes (SageMaker/Athena list before they read)."""
    prefixes = list(prefixes)
    principal.grant_principal.add_to_principal_policy(
        iam.PolicyStatement(actions=["s3:GetObject"], resources=object_arns(bucket, prefixes))
    )
    list_prefixes(principal, bucket, prefixes)


def list_prefixes(principal: iam.IGrantable, bucket: s3.IBucket, prefixes: Iterable[str]) -> None:
    """`s3:ListBucket` restricted by the `s3:prefix` condition, plus `s3:GetBucketLocation`."""
    principal.grant_principal.add_to_principal_policy(
        iam.PolicyStatement(
            actions=["s3:ListBucket"],
            resources=[bucket.bucket_arn],
            conditions={"StringLike": {"s3:prefix": [f"{prefix}*" for prefix in prefixes]}},
        )
    )
    principal.grant_principal.add_to_principal_policy(
        iam.PolicyStatement(actions=["s3:GetBucketLocation"], resources=[bucket.bucket_arn])
    )


def write_prefixes(principal: iam.IGrantable, bucket: s3.IBucket, prefixes: Iterable[str]) -> None:
    """Put objects under `prefixes` (multipart uploads included: SageMaker and Athena upload large outputs)."""
    principal.grant_principal.add_to_principal_policy(
        iam.PolicyStatement(
            actions=["s3:PutObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"],
            resources=object_arns(bucket, prefixes),
        )
    )


def table_items(principal: iam.IGrantable, table: dynamodb.ITable, actions: Iterable[str]) -> None:
    """Exactly these item actions (`GetItem`, `PutItem`, ...) on one table.

    `grant_read_write_data` would add Scan, Query, batch and stream reads no handler makes;
    tests/infra/test_least_privilege.py derives each function's list from its code and fails on extras.
    """
    table.grant(principal, *(f"dynamodb:{action}" for action in actions))
