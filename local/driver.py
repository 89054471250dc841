"""Drive a local runtime from outside, as an operator or a client on AWS would: through its APIs only.

`DetachedRuntime(state_dir, settings).start()` runs `python -m local up --detach` on a free port and `stop()` runs
`python -m local down`; in between it hands out boto3 clients against it, waits for executions, reads their history,
switches the runtime's faults (`/_local/faults`) and reads its counters. The benchmarks and the end-to-end and
reliability tests use it; the demo (which runs the runtime in its own process) shares the execution helpers.
"""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from local.gateway import DEFAULT_HOST
from local.ports import free_port

REPO = Path(__file__).resolve().parents[1]
TERMINAL = ("SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED")
FAST_SETTINGS: dict[str, Any] = {
    "reward_wait_seconds": 1,
    "min_training_rows": 30,
    "poll_seconds": 1,
    "canary_wait_seconds": 2,
    "termination_wait_seconds": 1,
}
"""What makes a local loop quick (the policy and gate settings stay `cdk.json`'s); callers add their threshold."""


def timestamp(value: Any) -> float:
    """Epoch seconds of a boto3 datetime (or a number already)."""
    return value.timestamp() if isinstance(value, datetime) else float(value)


def wait_execution(sfn: Any, arn: str, timeout: float = 240.0, poll: float = 0.3) -> dict[str, Any]:
    """DescribeExecution until the execution ends or `timeout` passes (then its last description)."""
    deadline = time.monotonic() + timeout
    while True:
        described: dict[str, Any] = sfn.describe_execution(executionArn=arn)
        if described["status"] in TERMINAL or time.monotonic() > deadline:
            return described
        time.sleep(poll)


def list_executions(sfn: Any, machine: str) -> list[dict[str, Any]]:
    """Every execution of a state machine, oldest first."""
    found: list[dict[str, Any]] = []
    for page in sfn.get_paginator("list_executions").paginate(stateMachineArn=machine):
        found.extend(page["executions"])
    return sorted(found, key=lambda e: timestamp(e["startDate"]))


def execution_history(sfn: Any, arn: str) -> list[dict[str, Any]]:
    """Every event of an execution's history, in order."""
    events: list[dict[str, Any]] = []
    for page in sfn.get_paginator("get_execution_history").paginate(executionArn=arn):
        events.extend(page["events"])
    return events


def entered_states(events: Sequence[dict[str, Any]]) -> list[str]:
    """The states an execution entered, in order (a state entered twice is listed twice)."""
    return [e["stateEnteredEventDetails"]["name"] for e in events if "stateEnteredEventDetails" in e]


def wait_exit(pid: int, timeout: float) -> bool:
    """Until process `pid` is gone (True) or `timeout` passes (False)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.2)
    return False


class DetachedRuntime:
    """A runtime started with `python -m local up --detach` on a free port and stopped with `python -m local down`."""

    def __init__(self, state_dir: Path, settings: dict[str, Any], port: int | None = None) -> None:
        self.state_dir = Path(state_dir)
        self.settings = dict(settings)
        self.port = port or free_port()
        self.url = ""
        self.outputs: dict[str, str] = {}
        self.up_seconds = 0.0
        self._clients: dict[str, Any] = {}

    # Life cycle ------------------------------------------------------------------------------------------------

    def start(self, timeout: float = 300.0) -> DetachedRuntime:
        started = time.monotonic()
        argv = [sys.executable, "-m", "local", "up", "--detach", "--host", DEFAULT_HOST, "--port", str(self.port)]
        argv += ["--state-dir", str(self.state_dir), "--settings", json.dumps(self.settings)]
        argv += ["--timeout", str(int(timeout))]
        proc = subprocess.run(argv, cwd=REPO, capture_output=True, text=True, timeout=timeout + 60)
        if proc.returncode != 0:
            raise RuntimeError(
                f"local up failed ({proc.returncode}): {proc.stdout[-2000:]}{proc.stderr[-2000:]}{self.log_tail()}"
            )
        info = json.loads((self.state_dir / "endpoint.json").read_text())
        self.url, self.outputs = info["url"], info["outputs"]
        self.up_seconds = time.monotonic() - started
        return self

    def stop(self) -> None:
        subprocess.run(
            [sys.executable, "-m", "local", "down", "--state-dir", str(self.state_dir)],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=120,
        )

    def __enter__(self) -> DetachedRuntime:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def log_tail(self, chars: int = 3000) -> str:
        log = self.state_dir / "gateway.log"
        return log.read_text(errors="replace")[-chars:] if log.is_file() else ""

    def lambda_logs(self, chars: int = 1500) -> str:
        """The tail of each Lambda function's log (for a failure message)."""
        logs = self.state_dir / "logs" / "lambda"
        return "".join(f"\n--- {p.name}\n{p.read_text()[-chars:]}" for p in sorted(logs.glob("*.log")))

    # Clients ---------------------------------------------------------------------------------------------------

    def client(self, service: str) -> Any:
        """A shared boto3 client (thread-safe for calls); `new_client` for one per thread."""
        if service not in self._clients:
            self._clients[service] = self.new_client(service)
        return self._clients[service]

    def new_client(self, service: str, attempts: int = 3) -> Any:
        import boto3
        from botocore.config import Config

        from local.aws import local_environment

        env = local_environment(self.url)
        return boto3.client(
            service,
            endpoint_url=self.url,
            region_name=env["AWS_DEFAULT_REGION"],
            aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
            config=Config(
                retries={"max_attempts": attempts, "mode": "standard"},
                connect_timeout=5,
                read_timeout=120,
                max_pool_connections=20,
            ),
        )

    def environment(self) -> dict[str, str]:
        """The variables that point boto3 and the AWS CLI at this runtime."""
        from local.aws import local_environment

        return local_environment(self.url)

    @property
    def experiment_id(self) -> str:
        return self.outputs["EndpointName"].removesuffix("-policy")

    # The runtime's own API: faults and counters ---------------------------------------------------------------

    def local(self, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(f"{self.url}{path}", data=data, method="POST" if data else "GET")
        with urllib.request.urlopen(request, timeout=10) as answer:
            result: dict[str, Any] = json.loads(answer.read())
            return result

    def set_faults(self, config: dict[str, Any]) -> dict[str, Any]:
        """Replace the runtime's fault configuration (`{}` switches every fault off); answers the counts."""
        return self.local("/_local/faults", config)

    def faults(self) -> dict[str, Any]:
        return self.local("/_local/faults")

    def status(self) -> dict[str, Any]:
        return self.local("/_local/status")

    def processes(self) -> list[dict[str, Any]]:
        """The endpoint's serving processes (fleet, pid, port, running, invocations)."""
        variants: list[dict[str, Any]] = self.local(f"/_local/endpoints/{self.outputs['EndpointName']}")["variants"]
        return variants

    # Tables and the endpoint -----------------------------------------------------------------------------------

    def item(self, table_output: str, key: dict[str, str]) -> dict[str, Any]:
        from boto3.dynamodb.types import TypeDeserializer

        raw = self.client("dynamodb").get_item(
            TableName=self.outputs[table_output], Key={k: {"S": v} for k, v in key.items()}, ConsistentRead=True
        )
        return {k: TypeDeserializer().deserialize(v) for k, v in raw.get("Item", {}).items()}

    def counter(self) -> int:
        return int(self.item("StateTableName", {"pk": f"{self.experiment_id}#counter"}).get("count", 0))

    def lock(self) -> dict[str, Any]:
        return self.item("StateTableName", {"pk": f"{self.experiment_id}#lock"})

    def experiment(self) -> dict[str, Any]:
        return self.item("ExperimentsTableName", {"experiment_id": self.experiment_id})

    def endpoint(self) -> dict[str, Any]:
        sagemaker = self.client("sagemaker")
        described: dict[str, Any] = sagemaker.describe_endpoint(EndpointName=self.outputs["EndpointName"])
        return described

    def endpoint_configs(self) -> int:
        return len(self.client("sagemaker").list_endpoint_configs(MaxResults=100)["EndpointConfigs"])

    # Executions ------------------------------------------------------------------------------------------------

    def start_execution(self, name: str, payload: dict[str, Any]) -> str:
        """StartExecution on the pipeline's state machine; its ARN."""
        started = self.client("stepfunctions").start_execution(
            stateMachineArn=self.outputs["StateMachineArn"], name=name, input=json.dumps(payload)
        )
        return str(started["executionArn"])

    def executions(self) -> list[dict[str, Any]]:
        return list_executions(self.client("stepfunctions"), self.outputs["StateMachineArn"])

    def wait_execution(self, arn: str, timeout: float = 240.0) -> dict[str, Any]:
        return wait_execution(self.client("stepfunctions"), arn, timeout)

    def history(self, arn: str) -> list[dict[str, Any]]:
        return execution_history(self.client("stepfunctions"), arn)

    def new_execution(self, known: set[str], timeout: float = 60.0) -> dict[str, Any] | None:
        """The first execution whose name is not in `known` (polled), or None after `timeout`."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            fresh = [e for e in self.executions() if e["name"] not in known]
            if fresh:
                return fresh[0]
            time.sleep(0.3)
        return None

    def explain(self, arn: str) -> str:
        """An execution's history as text and the Lambda logs: what an assertion shows when a run went wrong."""
        from local.history import render_history

        return render_history(self.client("stepfunctions"), arn) + self.lambda_logs()

    # Firehose and S3 -------------------------------------------------------------------------------------------

    def put_lines(self, stream_output: str, lines: Sequence[bytes]) -> None:
        """PutRecordBatch (500 a call), resending refused records (the producer's side of at-least-once)."""
        firehose = self.client("firehose")
        for start in range(0, len(lines), 500):
            pending = list(lines[start : start + 500])
            for _ in range(10):
                answer = firehose.put_record_batch(
                    DeliveryStreamName=self.outputs[stream_output], Records=[{"Data": line} for line in pending]
                )
                if not answer.get("FailedPutCount"):
                    break
                pending = [p for p, r in zip(pending, answer["RequestResponses"], strict=True) if r.get("ErrorCode")]
                time.sleep(0.2)

    def wait_delivered(self, before: int, count: int, timeout: float = 30.0) -> bool:
        """Until Firehose delivered `count` more records than `before` (the gateway's counter)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.status()["firehose_records"] >= before + count:
                return True
            time.sleep(0.2)
        return False

    def s3_lines(self, prefix: str) -> list[bytes]:
        """Every non-blank line of every object under `prefix` in the pipeline's bucket (gzip inflated)."""
        s3, bucket = self.client("s3"), self.outputs["BucketName"]
        lines: list[bytes] = []
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for obj in page.get("Contents", []):
                body = s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read()
                if body[:2] == b"\x1f\x8b":
                    body = gzip.decompress(body)
                lines.extend(line for line in body.splitlines() if line.strip())
        return lines


__all__ = [
    "FAST_SETTINGS",
    "TERMINAL",
    "DetachedRuntime",
    "entered_states",
    "execution_history",
    "free_port",
    "list_executions",
    "timestamp",
    "wait_execution",
    "wait_exit",
]
