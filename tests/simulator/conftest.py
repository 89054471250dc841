"""Fixtures for the simulator: a real `serve` subprocess, moto's Firehose into S3, small classification files."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws
from sim_fixtures import BUCKET, DECISIONS_STREAM, REWARDS_STREAM, ServeProcess


@pytest.fixture(scope="session")
def serve(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeProcess]:
    process = ServeProcess(tmp_path_factory.mktemp("serve"))
    yield process
    process.stop()


@pytest.fixture
def aws() -> Iterator[dict[str, Any]]:
    """moto: a bucket and the two Firehose streams delivering into its Firehose layout."""
    with mock_aws():
        region = "us-east-1"
        s3 = boto3.client("s3", region_name=region)
        s3.create_bucket(Bucket=BUCKET)
        firehose = boto3.client("firehose", region_name=region)
        for stream, prefix in ((REWARDS_STREAM, "rewards/"), (DECISIONS_STREAM, "decisions/")):
            firehose.create_delivery_stream(
                DeliveryStreamName=stream,
                DeliveryStreamType="DirectPut",
                ExtendedS3DestinationConfiguration={
                    "RoleARN": "arn:aws:iam::123456789012:role/firehose",
                    "BucketARN": f"arn:aws:s3:::{BUCKET}",
                    "Prefix": prefix,
                },
            )
        yield {"s3": s3, "firehose": firehose, "bucket": BUCKET}


@pytest.fixture
def classification_files(tmp_path: Path) -> dict[str, Path]:
    """The same 60 rows (3 classes, label depends on x0) comma- and space-separated."""
    rows = []
    for i in range(60):
        x0, x1 = i % 3, (i * 7) % 11
        rows.append((x0, x1, 0.5 * i, x0 + 1))
    comma = tmp_path / "data.csv"
    comma.write_text("\n".join(",".join(str(v) for v in row) for row in rows) + "\n")
    space = tmp_path / "data.txt"
    space.write_text("# a comment\n" + "\n".join("  ".join(str(v) for v in row) for row in rows) + "\n\n")
    return {"comma": comma, "space": space}
