"""boto3 clients pointed at the local gateway (or at AWS when `AWS_ENDPOINT_URL` is unset)."""

from __future__ import annotations

import os
from typing import Any

import boto3
from botocore.config import Config

DEFAULT_ENDPOINT = "http://127.0.0.1:4566"
DEFAULT_REGION = "us-east-1"


def local_environment(endpoint_url: str = DEFAULT_ENDPOINT) -> dict[str, str]:
    """The environment a shell, the AWS CLI or boto3 needs to talk to the local gateway."""
    return {
        "AWS_ENDPOINT_URL": endpoint_url,
        "AWS_DEFAULT_REGION": os.environ.get("AWS_DEFAULT_REGION", DEFAULT_REGION),
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",
    }


def client(service: str, endpoint_url: str | None = None, **kwargs: Any) -> Any:
    """A boto3 client for `service` against `endpoint_url` (default: `AWS_ENDPOINT_URL` or the gateway)."""
    url = endpoint_url or os.environ.get("AWS_ENDPOINT_URL") or DEFAULT_ENDPOINT
    env = local_environment(url)
    return boto3.client(
        service,
        endpoint_url=url,
        region_name=env["AWS_DEFAULT_REGION"],
        aws_access_key_id=os.environ.get("AWS_ACCESS_KEY_ID", env["AWS_ACCESS_KEY_ID"]),
        aws_secret_access_key=os.environ.get("AWS_SECRET_ACCESS_KEY", env["AWS_SECRET_ACCESS_KEY"]),
        config=Config(retries={"max_attempts": 3, "mode": "standard"}, connect_timeout=5, read_timeout=120),
        **kwargs,
    )
