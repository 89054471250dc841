"""Helpers shared by the simulator tests (a unique module name: several test folders have a conftest.py)."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

from local.aws import client
from local.ports import free_port

REPO_ROOT = Path(__file__).resolve().parents[2]
BUCKET = "sim-test-bucket"
REWARDS_STREAM = "bandit-demo-rewards"
DECISIONS_STREAM = "bandit-demo-decisions"


def _wait_for_ping(url: str, process: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"serve exited with {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=1.0) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("serve did not answer /ping in time")


class ServeProcess:
    """`python -m container serve` on a free port, uniform-random policy, decisions logged to a file."""

    def __init__(self, root: Path, environ: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.decisions_path = root / "decisions.jsonl"
        env = {
            **os.environ,
            "SM_ML_ROOT": str(root / "ml"),
            "SAGEMAKER_BIND_TO_PORT": str(self.port),
            "SERVE_WORKERS": "1",
            "SERVE_SEED": "3",
            "DECISIONS_LOG_PATH": str(self.decisions_path),
            "EXPERIMENT_ID": "sim-test",
            "PYTHONPATH": str(REPO_ROOT),
            **(environ or {}),
        }
        env.pop("DECISIONS_STREAM", None)
        self.log = (root / "serve.log").open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "container", "serve"], cwd=REPO_ROOT, env=env, stdout=self.log, stderr=self.log
        )
        _wait_for_ping(f"{self.url}/ping", self.process)

    @property
    def invocations_url(self) -> str:
        return f"{self.url}/invocations"

    def logged_decisions(self) -> list[dict[str, Any]]:
        if not self.decisions_path.exists():
            return []
        return [json.loads(line) for line in self.decisions_path.read_text().splitlines() if line.strip()]

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.close()


def s3_lines(s3: Any, bucket: str, prefix: str) -> list[dict[str, Any]]:
    """Every JSON line under `prefix`."""
    lines: list[dict[str, Any]] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            body = s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read().decode()
            lines.extend(json.loads(line) for line in body.splitlines() if line.strip())
    return lines


def delivery_streams(gateway: Any, bucket: str, streams: dict[str, str]) -> None:
    """A fresh bucket and the streams (name -> prefix) into it, delimited like the stack's (infra/data_lake.py)."""
    client("s3", endpoint_url=gateway.url).create_bucket(Bucket=bucket)
    firehose = client("firehose", endpoint_url=gateway.url)
    for stream, prefix in streams.items():
        with contextlib.suppress(firehose.exceptions.ResourceNotFoundException):
            firehose.delete_delivery_stream(DeliveryStreamName=stream)
        firehose.create_delivery_stream(
            DeliveryStreamName=stream,
            DeliveryStreamType="DirectPut",
            ExtendedS3DestinationConfiguration={
                "RoleARN": "arn:aws:iam::123456789012:role/firehose",
                "BucketARN": f"arn:aws:s3:::{bucket}",
                "Prefix": prefix,
                "ProcessingConfiguration": {"Enabled": True, "Processors": [{"Type": "AppendDelimiterToRecord"}]},
            },
        )
