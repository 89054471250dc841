"""Shared test helpers: synthetic logged classification data, SageMaker layouts and an in-thread server."""

from __future__ import annotations

import http.client
import json
import os
import random
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from container.serving.app import DecisionApp
from container.serving.serve import bound_socket
from container.serving.server import IDLE_TIMEOUT_SECONDS, AsyncHandler, Handler, Server, run
from contract.records import decision_record
from local.ports import free_port

ACTIONS = ["a", "b", "c"]
REWARD_TIME = "2026-11-23T00:01:00.000Z"


def true_class(x: list[float]) -> str:
    """A rule no single action matches well: x0 decides a vs the rest, x1 splits b and c (non-monotone in x2)."""
    if x[0] > 0.6:
        return "a"
    if x[1] > 0.5 or abs(x[2] - 0.5) < 0.1:
        return "b"
    return "c"


def contexts(n: int, seed: int = 1) -> list[list[float]]:
    rng = random.Random(seed)
    return [[round(rng.random(), 4) for _ in range(4)] for _ in range(n)]


def joined_row(
    event_id: str, x: list[float], index: int, probabilities: list[float], reward: float, *, model_id: str
) -> dict[str, Any]:
    """One joined row as the join writes it: the decision record (built by the contract) with its reward."""
    decision = decision_record(
        event_id=event_id,
        event_time="2026-11-23T00:00:00.000Z",
        experiment_id="test",
        model_id=model_id,
        context={f"x{j}": v for j, v in enumerate(x)},
        actions=[{"id": a, "features": {}} for a in ACTIONS],
        action=ACTIONS[index],
        action_index=index,
        action_prob=probabilities[index],
        probabilities=probabilities,
    )
    return {**decision, "reward": reward, "reward_time": REWARD_TIME}


def logged_rows(n: int, seed: int = 1, prefix: str = "e") -> list[dict[str, Any]]:
    """Joined rows as the join writes them: uniform-random logging policy, reward 1 for the right class."""
    rng = random.Random(seed + 1000)
    rows = []
    for i, x in enumerate(contexts(n, seed)):
        index = rng.randrange(len(ACTIONS))
        action = ACTIONS[index]
        reward = 1.0 if action == true_class(x) else 0.0
        probabilities = [1 / len(ACTIONS)] * len(ACTIONS)
        rows.append(joined_row(f"{prefix}-{seed}-{i}", x, index, probabilities, reward, model_id="uniform-random"))
    return rows


def served_by(rows: list[dict[str, Any]], model_id: str, drop_at: int) -> list[dict[str, Any]]:
    """`rows` as one serving model logged them, one a second: every reward 1 before `drop_at` and 0 from it on."""
    for i, row in enumerate(rows):
        row["model_id"] = model_id
        row["event_time"] = f"2026-11-23T01:{i // 60:02d}:{i % 60:02d}.000Z"
        row["reward"] = 1.0 if i < drop_at else 0.0
    return rows


def make_layout(root: Path, rows: list[dict[str, Any]] | None, hyperparameters: dict[str, str]) -> Path:
    (root / "input" / "config").mkdir(parents=True, exist_ok=True)
    (root / "input" / "config" / "hyperparameters.json").write_text(json.dumps(hyperparameters))
    training = root / "input" / "data" / "training"
    training.mkdir(parents=True, exist_ok=True)
    if rows is not None:
        (training / "part-0.json").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return root


def firehose_to_s3(endpoint: str, bucket: str, stream: str) -> Any:
    """A bucket and a delivery stream into it under `decisions/`, delimited like the stack's (moto's server ignores
    the processor; the local gateway applies it); returns the S3 client."""
    import boto3

    fake = {"region_name": "us-east-1", "aws_access_key_id": "test", "aws_secret_access_key": "test"}
    s3 = boto3.client("s3", endpoint_url=endpoint, **fake)
    s3.create_bucket(Bucket=bucket)
    boto3.client("firehose", endpoint_url=endpoint, **fake).create_delivery_stream(
        DeliveryStreamName=stream,
        ExtendedS3DestinationConfiguration={
            "RoleARN": "arn:aws:iam::123456789012:role/firehose",
            "BucketARN": f"arn:aws:s3:::{bucket}",
            "Prefix": "decisions/",
            "ProcessingConfiguration": {"Enabled": True, "Processors": [{"Type": "AppendDelimiterToRecord"}]},
        },
    )
    return s3


@contextmanager
def serving(
    handler: Handler | AsyncHandler, idle_timeout: float = IDLE_TIMEOUT_SECONDS
) -> Iterator[tuple[Server, int]]:
    """Serve `handler` with the production server on a free port in a thread; yields the server and its port."""
    sock = bound_socket("127.0.0.1", 0)
    server = Server(handler, sock, idle_timeout)
    thread = threading.Thread(target=run, args=(server, False), daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.running and time.monotonic() < deadline:
        time.sleep(0.01)
    try:
        yield server, sock.getsockname()[1]
    finally:
        server.request_stop()
        thread.join(10)
        assert not thread.is_alive(), "the server did not stop"


@contextmanager
def running(app: DecisionApp) -> Iterator[int]:
    """Serve `app` with the production server on a free port in a thread; yields the port."""
    with serving(app.http_handler) as (_, port):
        yield port


def call(port: int, method: str, path: str, body: bytes | None = None) -> tuple[int, Any]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request(method, path, body=body, headers={"Content-Type": "application/json"})
        response = connection.getresponse()
        data = response.read()
        return response.status, json.loads(data) if data else None
    finally:
        connection.close()


REPO_ROOT = Path(__file__).resolve().parents[2]


def serve_environment(root: Path, port: int, extra: dict[str, str], workers: int = 2) -> dict[str, str]:
    """`python -m container serve`'s environment as SageMaker sets it, the model under `root`, plus `extra`."""
    return {
        **os.environ,
        "SM_ML_ROOT": str(root),
        "SAGEMAKER_BIND_TO_PORT": str(port),
        "SERVE_WORKERS": str(workers),
        "PYTHONPATH": str(REPO_ROOT),
        **extra,
    }


def start_serve(root: Path, extra: dict[str, str], workers: int = 2) -> tuple[subprocess.Popen[str], int]:
    """`serve` as SageMaker runs it (a subprocess), ready to answer; returns the process and its port."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "container", "serve"],
        cwd=REPO_ROOT,
        env=serve_environment(root, port, extra, workers),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(process.stdout.read() if process.stdout else "serve exited")
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            connection.request("GET", "/ping")
            if connection.getresponse().status == 200:
                return process, port
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise AssertionError("serve did not become ready")
