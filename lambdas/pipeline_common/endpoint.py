"""Reading the SageMaker endpoint the pipeline owns: deploy watches a rollout on it, reconcile asks what it serves."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from pipeline_common.aws import client, not_found


def describe_endpoint(name: str) -> dict[str, Any] | None:
    """DescribeEndpoint's answer, or None when the endpoint does not exist (yet, or any more)."""
    try:
        description: dict[str, Any] = client("sagemaker").describe_endpoint(EndpointName=name)
    except ClientError as error:
        if not_found(error):
            return None
        raise
    return description
