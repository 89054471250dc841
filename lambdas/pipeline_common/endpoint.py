"""Reading the SageMaker endpoint the pipeline owns: deploy watches a rollout on it, reconcile asks what it serves."""

from __future__ import annotations

from typing import Any

from pipeline_common.aws import client, unless_missing


def describe_endpoint(name: str) -> dict[str, Any] | None:
    """DescribeEndpoint's answer, or None when the endpoint does not exist (yet, or any more)."""
    description: dict[str, Any] | None = unless_missing(
        lambda: client("sagemaker").describe_endpoint(EndpointName=name)
    )
    return description
