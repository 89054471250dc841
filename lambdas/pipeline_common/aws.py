"""boto3 clients, created once per execution environment (Lambda reuses them across invocations)."""

from __future__ import annotations

from functools import cache
from typing import Any

import boto3


@cache
def client(service: str) -> Any:
    """A boto3 client for `service` in the function's region."""
    return boto3.client(service)


@cache
def table(name: str) -> Any:
    """A DynamoDB Table resource."""
    return boto3.resource("dynamodb").Table(name)
