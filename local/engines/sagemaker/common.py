"""What every part of the local SageMaker engine shares: names (ARNs, account, region), request checks, paging,
the gateway's AWS clients, and the exceptions that carry SageMaker's failure texts between the parts."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from local.aws import client as aws_client
from local.errors import AwsError

REPO_ROOT = Path(__file__).resolve().parents[3]
REGION = os.environ.get("AWS_DEFAULT_REGION", "us-east-1")
ACCOUNT = "123456789012"

Params = dict[str, Any]
"""A SageMaker request or response as the JSON protocol carries it."""


def now() -> float:
    return time.time()


def arn(kind: str, name: str) -> str:
    return f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:{kind}/{name.lower()}"


def split_s3(uri: str) -> tuple[str, str]:
    parsed = urlparse(uri)
    if parsed.scheme != "s3" or not parsed.netloc:
        raise AwsError("ValidationException", f"not an S3 URI: {uri}")
    return parsed.netloc, parsed.path.lstrip("/")


def require(params: Params, name: str) -> Any:
    """A required request member, or SageMaker's "Value null ... Member must not be null" ValidationException."""
    value = params.get(name)
    if value in (None, "", [], {}):
        raise AwsError(
            "ValidationException",
            f"1 validation error detected: Value null at '{name}' failed to satisfy constraint: "
            "Member must not be null",
        )
    return value


def page(items: list[Any], params: Params, key: str) -> Params:
    """One page of a List* answer: `MaxResults` (default 10) from the offset in `NextToken`."""
    offset = int(params.get("NextToken") or 0)
    limit = int(params.get("MaxResults") or 10)
    answer: Params = {key: items[offset : offset + limit]}
    if offset + limit < len(items):
        answer["NextToken"] = str(offset + limit)
    return answer


class Clients:
    """boto3 clients for the gateway, made once per service: S3 for channels, artifacts and models, CloudWatch for
    the auto-rollback alarms."""

    def __init__(self, endpoint_url: str) -> None:
        self.endpoint_url = endpoint_url
        self._clients: dict[str, Any] = {}
        self._lock = threading.Lock()

    def get(self, service: str) -> Any:
        with self._lock:
            if service not in self._clients:
                self._clients[service] = aws_client(service, self.endpoint_url)
            return self._clients[service]

    def download(self, uri: str, target: Path) -> int:
        """An S3 prefix or object into `target` (relative paths below the prefix kept); the number of files."""
        bucket, prefix = split_s3(uri)
        s3 = self.get("s3")
        target.mkdir(parents=True, exist_ok=True)
        count = 0
        for listing in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for obj in listing.get("Contents", []):
                key = obj["Key"]
                if key.endswith("/"):
                    continue
                relative = key[len(prefix) :].lstrip("/") if key != prefix else key.rsplit("/", 1)[-1]
                path = target / (relative or key.rsplit("/", 1)[-1])
                path.parent.mkdir(parents=True, exist_ok=True)
                s3.download_file(bucket, key, str(path))
                count += 1
        return count


class JobFailed(Exception):
    """A training job failure with SageMaker's FailureReason text."""


class Rollback(Exception):
    """Why a blue/green update is rolled back (the endpoint's FailureReason)."""
