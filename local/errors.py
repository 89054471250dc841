"""Errors the local gateway renders the way AWS does, so boto3 raises the same ClientError codes."""

from __future__ import annotations


class AwsError(Exception):
    """An AWS API error: `code` is the error code boto3 exposes, `status` the HTTP status."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status
